/**
 * How a cell's last expression is shown: an object with a `Symbol.for("Jupyter.display")` method
 * (sync or async) is sent as the MIME bundle it returns (the convention Deno's kernel uses);
 * anything else as text, the way Node inspects it, without ANSI colours.
 */
import util from "node:util";
import { JUPYTER_DISPLAY } from "../../src/protocol/kernel-bridge";

export type Bundle = Record<string, unknown> & { "text/plain": string };

export function plainText(value: unknown): string {
  return util.inspect(value, { colors: false, depth: 4, maxArrayLength: 100, breakLength: 100 });
}

/**
 * A cell whose value is a promise still pending most likely lacks an `await` (the kernel shows a
 * cell's value as it is when the cell ends, as Node's REPL does).
 */
function awaitHint(value: unknown, text: string): string {
  // `Promise { <pending> }`, or a subclass's `Task [Promise] { <pending> }`.
  if (!util.types.isPromise(value) || !/^(?:\S+ \[Promise\] |Promise )\{ <pending>/.test(text)) return "";
  return "\n(the cell did not wait for this promise: put await before the expression to wait for its value)";
}

/**
 * The MIME bundle for `value`. Code the value brings (its display method, its inspect.custom) runs
 * through `guard`: calls made synchronously by `sync`, promises awaited through `wait`, so that
 * the kernel can make them interruptible.
 */
export async function toBundle(value: unknown, guard: RenderGuard = DIRECT): Promise<Bundle> {
  const method = guard.sync(() => (value as { [JUPYTER_DISPLAY]?: unknown } | null | undefined)?.[JUPYTER_DISPLAY]);
  if (typeof method !== "function") {
    const text = guard.sync(() => plainText(value));
    return { "text/plain": text + awaitHint(value, text) };
  }
  const bundle: unknown = await guard.wait(Promise.resolve(guard.sync(() => method.call(value))));
  if (bundle === null || typeof bundle !== "object" || Array.isArray(bundle)) {
    throw new TypeError(
      `[Symbol.for("Jupyter.display")]() must return a MIME bundle object such as { "text/plain": "..." }, ` +
        `got ${plainText(bundle)}`,
    );
  }
  const data = bundle as Record<string, unknown>;
  return { ...data, "text/plain": typeof data["text/plain"] === "string" ? data["text/plain"] : guard.sync(() => plainText(value)) };
}

export interface RenderGuard {
  sync<T>(fn: () => T): T;
  wait<T>(promise: Promise<T>): Promise<T>;
}

const DIRECT: RenderGuard = { sync: (fn) => fn(), wait: (promise) => promise };
