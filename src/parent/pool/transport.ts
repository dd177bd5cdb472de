/**
 * The seam between a pool's scheduler and its workers.
 *
 * The scheduler (scheduler.ts) decides which task goes to which worker, keeps the table of the
 * batches in flight on each worker, and settles every task exactly once. A transport carries
 * batches to one worker and reports back what happened there. The scheduler never sees a child
 * process, a pipe or a network connection, so a worker reached another way (a local child process
 * in local-worker.ts; a worker on another host behind a job queue) plugs in by implementing
 * `WorkerTransport` and a `WorkerStarter`.
 *
 * What a transport promises:
 * - a worker runs one task at a time, in the order the batches were sent, the tasks of a batch in
 *   their order (the scheduler infers which batch runs now from that order);
 * - every batch sent is answered by exactly one `done`, unless the worker ends first; `exit` comes
 *   once, after the last `done` and `output` the worker managed to deliver, so the batches still
 *   unanswered then are exactly those the worker held when it ended (after a corrupt record, the
 *   transport ends the worker, delivers nothing more from it, and says so in `channelFault`);
 * - events are delivered in the async context in which the starter was called, or any: the
 *   scheduler rebinds what it needs.
 */
import type { TargetSpec } from "../../protocol/messages";

/** A batch of tasks for one worker: one message on the wire (Python's `mapstar` chunk). */
export interface TaskBatch {
  /** Unique within a pool; `done` names it. */
  id: number;
  /** The function, numbered per pool: a transport sends `target` only the first time a worker meets `fid`. */
  fid: number;
  target: TargetSpec;
  /** One entry per task: its argument list when `star`, else its single argument. */
  items: unknown[];
  /**
   * `fn(...item)` (apply, starmap) or `fn(item)` (map, imap). Items may hold handles (queues,
   * pipes): a transport encodes them as its wire needs (the local one's channel does).
   */
  star: boolean;
  /** The index of the batch's first task: in its call's input for a map-like call, else the apply's number. */
  firstIndex: number;
  /**
   * The map-like call the tasks are part of, as errors name it (`Pool-1.map()`); undefined for an
   * apply. A transport that cannot send an item names it by its place in the call's input
   * (`iterable[7] (task 7 of Pool-1.map())`), not as an argument list that the caller never wrote.
   */
  call?: string;
}

/** The answer to one batch: a value or an error for each task, by position in the batch. */
export interface BatchOutcome {
  /** Values by position; a position listed in `errors` holds undefined. */
  values: unknown[];
  /** [position, error] for each task that threw, the error rebuilt with its class and properties. */
  errors: [number, unknown][];
  /** When the worker started and ended the batch, in ms since the epoch (the worker's clock), if known. */
  startedAt?: number;
  endedAt?: number;
}

/** How a worker ended. */
export interface WorkerEnd {
  pid: number | undefined;
  /** The exit code, or null when a signal ended it. */
  exitCode: number | null;
  signal: string | null;
  /** The last lines the worker wrote to stderr. */
  stderrTail: string;
  /**
   * Set when the worker sent something that could not be read (a corrupt record): an answer may
   * be lost, so every task it held fails, none runs again.
   */
  channelFault?: string;
}

/** What a worker reports; the scheduler passes these to the transport's starter. */
export interface WorkerEvents {
  /**
   * The worker is up, its initializer (if any) has run, and it takes batches. With `error`, the
   * initializer threw: the worker takes no batches and exits.
   */
  ready(error?: unknown): void;
  /** A batch was answered. */
  done(batchId: number, outcome: BatchOutcome): void;
  /**
   * The worker printed `text` while running the task at `position` of batch `batchId`; `batchId`
   * undefined when the transport cannot tell (output outside any task, or bytes that bypassed the
   * runtime): the scheduler gives it to the batch that runs on that worker now, if any.
   */
  output(batchId: number | undefined, position: number, stream: "stdout" | "stderr", text: string): void;
  /** `send` returned false earlier; the worker takes batches again. */
  drain(): void;
  /** The worker is gone, after everything it delivered. Called once. */
  exit(end: WorkerEnd): void;
}

/** One worker, as the scheduler sees it. */
export interface WorkerTransport {
  /** The worker's process id, once known (a remote worker may report its own). */
  readonly pid: number | undefined;
  /** Queue a batch for the worker. False means the way to it is full: send more after `drain`. */
  send(batch: TaskBatch): boolean;
  /** No more batches: the worker finishes those it holds, then exits. */
  close(): void;
  /** End the worker now (SIGKILL for a child); `exit` follows. */
  kill(): void;
  /**
   * Whether the worker keeps this process's event loop alive: the pool asks for it only while it
   * has tasks, so that a script with an idle pool can end. Optional for a remote worker.
   */
  setRef?(ref: boolean): void;
}

/** What every worker of a pool is started with. */
export interface WorkerInit {
  /** The pool's name and the worker's number in it, for process titles and messages. */
  poolName: string;
  workerIndex: number;
  /** Runs once in the worker before its first task (Python's `initializer(*initargs)`). */
  initializer?: TargetSpec;
  initargs: unknown[];
}

/** Starts one worker; the pool calls it for each worker, and again to replace one that ended. */
export type WorkerStarter = (init: WorkerInit, events: WorkerEvents) => WorkerTransport;
