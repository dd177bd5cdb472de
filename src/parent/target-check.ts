/**
 * Before a function is sent to a child as source, find the names it uses that will not exist
 * there: in a notebook a function can see earlier cells' variables and the cell's imports, which
 * tslab compiles to `exports.K` and `(0, path_1.join)(...)`. In a child those throw ReferenceError
 * long after the cell ran; here they fail at once, naming the variable and the fix (the message is
 * target-advice.ts's: what each name is decides which fix works).
 *
 * The function is parsed with the TypeScript compiler (as JavaScript) and its free identifiers are
 * found by walking lexical scopes; names that are JavaScript or Node globals are allowed, as are
 * `require`, `__filename` and `__dirname`, which the child runtime provides.
 */
import type * as TS from "typescript";
import * as vm from "node:vm";
import { registerErrorClass } from "../protocol/errors";
import { freeNamesMessage, type TargetUse } from "./target-advice";
import { typescript } from "./typescript-compiler";

export type { TargetUse };

export class TargetError extends Error {
  override name = "TargetError";
  /** Names the function uses that would not exist in the child. */
  readonly names: string[];
  constructor(message: string, names: string[] = []) {
    super(message);
    this.names = names;
  }
}

/** Node's globals in a script (not the REPL's extra module names); JS builtins are added at runtime. */
const NODE_GLOBALS = [
  "AbortController", "AbortSignal", "Blob", "BroadcastChannel", "Buffer", "ByteLengthQueuingStrategy",
  "CompressionStream", "CountQueuingStrategy", "Crypto", "CryptoKey", "CustomEvent", "DOMException",
  "DecompressionStream", "Event", "EventTarget", "File", "FormData", "Headers", "MessageChannel", "MessageEvent",
  "MessagePort", "Performance", "PerformanceEntry", "PerformanceMark", "PerformanceMeasure", "PerformanceObserver",
  "PerformanceObserverEntryList", "PerformanceResourceTiming", "ReadableByteStreamController", "ReadableStream",
  "ReadableStreamBYOBReader", "ReadableStreamBYOBRequest", "ReadableStreamDefaultController",
  "ReadableStreamDefaultReader", "Request", "Response", "SubtleCrypto", "TextDecoder", "TextDecoderStream",
  "TextEncoder", "TextEncoderStream", "TransformStream", "TransformStreamDefaultController", "URL", "URLSearchParams",
  "WebSocket", "WritableStream", "WritableStreamDefaultController", "WritableStreamDefaultWriter", "atob", "btoa",
  "clearImmediate", "clearInterval", "clearTimeout", "console", "crypto", "fetch", "global", "navigator", "performance",
  "process", "queueMicrotask", "setImmediate", "setInterval", "setTimeout", "structuredClone",
  // Provided by the child runtime to a target's source:
  "require", "__filename", "__dirname",
  "undefined", "NaN", "Infinity", "globalThis",
];

let allowed: Set<string> | undefined;
function allowedNames(): Set<string> {
  allowed ??= new Set([...(vm.runInNewContext("Object.getOwnPropertyNames(globalThis)") as string[]), ...NODE_GLOBALS]);
  return allowed;
}

export interface FreeName {
  name: string;
  /** How it is used: `exports.K`, `path_1.join`, or the bare name. */
  usage: string;
  kind: "cell-variable" | "cell-import" | "outer";
  /**
   * How the function uses it, anywhere: called, constructed with `new`, or read a member of. What
   * the message can tell from the source alone, when nothing else says what the name holds.
   */
  called: boolean;
  constructed: boolean;
  member: boolean;
}

const cache = new Map<string, FreeName[]>();

function isFunctionLike(t: typeof TS, node: TS.Node): node is TS.FunctionLikeDeclaration {
  return (
    t.isFunctionDeclaration(node) || t.isFunctionExpression(node) || t.isArrowFunction(node) ||
    t.isMethodDeclaration(node) || t.isConstructorDeclaration(node) || t.isGetAccessorDeclaration(node) ||
    t.isSetAccessorDeclaration(node)
  );
}

function bindingNames(t: typeof TS, name: TS.BindingName, into: Set<string>): void {
  if (t.isIdentifier(name)) into.add(name.text);
  else for (const element of name.elements) if (!t.isOmittedExpression(element)) bindingNames(t, element.name, into);
}

/** Names declared by a scope node itself (not by the scopes nested in it). */
function declaredIn(t: typeof TS, scope: TS.Node): Set<string> {
  const names = new Set<string>();
  const lexical = (statements: readonly TS.Statement[]) => {
    for (const s of statements) {
      if (t.isVariableStatement(s) && s.declarationList.flags & (t.NodeFlags.Let | t.NodeFlags.Const)) {
        for (const d of s.declarationList.declarations) bindingNames(t, d.name, names);
      } else if ((t.isClassDeclaration(s) || t.isFunctionDeclaration(s)) && s.name) names.add(s.name.text);
    }
  };
  if (isFunctionLike(t, scope)) {
    for (const p of scope.parameters) bindingNames(t, p.name, names);
    if ((t.isFunctionExpression(scope) || t.isFunctionDeclaration(scope)) && scope.name) names.add(scope.name.text);
    if (!t.isArrowFunction(scope)) names.add("arguments");
    // `var` and function declarations anywhere in the body, not inside nested functions.
    const hoist = (node: TS.Node): void => {
      if (isFunctionLike(t, node) || t.isClassLike(node)) {
        if (t.isFunctionDeclaration(node) && node.name) names.add(node.name.text);
        return;
      }
      if (t.isVariableDeclarationList(node) && !(node.flags & (t.NodeFlags.Let | t.NodeFlags.Const))) {
        for (const d of node.declarations) bindingNames(t, d.name, names);
      }
      t.forEachChild(node, hoist);
    };
    if (scope.body) t.forEachChild(scope.body, hoist);
  } else if (t.isBlock(scope) || t.isSourceFile(scope)) lexical(scope.statements);
  else if (t.isCaseBlock(scope)) for (const clause of scope.clauses) lexical(clause.statements);
  else if (t.isForStatement(scope) || t.isForInStatement(scope) || t.isForOfStatement(scope)) {
    const init = scope.initializer;
    if (init && t.isVariableDeclarationList(init)) for (const d of init.declarations) bindingNames(t, d.name, names);
  } else if (t.isCatchClause(scope) && scope.variableDeclaration) bindingNames(t, scope.variableDeclaration.name, names);
  else if (t.isClassLike(scope) && scope.name) names.add(scope.name.text);
  return names;
}

/** Whether this identifier names a value being read or written (not a key, label or declaration). */
function isReference(t: typeof TS, id: TS.Identifier): boolean {
  const p = id.parent;
  if (t.isPropertyAccessExpression(p) && p.name === id) return false;
  if (t.isQualifiedName(p)) return false;
  if (
    (t.isPropertyAssignment(p) || t.isMethodDeclaration(p) || t.isPropertyDeclaration(p) ||
      t.isGetAccessorDeclaration(p) || t.isSetAccessorDeclaration(p) || t.isPropertySignature(p) ||
      t.isEnumMember(p)) && p.name === id
  ) return false;
  if (t.isBindingElement(p) && (p.propertyName === id || p.name === id)) return false;
  if ((t.isVariableDeclaration(p) || t.isParameter(p)) && p.name === id) return false;
  if ((t.isFunctionDeclaration(p) || t.isFunctionExpression(p) || t.isClassLike(p)) && p.name === id) return false;
  if ((t.isLabeledStatement(p) || t.isBreakStatement(p) || t.isContinueStatement(p)) && p.label === id) return false;
  if (t.isMetaProperty(p)) return false;
  // `typeof x` never throws for a missing x: code that checks is fine.
  if (t.isTypeOfExpression(p)) return false;
  return true;
}

/** Parse a function's source and list the names it uses that the child will not have. */
export function findFreeNames(source: string): FreeName[] {
  const cached = cache.get(source);
  if (cached) return cached;
  const t = typescript();
  let file = t.createSourceFile("target.js", `(${source}\n)`, t.ScriptTarget.ES2022, true, t.ScriptKind.JS);
  let root = rootFunction(t, file);
  if (!root) {
    file = t.createSourceFile("target.js", `({ ${source}\n})`, t.ScriptTarget.ES2022, true, t.ScriptKind.JS);
    root = rootFunction(t, file);
  }
  if (!root) throw new TargetError(`Could not read the target function's source: ${abbreviate(source)}`);
  const scopes = new Map<TS.Node, Set<string>>();
  const found = new Map<string, FreeName>();
  const allowedSet = allowedNames();
  const visit = (node: TS.Node): void => {
    if (t.isIdentifier(node) && isReference(t, node)) {
      const name = node.text;
      if (!resolves(node, name) && !(allowedSet.has(name) && name !== "exports" && name !== "module")) {
        record(node, name);
      }
    }
    t.forEachChild(node, visit);
  };
  const resolves = (node: TS.Node, name: string): boolean => {
    for (let n: TS.Node | undefined = node.parent; n; n = n.parent) {
      let names = scopes.get(n);
      if (!names) scopes.set(n, (names = declaredIn(t, n)));
      if (names.has(name)) return true;
      if (n === root) return false;
    }
    return false;
  };
  const record = (node: TS.Identifier, name: string) => {
    const p = node.parent;
    const member = t.isPropertyAccessExpression(p) && p.expression === node ? p.name.text : undefined;
    let entry: FreeName | undefined;
    const add = (key: string, usage: string, kind: FreeName["kind"]) => {
      entry = found.get(key);
      if (!entry) found.set(key, (entry = { name: key, usage, kind, called: false, constructed: false, member: false }));
    };
    if (name === "exports" && member) add(member, `exports.${member}`, "cell-variable");
    else if (/^[A-Za-z$][\w$]*_\d+$/.test(name)) {
      const key = member && member !== "default" ? member : name;
      add(key, member ? `${name}.${member}` : name, "cell-import");
    } else add(name, name, "outer");
    // The expression that stands for the name: `exports.K` for a cell variable, else the identifier.
    const ref: TS.Node = name === "exports" && member ? p : node;
    let up = ref.parent;
    while (t.isParenthesizedExpression(up)) up = up.parent;
    if (t.isCallExpression(up) && skipParens(t, up.expression) === ref) entry!.called = true;
    else if (t.isNewExpression(up) && skipParens(t, up.expression) === ref) entry!.constructed = true;
    else if ((t.isPropertyAccessExpression(up) || t.isElementAccessExpression(up)) && skipParens(t, up.expression) === ref) entry!.member = true;
  };
  visit(root);
  const result = [...found.values()];
  cache.set(source, result);
  return result;
}

function skipParens(t: typeof TS, node: TS.Expression): TS.Expression {
  while (t.isParenthesizedExpression(node)) node = node.expression;
  return node;
}

function rootFunction(t: typeof TS, file: TS.SourceFile): TS.FunctionLikeDeclaration | undefined {
  if ((file as unknown as { parseDiagnostics?: unknown[] }).parseDiagnostics?.length) return undefined;
  const statement = file.statements[0];
  if (!statement || file.statements.length !== 1 || !t.isExpressionStatement(statement)) return undefined;
  let expr: TS.Expression = statement.expression;
  while (t.isParenthesizedExpression(expr)) expr = expr.expression;
  if (t.isFunctionExpression(expr) || t.isArrowFunction(expr)) return expr;
  if (t.isObjectLiteralExpression(expr) && expr.properties.length === 1) {
    const m = expr.properties[0]!;
    if (t.isMethodDeclaration(m) || t.isGetAccessorDeclaration(m) || t.isSetAccessorDeclaration(m)) return m;
  }
  return undefined;
}

function abbreviate(source: string): string {
  const one = source.replace(/\s+/g, " ");
  return one.length > 80 ? one.slice(0, 77) + "..." : one;
}

/** Throw a TargetError if `fn` cannot run in a child by its source alone. */
export function checkFunctionTarget(fn: (...args: never[]) => unknown, use: TargetUse = "spawn"): string {
  const source = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
    throw new TargetError(
      `The target ${fn.name || "function"} is a built-in or bound function ("${abbreviate(source)}"); its source cannot ` +
        `be sent to a child. Wrap it: spawn((...args) => { /* call it here */ }), or use a module target`,
    );
  }
  if (/^class[\s{]/.test(source)) {
    throw new TargetError(`The target ${fn.name || "(anonymous)"} is a class; pass a function that creates and uses it instead`);
  }
  const free = findFreeNames(source);
  if (free.length) throw new TargetError(freeNamesMessage(fn.name, free, use), free.map((f) => f.name));
  return source;
}

// A child that starts its own children may throw this; it comes back to the parent as itself.
registerErrorClass(TargetError);
