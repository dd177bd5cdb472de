/**
 * Values cross by structured clone (V8's serializer). This module finds *where* a value that cannot
 * cross sits, so the error can say `args[1].handler is a function` instead of V8's bare
 * "could not be cloned".
 */
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
  if (value instanceof Promise) return "a Promise";
  if (value instanceof WeakMap) return "a WeakMap";
  if (value instanceof WeakSet) return "a WeakSet";
  if (typeof WeakRef !== "undefined" && value instanceof WeakRef) return "a WeakRef";
  const ctor = (value as { constructor?: { name?: string } } | null)?.constructor?.name;
  return ctor ? `a ${ctor} object` : `a ${typeof value}`;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/**
 * Return where the first value that cannot be cloned sits under `root`, or undefined if the whole
 * value can be cloned. Cheap when everything clones (one serialization).
 */
export function findUncloneable(value: unknown, root: string): Uncloneable | undefined {
  if (canClone(value)) return undefined;
  const seen = new Set<object>();
  const search = (v: unknown, path: string): Uncloneable | undefined => {
    if (typeof v === "function" || typeof v === "symbol") return { path, what: describeKind(v, path), value: v };
    if (typeof v !== "object" || v === null) return undefined;
    if (seen.has(v)) return undefined;
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
    for (const [childPath, child] of children) {
      if (canClone(child)) continue;
      return search(child, childPath) ?? { path: childPath, what: describeKind(child, childPath), value: child };
    }
    return { path, what: describeKind(v, path), value: v };
  };
  return search(value, root);
}

/** The message for a value that cannot cross, in the form `args[1].handler is a function: ...`. */
export function uncloneableMessage(found: Uncloneable, where: string): string {
  const fnHint =
    typeof found.value === "function"
      ? "functions cannot be sent to another process; pass data instead, or define the function inside the target"
      : "only structured-clone values cross between processes (primitives, plain objects, arrays, Map, Set, Date, " +
        "RegExp, BigInt, ArrayBuffer and typed arrays, Error)";
  return `${found.path} is ${found.what}: it cannot be sent ${where}; ${fnHint}`;
}
