/**
 * Running kernel-side code that user code controls (a result's `Jupyter.display` method, its
 * `inspect.custom`) so that an interrupt stops it, as it stops a cell.
 *
 * Synchronous code: Node breaks a script on SIGINT only while it runs with `breakOnSigint`, so the
 * call is made from inside such a script. Asynchronous code: the promise is raced against the
 * cell's abort signal, which the kernel's interrupt fires.
 */
import vm from "node:vm";

const SLOT = Symbol.for("forklab.kernel.interruptibleCall");
const CALL_SLOT = new vm.Script(`globalThis[Symbol.for("forklab.kernel.interruptibleCall")]()`, { filename: "forklab-kernel:render" });

/** Calls `fn` at once; SIGINT makes it throw an ERR_SCRIPT_EXECUTION_INTERRUPTED error. */
export function callInterruptibly<T>(fn: () => T): T {
  const slot = globalThis as { [SLOT]?: () => unknown };
  const previous = slot[SLOT];
  slot[SLOT] = fn;
  try {
    return CALL_SLOT.runInThisContext({ breakOnSigint: true }) as T;
  } finally {
    slot[SLOT] = previous;
  }
}

/** Settles as `promise` does, or rejects with an `Interrupted` error once `signal` aborts. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(interruptedError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(interruptedError());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

export function isInterruption(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ERR_SCRIPT_EXECUTION_INTERRUPTED";
}

function interruptedError(): Error {
  return Object.assign(new Error("interrupted while showing the cell's result"), { code: "ERR_SCRIPT_EXECUTION_INTERRUPTED" });
}
