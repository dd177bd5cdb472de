/**
 * The errors a pool's tasks can end with, besides the error a task threw itself (which comes back
 * with its own class and properties). Messages are built by pure functions and say what to do.
 */
import { endingAdvice } from "../../protocol/ended";
import { stderrTail } from "../process/errors";
import type { WorkerEnd } from "./transport";

/** Python's `multiprocessing.TimeoutError`: `get(timeout)` ran out of time, or a task ran past `taskTimeout`. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** A task was cancelled through its `signal` (or its cell was interrupted) before it finished. */
export class AbortError extends Error {
  override name = "AbortError";
}

/** Why the worker died, in words: "exited with code 3", "was killed by SIGKILL". */
export function workerEndText(end: Pick<WorkerEnd, "exitCode" | "signal">): string {
  return end.signal ? `was killed by ${end.signal}` : `exited with code ${end.exitCode}`;
}

/**
 * The worker running a task died before the task returned (billiard's `WorkerLostError`; Python's
 * own Pool waits forever here). The worker has been replaced; the pool goes on.
 */
export class WorkerLostError extends Error {
  override name = "WorkerLostError";
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The task's index: the item's position for map and imap, the pool's count of applies for apply (0, 1, ...). */
  readonly taskIndex: number;
  readonly stderr: string;

  constructor(end: WorkerEnd, taskIndex: number) {
    const tail = stderrTail(end.stderrTail);
    super(
      (end.channelFault !== undefined
        ? `Worker pid ${end.pid ?? "-"} held task ${taskIndex} when it sent bytes the pool could not read, so the pool ` +
          `ended it and failed every task it held (their answers may be lost; none runs twice). The pool replaced the ` +
          `worker and goes on. ${endingAdvice({ exitCode: end.exitCode, signal: end.signal, channelFault: end.channelFault })}`
        : `Worker pid ${end.pid ?? "-"} ${workerEndText(end)} while running task ${taskIndex}; the task did not return ` +
          `(it called process.exit(), crashed, ran out of memory, or was killed from outside). The pool replaced the ` +
          `worker and goes on; submit the task again to retry it.`) +
        (tail ? `\nstderr ended with:\n  ${tail.split("\n").join("\n  ")}` : ""),
    );
    this.pid = end.pid;
    this.exitCode = end.exitCode;
    this.signal = end.signal;
    this.taskIndex = taskIndex;
    this.stderr = tail;
  }
}

/**
 * The pool cannot run tasks: its initializer threw in a worker, or workers die before they can take
 * a task (concurrent.futures' `BrokenProcessPool`). Every waiting task and every new one rejects.
 */
export class BrokenPoolError extends Error {
  override name = "BrokenPoolError";
}
