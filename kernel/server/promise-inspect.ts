/**
 * Promises shown as Node shows them outside the kernel: `Promise { 42 }`, `Promise { <pending> }`.
 *
 * The kernel runs each cell in an AsyncLocalStorage context (output.ts). On Node 20 that makes
 * every promise carry its async ids and the cell's context as own, enumerable symbol properties,
 * and util.inspect lists them: a forgotten `await` printed some thirty lines of Jupyter message
 * headers around `<pending>`. Those properties are made non-enumerable (Node reads them by key,
 * so nothing else changes) at the moment a promise is inspected, and only then.
 */
import util from "node:util";

/** The descriptions of the symbols Node's async hooks put on promises. */
const HOOK_STATE = new Set(["async_id_symbol", "trigger_async_id_symbol", "kResourceStore"]);

type Inspect = typeof util.inspect;

function hideHookState(promise: object): void {
  for (const symbol of Object.getOwnPropertySymbols(promise)) {
    if (!HOOK_STATE.has(symbol.description ?? "")) continue;
    const property = Object.getOwnPropertyDescriptor(promise, symbol);
    if (property?.enumerable && property.configurable) Object.defineProperty(promise, symbol, { ...property, enumerable: false });
  }
}

function inspectPromise(this: Promise<unknown>, depth: number, options: util.InspectOptions, inspect: Inspect): string {
  // A frozen promise keeps its properties as they are; it is inspected as it is.
  if (Object.isExtensible(this)) hideHookState(this);
  // Inspected the default way from here: this method is shadowed for that one call, so that the
  // promise's value still gets each value's own custom inspection. A property of the promise's
  // own under that key (or a frozen promise) is not this method's to shadow and delete.
  const own = Object.getOwnPropertyDescriptor(this, util.inspect.custom);
  if (own || !Object.isExtensible(this)) return inspect(this, { ...options, depth, customInspect: false });
  Object.defineProperty(this, util.inspect.custom, { value: undefined, configurable: true, enumerable: false, writable: true });
  try {
    return inspect(this, { ...options, depth });
  } finally {
    delete (this as { [util.inspect.custom]?: unknown })[util.inspect.custom];
  }
}

let installed = false;

/** For every promise in this process; the kernel's own context is what needs it. */
export function inspectPromisesPlainly(): void {
  if (installed) return;
  installed = true;
  Object.defineProperty(Promise.prototype, util.inspect.custom, { value: inspectPromise, configurable: true, writable: true, enumerable: false });
}
