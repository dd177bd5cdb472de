/**
 * A pool's scheduler: which batch goes to which worker, the table of batches in flight on each
 * worker, and the replacement of workers. It knows workers only through `WorkerTransport`.
 *
 * - Work comes from jobs (one per apply/map/imap call), asked in submission order for their next
 *   batch only when a worker can take one: a lazy input is pulled as workers free up.
 * - A worker runs its batches in order, so the first batch in its table is the one running now;
 *   the others wait in its pipe. A worker that is idle gets work first; a small prefetch (more
 *   batches in its pipe) is given only to workers whose batches are short, so that long tasks
 *   still go to the first worker that frees up (as in Python's pool).
 * - A worker that ends rejects the batch it was running with WorkerLostError; the batches waiting
 *   in its pipe never started and go to another worker. A worker that ends is replaced.
 * - `taskTimeout` and aborts end the worker running the task (a running function cannot be
 *   stopped otherwise), with TimeoutError / AbortError for that task only.
 */
import { setTargetSource } from "../../protocol/errors";
import { setLongTimeout, type LongTimer } from "../timeouts";
import { BatchLog } from "./batch-log";
import { AbortError, BrokenPoolError, TimeoutError, WorkerLostError, workerEndText } from "./errors";
import type { BatchOutcome, TaskBatch, WorkerEnd, WorkerInit, WorkerStarter, WorkerTransport } from "./transport";

/** What a job gives the scheduler: the parts of a batch it decides. */
export type BatchSpec = Omit<TaskBatch, "id"> & {
  /** performance.now() when its tasks were submitted, if not the job's submittedAt. */
  queuedAt?: number;
};

export interface Job {
  /** The next batch to run, or undefined if none is ready now (the job calls `wake()` when one is). */
  next(): BatchSpec | undefined;
  /** No batch will come any more (all given out, or the job ended early). */
  readonly exhausted: boolean;
  /** A batch was answered. */
  done(batch: Batch, outcome: BatchOutcome): void;
  /** A batch will not be answered: `errorAt(position)` is the error of its task at that position. */
  failed(batch: Batch, errorAt: (position: number) => unknown): void;
  /** Output a task of this job printed, from the worker with `pid`. */
  output(pid: number | undefined, stream: "stdout" | "stderr", text: string): void;
  /** The pool was terminated or broke: the job ends with `error` (its batches were failed already). */
  cancel(error: unknown): void;
  /** Tasks not yet given out, when known (for the picture). */
  readonly pending?: number;
  /** performance.now() when it was submitted: its tasks wait from then. */
  readonly submittedAt: number;
}

export type BatchState = "waiting" | "running" | "ok" | "error" | "lost" | "timeout" | "aborted";

export interface Batch {
  readonly id: number;
  readonly spec: BatchSpec;
  readonly job: Job;
  state: BatchState;
  /** performance.now() values. */
  queuedAt: number;
  startedAt?: number;
  endedAt?: number;
  worker?: WorkerSlot;
  /** The task positions that threw (for the picture). */
  failures?: number;
  cancelled?: boolean;
  /** Finished, and recorded in the scheduler's log. */
  logged?: boolean;
}

export interface WorkerSlot {
  readonly index: number;
  readonly transport: WorkerTransport;
  readonly startedAt: number;
  endedAt?: number;
  end?: WorkerEnd;
  ready: boolean;
  blocked: boolean;
  /** No more batches: maxTasksPerChild reached, or killed. */
  retiring: boolean;
  /** Batches sent and not answered; the first one runs now. */
  readonly inflight: Batch[];
  /** Tasks given to this worker so far (for maxTasksPerChild). */
  tasksGiven: number;
  /** Typical run time of one batch here, ms (exponential average), once known, of batches of `estimateFid`. */
  batchMs?: number;
  /**
   * The function batchMs was measured on. A batch of another function starts a new estimate: a
   * worker that ran tiny tasks before must not take a whole map of slow ones into its pipe.
   */
  estimateFid?: unknown;
  timer?: LongTimer;
  /** Why the pool ended this worker on purpose. */
  killedFor?: string;
}

export interface SchedulerOptions {
  processes: number;
  start: WorkerStarter;
  init: Omit<WorkerInit, "workerIndex">;
  maxTasksPerChild?: number;
  /** Seconds one task may run. */
  taskTimeout?: number;
  /** Something changed (for the picture). */
  onChange?: () => void;
  /** Output no task can claim (an initializer's, or printed between tasks). */
  output?: (pid: number | undefined, stream: "stdout" | "stderr", text: string) => void;
}

/** Work kept waiting in a worker's pipe, in ms of its typical batch: enough to cover a round trip. */
const PREFETCH_MS = 2;
const MAX_PREFETCH = 1024;

/**
 * Batches in a worker's pipe beyond the one it runs: about PREFETCH_MS of work, so that tiny tasks
 * never wait for a round trip, and none for batches longer than that (they go to whichever worker
 * frees up first).
 */
function prefetchFor(slot: WorkerSlot): number {
  if (slot.batchMs === undefined || !slot.ready) return 0;
  return Math.min(MAX_PREFETCH, Math.floor(PREFETCH_MS / Math.max(slot.batchMs, 0.001)));
}

/** Batches kept for stats() and the picture (the oldest are dropped past this). */
const HISTORY = 20_000;

export class Scheduler {
  readonly #options: SchedulerOptions;
  /** Jobs in submission order, from #jobHead (those before it are done giving out work). */
  #jobs: Job[] = [];
  #jobHead = 0;
  /** Batches that must run again (they were waiting in a worker that ended). */
  readonly #retry: Batch[] = [];
  readonly #workers: WorkerSlot[] = [];
  /** Finished batches, as compact rows (batch-log.ts). */
  readonly log = new BatchLog(HISTORY);
  /** performance.now() when the first task started, once one has. */
  firstStartedAt: number | undefined;
  #batchIds = 1;
  #nextWorker = 0;
  #pumpScheduled = false;
  /** Whether the workers keep this process alive now (see #refWorkers). */
  #reffed = false;
  /** What the pool's own state asks for (a job or a close under way); keepAlive() may ask for more. */
  #wantsRef = false;
  #keptAlive = 0;
  #closed = false;
  #terminated = false;
  #broken: BrokenPoolError | undefined;
  /** Workers that died before they were ready, in a row: a sign that none ever will be. */
  #deathsBeforeReady = 0;
  #idleWaiters: (() => void)[] = [];
  #exitWaiters: (() => void)[] = [];
  readonly startedAt = performance.now();
  tasksDone = 0;
  /** Tasks that raised, timed out, or lost their worker. */
  tasksFailed = 0;
  /** Tasks aborted, or ended by terminate(). */
  tasksCancelled = 0;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    // The first worker's failure to start (a missing cwd, no memory) is the constructor's error.
    for (let i = 0; i < options.processes; i++) this.#startWorker(i === 0);
  }

  get workers(): readonly WorkerSlot[] {
    return this.#workers;
  }

  /** The batches not finished: in workers' tables (the first of each runs, if started), then those to run again. */
  get unfinished(): Batch[] {
    const out: Batch[] = [];
    for (const slot of this.#workers) for (const batch of slot.inflight) if (!batch.logged) out.push(batch);
    for (const batch of this.#retry) if (!batch.cancelled) out.push(batch);
    return out;
  }

  get broken(): BrokenPoolError | undefined {
    return this.#broken;
  }

  /** Queue a job; its batches are asked for as workers free up. */
  add(job: Job): void {
    if (this.#broken) throw this.#broken;
    this.#jobs.push(job);
    this.#refWorkers(true);
    this.wake();
  }

  /** Look for work to send, once per tick: submissions of one tick share a write. */
  wake(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Cancel a batch: before it runs it is skipped; while it runs its worker is ended. */
  abort(batch: Batch, reason: unknown): void {
    if (batch.state !== "waiting" && batch.state !== "running") return;
    const worker = batch.worker;
    if (worker && worker.inflight[0] === batch && batch.startedAt !== undefined) {
      this.#endRunning(worker, "aborted", () => reason);
      return;
    }
    batch.cancelled = true;
    this.#settle(batch, "aborted", batch.spec.items.length);
    this.tasksCancelled += batch.spec.items.length;
    batch.job.failed(batch, () => reason);
    this.wake();
  }

  /** End a job: its batches not yet run are skipped, those running end their workers; then `job.cancel(reason)`. */
  abortJob(job: Job, reason: unknown): void {
    const index = this.#jobs.indexOf(job, this.#jobHead);
    if (index >= 0) this.#jobs.splice(index, 1);
    for (const batch of this.#retry) if (batch.job === job) batch.cancelled = true;
    for (const slot of this.#workers) for (const batch of [...slot.inflight]) if (batch.job === job) this.abort(batch, reason);
    job.cancel(reason);
    this.wake();
  }

  /** No more jobs will come: workers end once all work is done. */
  close(): void {
    this.#closed = true;
    // A closing pool keeps its process alive until its workers have finished and exited.
    this.#refWorkers(true);
    this.#maybeFinish();
  }

  /** Reject everything not finished, end every worker now. */
  terminate(reason: string): void {
    this.#closed = this.#terminated = true;
    // Whoever awaits terminate() waits for the workers' exit: that must keep this process alive.
    this.#refWorkers(true);
    const error = () => new AbortError(reason);
    for (const batch of this.#retry.splice(0)) this.#fail(batch, "aborted", error);
    for (const worker of this.#workers) {
      worker.retiring = true;
      worker.timer?.clear();
      for (const batch of worker.inflight.splice(0)) this.#fail(batch, "aborted", error);
      worker.transport.kill();
    }
    for (const job of this.#jobs.splice(0).slice(this.#jobHead)) job.cancel(this.#broken ?? error());
    this.#jobHead = 0;
    this.#maybeFinish();
  }

  /** Resolves when no work is left (all jobs given out and answered). */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Resolves when every worker has exited (after close() and idle, or terminate()). */
  exited(): Promise<void> {
    if (this.#workers.every((w) => w.end)) return Promise.resolve();
    return new Promise((resolve) => this.#exitWaiters.push(resolve));
  }

  #isIdle(): boolean {
    if (this.#retry.length !== 0) return false;
    for (const slot of this.#workers) if (slot.inflight.length !== 0) return false;
    // After the drop, the job at #jobHead (if any) still has work: no walk over the jobs given out.
    this.#dropExhaustedJobs();
    return this.#jobHead === this.#jobs.length;
  }

  /** Advance past the jobs at the front that have nothing more to give (amortized O(1) per job). */
  #dropExhaustedJobs(): void {
    while (this.#jobHead < this.#jobs.length && this.#jobs[this.#jobHead]!.exhausted) this.#jobHead++;
    // All passed (the usual end of a burst): nothing is kept, not even a few runs of applies.
    if (this.#jobHead === this.#jobs.length && this.#jobHead > 0) {
      this.#jobs = [];
      this.#jobHead = 0;
    } else if (this.#jobHead > 1024 && this.#jobHead * 2 > this.#jobs.length) {
      this.#jobs = this.#jobs.slice(this.#jobHead);
      this.#jobHead = 0;
    }
  }

  /** Jobs that still have tasks to give out. */
  get jobs(): readonly Job[] {
    this.#dropExhaustedJobs();
    return this.#jobs.slice(this.#jobHead);
  }

  #startWorker(throwOnFailure = false): void {
    if (this.#terminated) return;
    const index = this.#nextWorker++;
    let slot!: WorkerSlot;
    const events = {
      ready: (error?: unknown) => this.#onReady(slot, error),
      done: (id: number, outcome: BatchOutcome) => this.#onDone(slot, id, outcome),
      output: (id: number | undefined, _position: number, stream: "stdout" | "stderr", text: string) => {
        const batch = id === undefined ? slot.inflight[0] : slot.inflight.find((b) => b.id === id);
        if (batch) batch.job.output(slot.transport.pid, stream, text);
        else this.#options.output?.(slot.transport.pid, stream, text);
      },
      drain: () => {
        slot.blocked = false;
        this.wake();
      },
      exit: (end: WorkerEnd) => this.#onExit(slot, end),
    };
    let transport: WorkerTransport;
    try {
      transport = this.#options.start({ ...this.#options.init, workerIndex: index }, events);
    } catch (error) {
      if (throwOnFailure) throw error;
      this.#breakPool(new BrokenPoolError(`Could not start a worker for ${this.#options.init.poolName}: ${(error as Error).message}`, { cause: error }));
      return;
    }
    slot = { index, transport, startedAt: performance.now(), ready: false, blocked: false, retiring: false, inflight: [], tasksGiven: 0 };
    transport.setRef?.(this.#reffed);
    this.#workers.push(slot);
    this.#options.onChange?.();
  }

  #onReady(slot: WorkerSlot, error: unknown): void {
    if (error !== undefined) {
      this.#breakPool(
        new BrokenPoolError(
          `The initializer of ${this.#options.init.poolName} threw in worker pid ${slot.transport.pid}: ` +
            `${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}; no task can run. ` +
            `Fix the initializer and create a new pool.`,
          { cause: error },
        ),
      );
      return;
    }
    slot.ready = true;
    this.#deathsBeforeReady = 0;
    this.#startHead(slot);
    this.wake();
  }

  #pump(): void {
    if (this.#terminated) return;
    // Idle workers first (one batch each), then the prefetch of workers with short batches.
    for (const pass of [0, 1] as const) {
      for (const slot of this.#workers) {
        if (slot.retiring || slot.blocked || slot.end) continue;
        const limit = () => (pass === 0 ? 1 : 1 + prefetchFor(slot));
        // Topped up only once half of the prefetch is used: many batches per write, not one per answer.
        if (pass === 1 && slot.inflight.length > 1 && slot.inflight.length > limit() / 2) continue;
        // The limit is read again after each batch: one of a new function resets the estimate.
        while (slot.inflight.length < limit() && !slot.blocked && this.#allowance(slot) > 0) {
          const batch = this.#nextBatch();
          if (!batch) return this.#maybeFinish();
          this.#send(slot, batch);
        }
      }
    }
  }

  #allowance(slot: WorkerSlot): number {
    const max = this.#options.maxTasksPerChild;
    if (max === undefined) return Infinity;
    // A worker with nothing in flight always takes one batch, however big.
    return slot.inflight.length === 0 ? Math.max(1, max - slot.tasksGiven) : max - slot.tasksGiven;
  }

  #nextBatch(): Batch | undefined {
    while (this.#retry.length) {
      const batch = this.#retry.shift()!;
      if (!batch.cancelled) return batch;
    }
    this.#dropExhaustedJobs();
    for (let i = this.#jobHead; i < this.#jobs.length; i++) {
      const job = this.#jobs[i]!;
      const spec = job.next();
      if (spec) {
        // Every field from the start: one shape for all batches, however far each one gets.
        return {
          id: this.#batchIds++, spec, job, state: "waiting", queuedAt: spec.queuedAt ?? job.submittedAt,
          startedAt: undefined, endedAt: undefined, worker: undefined, failures: undefined, cancelled: undefined, logged: undefined,
        };
      }
      if (i === this.#jobHead && job.exhausted) this.#jobHead++;
    }
    return undefined;
  }

  #send(slot: WorkerSlot, batch: Batch): void {
    batch.worker = slot;
    if (slot.estimateFid !== batch.spec.fid) {
      slot.estimateFid = batch.spec.fid;
      slot.batchMs = undefined;
    }
    slot.inflight.push(batch);
    slot.tasksGiven += batch.spec.items.length;
    let ok: boolean;
    try {
      const { fid, target, items, star, firstIndex, call } = batch.spec;
      ok = slot.transport.send({ id: batch.id, fid, target, items, star, firstIndex, call });
    } catch (error) {
      // The batch cannot cross (a value that cannot be cloned): its tasks fail, nothing else.
      slot.inflight.pop();
      slot.tasksGiven -= batch.spec.items.length;
      this.#fail(batch, "error", () => error);
      return;
    }
    if (!ok) slot.blocked = true;
    if (slot.inflight.length === 1) this.#startHead(slot);
    if (this.#options.maxTasksPerChild !== undefined && slot.tasksGiven >= this.#options.maxTasksPerChild) this.#retire(slot);
  }

  /** The first batch in a ready worker's table runs now: note it, and arm its timeout. */
  #startHead(slot: WorkerSlot): void {
    const head = slot.inflight[0];
    if (!head || !slot.ready || head.startedAt !== undefined) return;
    head.startedAt = performance.now();
    this.firstStartedAt ??= head.startedAt;
    if (!head.logged) head.state = "running";
    const timeout = this.#options.taskTimeout;
    if (timeout !== undefined) {
      slot.timer = setLongTimeout(() => {
        this.#endRunning(slot, "timeout", (position) =>
          new TimeoutError(
            `Task ${head.spec.firstIndex + position} ran longer than taskTimeout (${timeout} s) on worker pid ` +
              `${slot.transport.pid}; the worker was ended and replaced. Raise taskTimeout if the task needs longer.`,
          ),
        );
      }, timeout * head.spec.items.length);
      slot.timer.unref();
    }
    this.#options.onChange?.();
  }

  #onDone(slot: WorkerSlot, id: number, outcome: BatchOutcome): void {
    // Answers come in the order batches were sent: the first one, nearly always.
    const at = slot.inflight[0]?.id === id ? 0 : slot.inflight.findIndex((b) => b.id === id);
    if (at < 0) return;
    const batch = at === 0 ? slot.inflight.shift()! : slot.inflight.splice(at, 1)[0]!;
    slot.timer?.clear();
    slot.timer = undefined;
    const ran = outcome.startedAt !== undefined && outcome.endedAt !== undefined ? outcome.endedAt - outcome.startedAt : undefined;
    if (ran !== undefined && batch.spec.fid === slot.estimateFid) slot.batchMs = slot.batchMs === undefined ? ran : slot.batchMs * 0.7 + ran * 0.3;
    if (!batch.cancelled) {
      this.tasksDone += batch.spec.items.length - outcome.errors.length;
      this.tasksFailed += outcome.errors.length;
      batch.startedAt ??= performance.now() - (ran ?? 0);
      this.#settle(batch, outcome.errors.length ? "error" : "ok", outcome.errors.length);
      // What a task raised points into its function's text: said here, where the batch is known.
      const { target } = batch.spec;
      if (target.kind === "source") for (const [, error] of outcome.errors) setTargetSource(error, target.source);
      batch.job.done(batch, outcome);
    }
    this.#startHead(slot);
    if (slot.retiring && slot.inflight.length === 0 && !slot.killedFor) slot.transport.close();
    this.#options.onChange?.();
    this.wake();
    this.#maybeFinish();
  }

  /** The batch running on `slot` ends with `state`; the worker is ended and replaced. */
  #endRunning(slot: WorkerSlot, state: BatchState, errorAt: (position: number) => unknown): void {
    const head = slot.inflight.shift();
    if (!head) return;
    slot.timer?.clear();
    slot.killedFor = state;
    slot.retiring = true;
    this.#fail(head, state, errorAt);
    this.#retry.unshift(...slot.inflight.splice(0).map((b) => this.#requeue(b)));
    slot.transport.kill();
    this.#replace();
  }

  #requeue(batch: Batch): Batch {
    batch.worker = undefined;
    batch.state = "waiting";
    batch.startedAt = undefined;
    return batch;
  }

  #retire(slot: WorkerSlot): void {
    if (slot.retiring) return;
    slot.retiring = true;
    if (slot.inflight.length === 0) slot.transport.close();
    this.#replace();
  }

  /** Start a worker in place of one that retired or ended, unless the pool is ending anyway. */
  #replace(): void {
    if (this.#terminated || this.#broken) return;
    const active = this.#workers.filter((w) => !w.retiring && !w.end).length;
    if (active >= this.#options.processes) return;
    if (this.#closed && this.#isIdle()) return;
    this.#startWorker();
  }

  #onExit(slot: WorkerSlot, end: WorkerEnd): void {
    slot.end = end;
    slot.endedAt = performance.now();
    slot.timer?.clear();
    if (!slot.ready && !slot.killedFor && !this.#terminated) this.#deathsBeforeReady++;
    const held = slot.inflight.splice(0);
    // After a corrupt record any of its batches may have run (their answers lost): all fail, none runs twice.
    const lost = end.channelFault !== undefined ? held.splice(0) : held[0]?.startedAt !== undefined ? [held.shift()!] : [];
    for (const batch of lost) if (!batch.cancelled) this.#fail(batch, "lost", (position) => new WorkerLostError(end, batch.spec.firstIndex + position));
    this.#retry.unshift(...held.map((b) => this.#requeue(b)));
    slot.retiring = true;
    if (this.#deathsBeforeReady > this.#options.processes * 2 && !this.#broken) {
      this.#breakPool(
        new BrokenPoolError(
          `Workers of ${this.#options.init.poolName} keep ending before they can take a task (the last, pid ${end.pid}, ` +
            `${workerEndText(end)})${end.stderrTail ? `; its stderr ended with:\n  ${end.stderrTail.trimEnd().split("\n").slice(-8).join("\n  ")}` : ""}`,
        ),
      );
    }
    this.#replace();
    this.#options.onChange?.();
    this.wake();
    this.#maybeFinish();
    if (this.#workers.every((w) => w.end)) for (const resolve of this.#exitWaiters.splice(0)) resolve();
  }

  #breakPool(error: BrokenPoolError): void {
    if (this.#broken) return;
    this.#broken = error;
    this.terminate(error.message);
    // terminate() rejected with a plain Error; jobs submitted later see the BrokenPoolError itself.
  }

  /** A batch is finished: its row goes to the log (once; an aborted batch may still sit in a pipe). */
  #settle(batch: Batch, state: BatchState, failures: number): void {
    batch.state = state;
    batch.endedAt = performance.now();
    batch.failures = failures;
    batch.logged = true;
    const worker = batch.worker;
    this.log.record({
      id: batch.id,
      worker: worker?.index,
      pid: worker?.transport.pid,
      firstIndex: batch.spec.firstIndex,
      tasks: batch.spec.items.length,
      queuedAt: batch.queuedAt,
      startedAt: batch.startedAt,
      endedAt: batch.endedAt,
      state,
      failures,
    });
  }

  #fail(batch: Batch, state: BatchState, errorAt: (position: number) => unknown): void {
    // Aborted earlier and still in a pipe when its worker ended: already finished and counted.
    if (batch.logged) return;
    this.#settle(batch, state, batch.spec.items.length);
    if (state === "aborted") this.tasksCancelled += batch.spec.items.length;
    else this.tasksFailed += batch.spec.items.length;
    if (!batch.cancelled) batch.job.failed(batch, errorAt);
  }

  /** Keep this process alive through the workers, idle or not, until the returned function is called. */
  keepAlive(): () => void {
    this.#keptAlive++;
    this.#refWorkers(this.#wantsRef);
    return () => {
      this.#keptAlive--;
      this.#refWorkers(this.#wantsRef);
    };
  }

  #refWorkers(wanted: boolean): void {
    this.#wantsRef = wanted;
    const ref = wanted || this.#keptAlive > 0;
    // Every submission asks for it: only a change reaches the workers' handles.
    if (this.#reffed === ref) return;
    this.#reffed = ref;
    for (const slot of this.#workers) if (!slot.end) slot.transport.setRef?.(ref);
  }

  #maybeFinish(): void {
    if (!this.#isIdle()) return;
    // An idle pool lets a script end; a closing one keeps it alive until its workers have exited.
    if (!this.#closed) this.#refWorkers(false);
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
    if (!this.#closed) return;
    for (const slot of this.#workers) {
      if (slot.end || slot.killedFor === "closed") continue;
      slot.retiring = true;
      slot.killedFor ??= "closed";
      slot.transport.close();
    }
    if (this.#workers.every((w) => w.end)) for (const resolve of this.#exitWaiters.splice(0)) resolve();
  }
}
