/**
 * Python's `AsyncResult` (what apply_async and map_async return): `get(timeout)`, `wait(timeout)`,
 * `ready()`, `successful()`. Where Python blocks, these return promises; timeouts are in seconds.
 */
import { normalizeTimeout, timesOut } from "../timeouts";
import { TimeoutError } from "./errors";

export class AsyncResult<T = unknown> {
  readonly #promise: Promise<T>;
  #outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;

  /** @internal The pool creates these; `settle` is how it ends one. */
  constructor(executor: (settle: (outcome: { ok: true; value: T } | { ok: false; error: unknown }) => void) => void) {
    let resolve!: (value: T) => void;
    let reject!: (error: unknown) => void;
    this.#promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
    // Nobody has to call get(): a failed task must not become an unhandled rejection.
    this.#promise.catch(() => {});
    // Outside the promise's executor, so that a bad submission throws to the caller at once.
    executor((outcome) => {
      if (this.#outcome) return;
      this.#outcome = outcome;
      if (outcome.ok) resolve(outcome.value);
      else reject(outcome.error);
    });
  }

  /**
   * The result, or the task's error. With `timeout` (seconds), rejects with TimeoutError if the
   * result is not ready by then; the task goes on, as in Python, and a later get() may succeed.
   */
  async get(timeout?: number | null): Promise<T> {
    const seconds = normalizeTimeout("AsyncResult.get()", timeout);
    if (seconds !== undefined && !this.#outcome && (await timesOut(this.#promise, seconds).catch(() => false))) {
      throw new TimeoutError(`The result was not ready within ${seconds} s; the task goes on: call get() again to wait longer`);
    }
    return this.#promise;
  }

  /** Wait until the result is ready, or `timeout` seconds; never rejects. */
  async wait(timeout?: number | null): Promise<void> {
    const seconds = normalizeTimeout("AsyncResult.wait()", timeout);
    await timesOut(this.#promise, seconds).catch(() => false);
  }

  /** Whether the task has finished (returned or failed). */
  ready(): boolean {
    return this.#outcome !== undefined;
  }

  /** Whether it returned without error. Throws if it is not ready yet, as Python's ValueError. */
  successful(): boolean {
    if (!this.#outcome) throw new Error("The result is not ready: call successful() once ready() is true (await wait() first)");
    return this.#outcome.ok;
  }

  toString(): string {
    return `<AsyncResult ${this.#outcome ? (this.#outcome.ok ? "successful" : "failed") : "pending"}>`;
  }
}
