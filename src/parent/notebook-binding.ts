/**
 * What a notebook's name holds, for the advice given when a target uses it (target-advice.ts).
 *
 * A function's source does not say what its free names hold, and the fix differs: data can be
 * passed as an argument, a function cannot (it fails as "args[0] is a function"), a module is
 * required where it is used. In the kernel two things say more, looked at only once the check has
 * failed: the cells' declarations (the kernel bridge's `declarations()`, tslab's declaration
 * output), which keep every cell's imports with their module; and tslab's one object holding every
 * cell's top-level values, `globalThis.__tslab__.exports`. In a script neither exists, and the
 * advice goes by how the source uses the name.
 */
import { isBuiltin } from "node:module";
import * as path from "node:path";
import { findKernelBridge } from "../protocol/kernel-bridge";
import { typescript } from "./typescript-compiler";

export type Binding =
  | { is: "function" | "class" }
  /** A module object (`import * as fs`, `import os from "os"`, `require("os")`); its specifier, when known. */
  | { is: "module"; specifier: string | undefined }
  /** A named import (`import { join } from "path"`; `imported` differs for `{ join as j }`). */
  | { is: "import"; specifier: string; imported: string }
  | { is: "data" };

/** The binding of `name` among the notebook's cells, or undefined outside the kernel or if no cell defined it. */
export function notebookBinding(name: string): Binding | undefined {
  const imported = importsOf(findKernelBridge()?.declarations?.()).get(name);
  if (imported) return imported;
  const cells = (globalThis as { __tslab__?: { exports?: object } }).__tslab__?.exports;
  if (typeof cells !== "object" || cells === null || !Object.hasOwn(cells, name)) return undefined;
  try {
    return bindingOf(name, (cells as Record<string, unknown>)[name]);
  } catch {
    // A getter that throws, or a Proxy that does: nothing can be said of it.
    return undefined;
  }
}

let parsed: { declarations: string; imports: Map<string, Binding> } | undefined;

/** The names the cells imported, from their declarations (`import * as fs from "node:fs";` and the like). */
function importsOf(declarations: string | undefined): Map<string, Binding> {
  if (!declarations) return new Map();
  if (parsed?.declarations === declarations) return parsed.imports;
  const t = typescript();
  const imports = new Map<string, Binding>();
  const file = t.createSourceFile("cells.d.ts", declarations, t.ScriptTarget.ES2022, false, t.ScriptKind.TS);
  for (const statement of file.statements) {
    if (t.isImportEqualsDeclaration(statement) && t.isExternalModuleReference(statement.moduleReference)) {
      const specifier = statement.moduleReference.expression;
      if (t.isStringLiteral(specifier)) imports.set(statement.name.text, { is: "module", specifier: specifier.text });
      continue;
    }
    if (!t.isImportDeclaration(statement) || !t.isStringLiteral(statement.moduleSpecifier)) continue;
    const clause = statement.importClause;
    if (!clause || clause.isTypeOnly) continue;
    const specifier = statement.moduleSpecifier.text;
    if (clause.name) imports.set(clause.name.text, { is: "module", specifier });
    const bindings = clause.namedBindings;
    if (bindings && t.isNamespaceImport(bindings)) imports.set(bindings.name.text, { is: "module", specifier });
    else if (bindings) {
      for (const element of bindings.elements) {
        if (!element.isTypeOnly) imports.set(element.name.text, { is: "import", specifier, imported: (element.propertyName ?? element.name).text });
      }
    }
  }
  parsed = { declarations, imports };
  return imports;
}

function bindingOf(name: string, value: unknown): Binding {
  if ((typeof value === "object" && value !== null) || typeof value === "function") {
    // A cell's `const fs = require("node:fs")`, or a module that is a function (express).
    const specifier = specifierOf(name, value) ?? specifierOf(name, namespaceOf(value));
    if (specifier || namespaceOf(value) !== undefined) return { is: "module", specifier };
  }
  if (typeof value === "function") return { is: /^class[\s{]/.test(Function.prototype.toString.call(value)) ? "class" : "function" };
  return { is: "data" };
}

/**
 * The module behind an `import * as x` object a kernel without declarations left: TypeScript's
 * `__importStar` copy holds the module as `default`, defined read-only; an ES module namespace is
 * tagged "Module".
 */
function namespaceOf(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return undefined;
  if (Object.prototype.toString.call(value) === "[object Module]") return value;
  const fallback = Object.getOwnPropertyDescriptor(value, "default");
  return fallback && "value" in fallback && !fallback.writable && !fallback.configurable ? fallback.value : undefined;
}

/** Built-ins that warn when loaded: a variable named so is not worth a warning in the cell. */
const WARNS_ON_LOAD = new Set(["sys", "wasi", "punycode"]);

/** The specifier of the module whose exports are `exports`: a built-in by the variable's name, or one loaded by require. */
function specifierOf(name: string, exports: unknown): string | undefined {
  if (exports === undefined) return undefined;
  if (isBuiltin(name) && !name.startsWith("_") && !WARNS_ON_LOAD.has(name)) {
    try {
      if (require(`node:${name}`) === exports) return `node:${name}`;
    } catch {
      // Not one that loads here.
    }
  }
  for (const loaded of Object.values(require.cache)) if (loaded && loaded.exports === exports) return specifierFor(loaded.filename);
  return undefined;
}

/** How the child's require (rooted at its working directory) names a file: by package, or by a path from here. */
function specifierFor(filename: string): string {
  const marker = `${path.sep}node_modules${path.sep}`;
  const at = filename.lastIndexOf(marker);
  if (at >= 0) {
    const parts = filename.slice(at + marker.length).split(path.sep);
    const name = parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
    try {
      if (require.resolve(name, { paths: [process.cwd()] }) === filename) return name;
    } catch {
      // Not resolvable from here by its name: the file's path below says where it is.
    }
    return `${name}/${parts.slice(name.split("/").length).join("/")}`;
  }
  const relative = path.relative(process.cwd(), filename).split(path.sep).join("/");
  return relative.startsWith("../") ? filename : `./${relative}`;
}

/** tslab's (TypeScript's) name for an imported module, `node_path_1`, back to a specifier: a guess. */
export function moduleGuess(compiled: string): string {
  const base = compiled.replace(/_\d+$/, "");
  return base.startsWith("node_") ? `node:${base.slice(5)}` : base;
}
