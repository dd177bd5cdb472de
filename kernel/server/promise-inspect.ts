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

function hideHookState(promise: object): void {
  for (const symbol of Object.getOwnPropertySymbols(promise)) {
    if (!HOOK_STATE.has(symbol.description ?? "")) continue;
    const property = Object.getOwnPropertyDescriptor(promise, symbol);
    // A frozen promise's properties cannot change: it shows them.
    if (property?.enumerable && property.configurable) Object.defineProperty(promise, symbol, { ...property, enumerable: false });
  }
}

/**
 * Returned as it is, the promise is formatted the default way (each value in it with its own
 * custom inspection), now without the hook state. `showHidden` (and console.log's `%o`) asks for
 * non-enumerable properties too: it still shows them, as asked.
 */
function inspectPromise(this: Promise<unknown>): Promise<unknown> {
  hideHookState(this);
  return this;
}

let installed = false;

/** For every promise in this process; the kernel's own context is what needs it. */
export function inspectPromisesPlainly(): void {
  if (installed) return;
  installed = true;
  Object.defineProperty(Promise.prototype, util.inspect.custom, { value: inspectPromise, configurable: true, writable: true, enumerable: false });
}
