/**
 * Values cross by structured clone (V8's serializer). This module finds *where* a value that cannot
 * cross sits, so the error can say `args[1].handler is a function` instead of V8's bare
 * "could not be cloned".
 */
import { types } from "node:util";
import { serialize } from "node:v8";

export interface Uncloneable {
  /** e.g. `args[1].handler`, `args[0].get("key")`, `args[2][...][3]` (4th item of a Set). */
  path: string;
  /** e.g. `a function`, `a symbol`, `a Promise`. */
  what: string;
  value: unknown;
}

/** Whether the value can cross as it is (V8's serializer accepts it). */
export function canClone(value: unknown): boolean {
  try {
    serialize(value);
    return true;
  } catch {
    return false;
  }
}

function describeKind(value: unknown, path = ""): string {
  if (typeof value === "function") {
    const name = (value as { name?: string }).name;
    return name && !path.endsWith(`.${name}`) ? `a function (${name})` : "a function";
  }
  if (typeof value === "symbol") return `a symbol (${String(value)})`;
  // Before anything that reads the value: a Proxy's traps would answer for it.
  if (types.isProxy(value)) return "a Proxy";
  if (types.isGeneratorObject(value)) return "a generator object";
  if (value instanceof Promise) return "a Promise";
  if (value instanceof WeakMap) return "a WeakMap";
  if (value instanceof WeakSet) return "a WeakSet";
  if (typeof WeakRef !== "undefined" && value instanceof WeakRef) return "a WeakRef";
  const ctor = (value as { constructor?: { name?: string } } | null)?.constructor?.name;
  return ctor ? `a ${ctor} object` : `a ${typeof value}`;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/** handles.ts's TO_HANDLE, by its registered name (that module imports this one). */
const TO_HANDLE = Symbol.for("forklab.toHandle");

/**
 * A queue, a pipe end or another handle: it crosses as a marker (handles.ts), so what makes it
 * fail a plain serialize (its guard property) is not the value to name.
 */
function crossesAsHandle(value: unknown): boolean {
  return typeof value === "object" && value !== null && !types.isProxy(value) && typeof (value as Record<symbol, unknown>)[TO_HANDLE] === "function";
}

/**
 * Return where the first value that cannot be cloned sits under `root`, or undefined if the whole
 * value can be cloned. Cheap when everything clones (one serialization).
 */
export function findUncloneable(value: unknown, root: string): Uncloneable | undefined {
  if (canClone(value)) return undefined;
  const seen = new Set<object>();
  /** What `search` says of a value that fails only for the handles in it (they cross as markers). */
  const HANDLES: unique symbol = Symbol("handles only");
  const search = (v: unknown, path: string): Uncloneable | typeof HANDLES | undefined => {
    if (typeof v === "function" || typeof v === "symbol") return { path, what: describeKind(v, path), value: v };
    if (typeof v !== "object" || v === null || seen.has(v)) return undefined;
    if (crossesAsHandle(v)) return HANDLES;
    seen.add(v);
    const children: [string, unknown][] = [];
    if (Array.isArray(v)) v.forEach((item, i) => children.push([`${path}[${i}]`, item]));
    else if (v instanceof Map) {
      let i = 0;
      for (const [k, item] of v) {
        const label = typeof k === "string" ? JSON.stringify(k) : typeof k === "number" ? String(k) : `<key ${i}>`;
        children.push([`${path}.keys()[${i}]`, k]);
        children.push([`${path}.get(${label})`, item]);
        i++;
      }
    } else if (v instanceof Set) [...v].forEach((item, i) => children.push([`[...${path}][${i}]`, item]));
    else
      for (const key of Object.keys(v))
        children.push([IDENT.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`, (v as Record<string, unknown>)[key]]);
    let handles = false;
    for (const [childPath, child] of children) {
      if (canClone(child)) continue;
      const found = search(child, childPath);
      if (found === HANDLES) handles = true;
      else return found ?? { path: childPath, what: describeKind(child, childPath), value: child };
    }
    return handles ? HANDLES : { path, what: describeKind(v, path), value: v };
  };
  const found = search(value, root);
  // Failing only for its handles, the value holds nothing that cannot be cloned: the failure was another.
  return found === HANDLES ? undefined : found;
}

/** The message for a value that cannot cross, in the form `args[1].handler is a function: ...`. */
export function uncloneableMessage(found: Uncloneable, where: string): string {
  return `${found.path} is ${found.what}: it cannot be sent ${where}; ${uncloneableHint(found.value)}`;
}

function uncloneableHint(value: unknown): string {
  if (typeof value === "function") return "functions cannot be sent to another process; pass data instead, or define the function inside the target";
  if (types.isProxy(value)) return "a Proxy's behaviour lives in its handler, which cannot cross; pass the plain object it wraps, or a copy of it ({ ...value })";
  if (types.isGeneratorObject(value)) {
    return "a generator's paused state cannot be copied to another process; pass its values instead ([...gen]), or create the generator in the target";
  }
  return (
    "only structured-clone values cross between processes (primitives, plain objects, arrays, Map, Set, Date, " +
    "RegExp, BigInt, ArrayBuffer and typed arrays, Error)"
  );
}

/**
 * A class instance would cross as a plain object: its own fields arrive, its methods do not, and
 * the target fails far away (`p.norm is not a function`). Python pickles an instance by a reference
 * to its class, importable in the child; a class defined in a cell is not, so forklab refuses it.
 */
export class ClassInstanceError extends TypeError {
  override name = "TypeError";
  readonly code = "ERR_FORKLAB_CLASS_INSTANCE";
  readonly path: string;
  readonly className: string;

  constructor(path: string, instance: object) {
    const ctor = classOf(instance);
    const className = ctor?.name || "(anonymous class)";
    const methods = methodNames(instance).slice(0, 4);
    const fields = Object.keys(instance).slice(0, 4);
    const plain = fields.length ? `{ ${fields.join(", ")} }` : "{ ... }";
    super(
      `${path} is an instance of class ${className}: it would reach the other process as a plain object, without ` +
        `its class and its methods (${methods.join(", ")}). Pass plain data instead (e.g. ${plain}) and rebuild the ` +
        `${className} in the target (new ${className}(...)), with the class defined inside the target or in a module it requires`,
    );
    this.path = path;
    this.className = className;
  }
}

function classOf(value: object): { name?: string } | undefined {
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
  return proto?.constructor;
}

/** Methods and accessors the prototype chain gives `value` (up to Object.prototype). */
function methodNames(value: object): string[] {
  const names: string[] = [];
  for (let proto = Object.getPrototypeOf(value); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) if (key !== "constructor" && !names.includes(key)) names.push(key);
  }
  return names;
}

const PLAIN_PROTOTYPES = new Set<unknown>([Object.prototype, Array.prototype, null]);

/** Whether `value` is an object whose class gives it behaviour that structured clone would drop. */
function losesBehaviour(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  if (PLAIN_PROTOTYPES.has(proto)) return false;
  // Built-ins that clone as themselves, and handles (they cross as markers).
  if (value instanceof Map || value instanceof Set || value instanceof Date || value instanceof RegExp || value instanceof Error) return false;
  if (ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value) || types.isBoxedPrimitive(value)) return false;
  if (typeof (value as Record<symbol, unknown>)[Symbol.for("forklab.toHandle")] === "function") return false;
  return methodNames(value).length > 0;
}

/**
 * How many values the class-instance check looks at per message. It runs on every message after
 * a successful serialize, so it must stay constant-cost: the values nearest the root, breadth
 * first (where a mistaken `spawn(fn, [new Point(1, 2)])` puts an instance), never a whole array.
 */
export const CLASS_CHECK_BUDGET = 256;

/**
 * The first class instance (see ClassInstanceError) among the first `budget` values under `value`,
 * breadth first; undefined if none is there. Never reads past the budget.
 */
export function findClassInstance(value: unknown, root: string, budget = CLASS_CHECK_BUDGET): { path: string; value: object } | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const queue: [object, string][] = [[value, root]];
  let steps = 0;
  const more = () => steps++ < budget;
  for (let head = 0; head < queue.length && more(); head++) {
    const [v, path] = queue[head]!;
    if (types.isProxy(v)) continue;
    if (losesBehaviour(v)) return { path, value: v };
    const add = (child: unknown, childPath: () => string) => {
      if (typeof child === "object" && child !== null) queue.push([child, childPath()]);
    };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length && more(); i++) add(v[i], () => `${path}[${i}]`);
    } else if (v instanceof Map) {
      for (const [k, item] of v) {
        if (!more()) break;
        add(item, () => `${path}.get(${typeof k === "string" ? JSON.stringify(k) : String(k)})`);
      }
    } else if (v instanceof Set) {
      let i = 0;
      for (const item of v) {
        if (!more()) break;
        const index = i++;
        add(item, () => `[...${path}][${index}]`);
      }
    } else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      for (const key in v) {
        if (!more()) break;
        // Data properties only: a getter already ran once for the serialize, and must not run twice.
        const descriptor = Object.getOwnPropertyDescriptor(v, key);
        if (descriptor && "value" in descriptor) add(descriptor.value, () => (IDENT.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`));
      }
    }
  }
  return undefined;
}
