/**
 * Python's `AsyncResult` (what apply_async and map_async return): `get(timeout)`, `wait(timeout)`,
 * `ready()`, `successful()`. Where Python blocks, these return promises; timeouts are in seconds.
 */
import { normalizeTimeout, timesOut } from "../timeouts";
import { TimeoutError } from "./errors";

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

let settleResult: <T>(result: AsyncResult<T>, outcome: Settled<T>) => void;

/**
 * @internal End a result made without an executor: how a job settles the AsyncResult of a call
 * that passed no options (no closure per call; 20k applyAsync calls make 20k results, nothing more).
 */
export function settleAsyncResult<T>(result: AsyncResult<T>, outcome: Settled<T>): void {
  settleResult(result, outcome);
}

export class AsyncResult<T = unknown> {
  static {
    settleResult = (result, outcome) => result.#settle(outcome);
  }

  /**
   * Made only when someone waits: a result nobody awaits costs no promise, and a failed task
   * nobody asked about cannot become an unhandled rejection.
   */
  #promise: Promise<T> | undefined;
  #resolve: ((value: T) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  #outcome: Settled<T> | undefined;

  /** @internal The pool creates these; `settle` is how it ends one (or settleAsyncResult, without an executor). */
  constructor(executor?: (settle: (outcome: Settled<T>) => void) => void) {
    // Outside any promise's executor, so that a bad submission throws to the caller at once.
    executor?.((outcome) => this.#settle(outcome));
  }

  #settle(outcome: Settled<T>): void {
    if (this.#outcome) return;
    this.#outcome = outcome;
    if (!this.#resolve) return;
    if (outcome.ok) this.#resolve(outcome.value);
    else this.#reject!(outcome.error);
    this.#resolve = this.#reject = undefined;
  }

  #settled(): Promise<T> {
    if (this.#promise) return this.#promise;
    const outcome = this.#outcome;
    if (outcome) return (this.#promise = outcome.ok ? Promise.resolve(outcome.value) : Promise.reject(outcome.error));
    return (this.#promise = new Promise<T>((resolve, reject) => ((this.#resolve = resolve), (this.#reject = reject))));
  }

  /**
   * The result, or the task's error. With `timeout` (seconds), rejects with TimeoutError if the
   * result is not ready by then; the task goes on, as in Python, and a later get() may succeed.
   */
  get(timeout?: number | null): Promise<T> {
    let seconds: number | undefined;
    try {
      seconds = normalizeTimeout("AsyncResult.get()", timeout);
    } catch (error) {
      return Promise.reject(error);
    }
    if (seconds === undefined || this.#outcome) return this.#settled();
    return this.#getWithin(seconds);
  }

  async #getWithin(seconds: number): Promise<T> {
    const promise = this.#settled();
    if (await timesOut(promise, seconds).catch(() => false)) {
      throw new TimeoutError(`The result was not ready within ${seconds} s; the task goes on: call get() again to wait longer`);
    }
    return promise;
  }

  /** Wait until the result is ready, or `timeout` seconds; never rejects. */
  async wait(timeout?: number | null): Promise<void> {
    const seconds = normalizeTimeout("AsyncResult.wait()", timeout);
    await timesOut(this.#settled(), seconds).catch(() => false);
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
