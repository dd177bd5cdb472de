/**
 * Timeouts, in seconds as in Python, for every wait in forklab (run, wait, communicate, join,
 * a pool's get, a queue's get, the grace before SIGKILL).
 *
 * Node's timers hold at most 2^31-1 ms (24.8 days); a longer delay fires at once with a
 * TimeoutOverflowWarning. A long wait here chains timers of at most that length instead.
 */
import { optionError } from "./option-errors";

/** The longest delay one Node timer holds. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A timeout in seconds: a finite number >= 0, or undefined/null for none (Python's None).
 * Throws a TypeError naming `where` and `option` otherwise.
 */
export function normalizeTimeout(where: string, timeout: unknown, option = "timeout"): number | undefined {
  if (timeout === undefined || timeout === null) return undefined;
  if (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout < 0) {
    throw optionError(where, option, "a number of seconds >= 0 (as in Python; e.g. 2.5), or null for none", timeout);
  }
  return timeout;
}

/** A timer that may wait longer than one Node timer can; cancel with clear(). */
export interface LongTimer {
  clear(): void;
  /** Like Timeout.unref(): the timer alone does not keep the process alive. */
  unref(): LongTimer;
  ref(): LongTimer;
}

/** Call `callback` after `seconds` (any finite length), chaining timers for long waits. */
export function setLongTimeout(callback: () => void, seconds: number): LongTimer {
  const due = performance.now() + seconds * 1000;
  let referenced = true;
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const left = due - performance.now();
    // A chained step may wake a little early (timers are not exact): arm again for what is left.
    timer = left > 0 ? setTimeout(left > MAX_TIMER_MS ? arm : fire, Math.min(left, MAX_TIMER_MS)) : setTimeout(fire, 0);
    if (!referenced) timer.unref();
  };
  const fire = (): void => {
    if (due - performance.now() > 1) arm();
    else callback();
  };
  arm();
  const handle: LongTimer = {
    clear: () => clearTimeout(timer),
    unref: () => ((referenced = false), timer.unref(), handle),
    ref: () => ((referenced = true), timer.ref(), handle),
  };
  return handle;
}

/**
 * Wait for `promise`, at most `seconds` (undefined: no limit). Resolves to true if the time ran
 * out first; rejects if the promise rejects first.
 */
export function timesOut(promise: Promise<unknown>, seconds: number | undefined): Promise<boolean> {
  if (seconds === undefined) return promise.then(() => false);
  return new Promise<boolean>((resolve, reject) => {
    const timer = setLongTimeout(() => resolve(true), seconds);
    promise.then(
      () => (timer.clear(), resolve(false)),
      (error: unknown) => (timer.clear(), reject(error)),
    );
  });
}
