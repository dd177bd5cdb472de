/**
 * Python's AsyncResult over a promise: get(timeout), wait(timeout), ready(), successful().
 * Timeouts are in seconds; where Python blocks, these return promises.
 */
import { normalizeTimeout, timesOut } from "../timeouts";

/** A wait ran out of time (Python's multiprocessing.TimeoutError). */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

export class AsyncResult<T> {
  readonly #promise: Promise<T>;
  #outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;

  constructor(promise: Promise<T>, callback?: (value: T) => void, errorCallback?: (error: unknown) => void) {
    this.#promise = promise;
    promise.then(
      (value) => {
        this.#outcome = { ok: true, value };
        callback?.(value);
      },
      (error: unknown) => {
        this.#outcome = { ok: false, error };
        errorCallback?.(error);
      },
    );
  }

  /** The result, or the task's error; with `timeout` (seconds), a TimeoutError when it is not ready by then. */
  async get(timeout?: number): Promise<T> {
    const seconds = normalizeTimeout("asyncResult.get()", timeout);
    const settled = this.#promise.then(
      () => undefined,
      () => undefined,
    );
    if (await timesOut(settled, seconds)) throw new TimeoutError(`asyncResult.get(): the task is not done after ${seconds} s`);
    return this.#promise;
  }

  /** Wait until the task has settled, or `timeout` seconds. */
  async wait(timeout?: number): Promise<void> {
    const seconds = normalizeTimeout("asyncResult.wait()", timeout);
    await timesOut(
      this.#promise.then(
        () => undefined,
        () => undefined,
      ),
      seconds,
    );
  }

  ready(): boolean {
    return this.#outcome !== undefined;
  }

  /** Whether the task returned without error; throws as Python does when it is not ready yet. */
  successful(): boolean {
    if (!this.#outcome) throw new Error("asyncResult.successful(): the task is not ready yet (call wait() first)");
    return this.#outcome.ok;
  }
}
