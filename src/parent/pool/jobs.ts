/**
 * The jobs a pool runs, one per call: an apply (one task), a map (a list cut into chunks, one batch
 * each, answered all at once), an imap (a lazy input pulled as workers free up, answered one by
 * one, in order or as they finish). Each job turns batch outcomes into what its caller awaits.
 */
import type { AsyncResource } from "node:async_hooks";
import type { TargetSpec } from "../../protocol/messages";
import { settleAsyncResult, type AsyncResult } from "./async-result";
import type { Batch, BatchSpec, Job } from "./scheduler";
import type { BatchOutcome } from "./transport";

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** The function a job runs, as numbered by its pool. */
export interface JobTarget {
  fid: number;
  target: TargetSpec;
  star: boolean;
}

/** Where a job's tasks print: the submitting cell, tagged with the worker pid. */
export type OutputSink = (pid: number | undefined, stream: "stdout" | "stderr", text: string) => void;

abstract class BaseJob implements Job {
  readonly #context: AsyncResource;
  readonly #sink: OutputSink;
  protected readonly target: JobTarget;
  /** The map-like call, as errors name it (`Pool-1.map()`); undefined for an apply. */
  readonly #call: string | undefined;
  readonly submittedAt = performance.now();

  constructor(target: JobTarget, context: AsyncResource, sink: OutputSink, call?: string) {
    this.target = target;
    this.#context = context;
    this.#sink = sink;
    this.#call = call;
  }

  abstract next(): BatchSpec | undefined;
  abstract readonly exhausted: boolean;
  abstract done(batch: Batch, outcome: BatchOutcome): void;
  abstract failed(batch: Batch, errorAt: (position: number) => unknown): void;
  abstract cancel(error: unknown): void;

  output(pid: number | undefined, stream: "stdout" | "stderr", text: string): void {
    this.#context.runInAsyncScope(() => this.#sink(pid, stream, text));
  }

  protected spec(items: unknown[], firstIndex: number): BatchSpec {
    return { fid: this.target.fid, target: this.target.target, star: this.target.star, items, firstIndex, call: this.#call };
  }
}

/**
 * A map-like call's failed task: its error says which one by `index`, the item's index in the
 * call's input (a task's error is its own object, rebuilt from the worker's record). An error that
 * has an `index` of its own keeps it: the user's, or the one a transport set for the item it could
 * not send, which every task of that unsent batch shares (the index names the item that stopped
 * the batch, not each task).
 */
function withIndex(error: unknown, index: number): unknown {
  if (typeof error === "object" && error !== null && !Object.hasOwn(error, "index") && Object.isExtensible(error)) {
    (error as { index: number }).index = index;
  }
  return error;
}

/**
 * A job its caller awaits as one outcome (apply, map): settled once, in the submitting cell's
 * context; a batch that cannot be answered, or the pool ending, settles it with that error.
 */
abstract class OneOutcomeJob<R> extends BaseJob {
  readonly #settle: (outcome: Outcome<R>) => void;
  protected settled = false;

  constructor(target: JobTarget, context: AsyncResource, sink: OutputSink, settle: (outcome: Outcome<R>) => void, call?: string) {
    super(target, context, sink, call);
    this.#settle = settle;
  }

  failed(_batch: Batch, errorAt: (position: number) => unknown): void {
    this.finish({ ok: false, error: errorAt(0) });
  }

  cancel(error: unknown): void {
    this.finish({ ok: false, error });
  }

  protected finish(outcome: Outcome<R>): void {
    if (this.settled) return;
    this.settled = true;
    // Not in the cell's context: whoever awaits resumes in its own, and callbacks get theirs (pool.ts).
    this.#settle(outcome);
  }
}

/** One task: `fn(...args)`, with its callbacks or signal (a call without them joins an ApplyRunJob). */
export class ApplyJob<T> extends OneOutcomeJob<T> {
  readonly #args: unknown[];
  readonly #index: number;
  #given = false;

  /** `index` numbers the pool's applies (0, 1, 2...): the task's label in the picture and in errors. */
  constructor(target: JobTarget, args: unknown[], index: number, context: AsyncResource, sink: OutputSink, settle: (outcome: Outcome<T>) => void) {
    super(target, context, sink, settle);
    this.#args = args;
    this.#index = index;
  }

  get exhausted(): boolean {
    return this.#given || this.settled;
  }

  get pending(): number {
    return this.exhausted ? 0 : 1;
  }

  next(): BatchSpec | undefined {
    if (this.exhausted) return undefined;
    this.#given = true;
    return this.spec([this.#args], this.#index);
  }

  done(_batch: Batch, outcome: BatchOutcome): void {
    const failure = outcome.errors[0];
    this.finish(failure ? { ok: false, error: failure[1] } : { ok: true, value: outcome.values[0] as T });
  }
}

/** Chunks joined by one concat at most (its arguments stay well within the stack). */
const MAX_CONCAT = 4096;

/**
 * Consecutive applyAsync calls of one function without options, in one tick (a loop of 20k): one
 * job for all of them, so the scheduler's list, the tick's interrupt list and the job objects grow
 * by one entry per run, not per call. Each call is still its own task and its own batch: its own
 * row in the picture, its own time in the queue, its own outcome, and alone if its worker is lost.
 */
export class ApplyRunJob extends BaseJob {
  readonly #firstIndex: number;
  /** Each call's arguments until given out, and its result until settled: a run keeps nothing after. */
  readonly #args: (unknown[] | undefined)[] = [];
  readonly #results: (AsyncResult<unknown> | undefined)[] = [];
  /** performance.now() at each call: a task waits from its own call, not the run's first. */
  readonly #calledAt: number[] = [];
  #given = 0;
  #ended = false;

  /** `firstIndex`: the pool's count of applies at the first call of the run. */
  constructor(target: JobTarget, firstIndex: number, context: AsyncResource, sink: OutputSink) {
    super(target, context, sink);
    this.#firstIndex = firstIndex;
  }

  /** The run's function, for the pool to tell whether the next call continues it. */
  get fid(): number {
    return this.target.fid;
  }

  /**
   * The next call's task; false once the run has given out every task it had (the scheduler may
   * have passed it by: the call starts a new run) or was cancelled. The first call is always taken.
   */
  add(args: unknown[], result: AsyncResult<unknown>): boolean {
    if (this.#args.length > 0 && this.exhausted) return false;
    this.#args.push(args);
    this.#results.push(result);
    this.#calledAt.push(performance.now());
    return true;
  }

  get exhausted(): boolean {
    return this.#ended || this.#given >= this.#args.length;
  }

  get pending(): number {
    return this.exhausted ? 0 : this.#args.length - this.#given;
  }

  next(): BatchSpec | undefined {
    if (this.exhausted) return undefined;
    const k = this.#given++;
    const spec = this.spec([this.#args[k]], this.#firstIndex + k);
    this.#args[k] = undefined;
    spec.queuedAt = this.#calledAt[k];
    return spec;
  }

  done(batch: Batch, outcome: BatchOutcome): void {
    const failure = outcome.errors[0];
    this.#settle(batch, failure ? { ok: false, error: failure[1] } : { ok: true, value: outcome.values[0] });
  }

  failed(batch: Batch, errorAt: (position: number) => unknown): void {
    this.#settle(batch, { ok: false, error: errorAt(0) });
  }

  cancel(error: unknown): void {
    this.#ended = true;
    for (let k = 0; k < this.#results.length; k++) {
      const result = this.#results[k];
      if (result) settleAsyncResult(result, { ok: false, error });
      this.#results[k] = undefined;
    }
  }

  #settle(batch: Batch, outcome: Outcome<unknown>): void {
    const k = batch.spec.firstIndex - this.#firstIndex;
    const result = this.#results[k];
    this.#results[k] = undefined;
    if (result) settleAsyncResult(result, outcome);
  }
}

/** A list in chunks, all results at once, in order; the first failure fails the whole map. */
export class MapJob<T> extends OneOutcomeJob<T[]> {
  readonly #items: unknown[];
  readonly #chunksize: number;
  /** Each chunk's values, by chunk number, as they arrive. */
  readonly #chunks: T[][] = [];
  #offset = 0;
  #remaining: number;

  /** `call` names the call in errors: `Pool-1.map()`. */
  constructor(
    target: JobTarget,
    items: unknown[],
    chunksize: number,
    call: string,
    context: AsyncResource,
    sink: OutputSink,
    settle: (outcome: Outcome<T[]>) => void,
  ) {
    super(target, context, sink, settle, call);
    this.#items = items;
    this.#chunksize = chunksize;
    this.#remaining = items.length;
    if (items.length === 0) this.finish({ ok: true, value: [] });
  }

  get exhausted(): boolean {
    return this.settled || this.#offset >= this.#items.length;
  }

  get pending(): number {
    return this.settled ? 0 : this.#items.length - this.#offset;
  }

  next(): BatchSpec | undefined {
    if (this.exhausted) return undefined;
    const first = this.#offset;
    this.#offset = Math.min(this.#items.length, first + this.#chunksize);
    return this.spec(this.#items.slice(first, this.#offset), first);
  }

  done(batch: Batch, outcome: BatchOutcome): void {
    if (this.settled) return;
    if (outcome.errors.length) {
      const [position, error] = outcome.errors[0]!;
      return this.finish({ ok: false, error: withIndex(error, batch.spec.firstIndex + position) });
    }
    this.#chunks[batch.spec.firstIndex / this.#chunksize] = outcome.values as T[];
    this.#remaining -= outcome.values.length;
    if (this.#remaining > 0) return;
    // Joined once, in order, into a packed array (new Array(n) would be holey, and a holey list
    // passed on to another process serializes as index/value pairs): by concat, which copies each
    // chunk in one go, while the chunks are few enough to be its arguments; else with push.
    const chunks = this.#chunks;
    let results: T[];
    if (chunks.length <= MAX_CONCAT) results = ([] as T[]).concat(...chunks);
    else {
      results = [];
      for (const chunk of chunks) for (const value of chunk) results.push(value);
    }
    this.finish({ ok: true, value: results });
  }
}

/**
 * A lazy input, pulled a chunk at a time only when a worker can take it and the consumer is not
 * too far behind; results handed out one by one, in input order or as they finish.
 */
export class ImapJob<T> extends BaseJob {
  readonly #source: Iterator<unknown> | AsyncIterator<unknown>;
  readonly #async: boolean;
  readonly #chunksize: number;
  readonly #ordered: boolean;
  /** Most tasks pulled and not yet consumed. */
  readonly #highWater: number;
  readonly #wake: () => void;
  #pulled = 0;
  #consumed = 0;
  #ready: BatchSpec | undefined;
  #pulling = false;
  #paused = false;
  #sourceDone = false;
  #sourceError: { error: unknown; at: number } | undefined;
  #ended = false;
  /** Ordered: results by index. Unordered: in arrival order. */
  readonly #byIndex = new Map<number, Outcome<T>>();
  readonly #arrived: Outcome<T>[] = [];
  #waiter: ((result: IteratorResult<T>) => void) | undefined;
  #waiterReject: ((error: unknown) => void) | undefined;

  /** `options.call` names the call in errors: `Pool-1.imap()`. */
  constructor(
    target: JobTarget,
    source: Iterable<unknown> | AsyncIterable<unknown>,
    options: { chunksize: number; ordered: boolean; highWater: number; wake: () => void; call: string },
    context: AsyncResource,
    sink: OutputSink,
  ) {
    super(target, context, sink, options.call);
    this.#async = typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function";
    this.#source = this.#async
      ? (source as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      : (source as Iterable<unknown>)[Symbol.iterator]();
    this.#chunksize = options.chunksize;
    this.#ordered = options.ordered;
    this.#highWater = Math.max(options.highWater, options.chunksize);
    this.#wake = options.wake;
  }

  get exhausted(): boolean {
    return this.#ended || ((this.#sourceDone || this.#sourceError !== undefined) && !this.#ready);
  }

  /** The scheduler's side: a chunk, if one is pulled and the consumer is not too far behind. */
  next(): BatchSpec | undefined {
    if (this.#ended) return undefined;
    // A sync source is pulled here and now; an async one was pulled ahead, or is being pulled.
    this.#pullAhead();
    const ready = this.#ready;
    this.#ready = undefined;
    if (ready) this.#pullAhead();
    return ready;
  }

  #pullAhead(): void {
    if (this.#pulling || this.#ready || this.#sourceDone || this.#sourceError || this.#ended) return;
    // Once at the high-water mark, pulling resumes only when the consumer has taken half of it:
    // the workers then get many chunks in one write, not one chunk per result consumed.
    const ahead = this.#pulled - this.#consumed;
    if (ahead >= this.#highWater) this.#paused = true;
    else if (this.#paused && ahead <= this.#highWater / 2) this.#paused = false;
    if (this.#paused) return;
    const first = this.#pulled;
    const items: unknown[] = [];
    // Takes one step of the source; whether to take another for this chunk.
    const take = (step: IteratorResult<unknown>): boolean => {
      if (step.done) this.#sourceDone = true;
      else items.push(step.value);
      return !step.done && items.length < this.#chunksize;
    };
    const pulled = (error?: { error: unknown }) => {
      if (error) this.#sourceError = { error: error.error, at: first + items.length };
      this.#pulled += items.length;
      if (items.length && !this.#ended) this.#ready = this.spec(items, first);
      this.#checkEnd();
    };
    if (!this.#async) {
      try {
        while (take((this.#source as Iterator<unknown>).next()));
      } catch (error) {
        return pulled({ error });
      }
      return pulled();
    }
    this.#pulling = true;
    void (async () => {
      let failure: { error: unknown } | undefined;
      try {
        while (take(await (this.#source as AsyncIterator<unknown>).next()));
      } catch (error) {
        failure = { error };
      }
      this.#pulling = false;
      pulled(failure);
      this.#wake();
    })();
  }

  done(batch: Batch, outcome: BatchOutcome): void {
    const failures = outcome.errors.length ? new Map(outcome.errors) : undefined;
    for (let i = 0; i < batch.spec.items.length; i++) {
      const index = batch.spec.firstIndex + i;
      this.#arrive(index, failures?.has(i) ? { ok: false, error: withIndex(failures.get(i), index) } : { ok: true, value: outcome.values[i] as T });
    }
  }

  failed(batch: Batch, errorAt: (position: number) => unknown): void {
    for (let i = 0; i < batch.spec.items.length; i++) this.#arrive(batch.spec.firstIndex + i, { ok: false, error: errorAt(i) });
  }

  cancel(error: unknown): void {
    if (this.#ended) return;
    this.#sourceError ??= { error, at: this.#consumed };
    this.#ended = true;
    this.#deliver();
  }

  #arrive(index: number, outcome: Outcome<T>): void {
    if (this.#ended && !this.#waiter) return;
    if (this.#ordered) this.#byIndex.set(index, outcome);
    else this.#arrived.push(outcome);
    this.#deliver();
  }

  #checkEnd(): void {
    this.#deliver();
  }

  /** Hand the next result to a waiting consumer, if there is one to hand. */
  #deliver(): void {
    const resolve = this.#waiter;
    const reject = this.#waiterReject;
    if (!resolve || !reject) return;
    let outcome: Outcome<T> | undefined;
    if (this.#ordered) {
      outcome = this.#byIndex.get(this.#consumed);
      if (outcome) this.#byIndex.delete(this.#consumed);
    } else outcome = this.#arrived.shift();
    if (!outcome && this.#sourceError && this.#consumed >= this.#sourceError.at) outcome = { ok: false, error: this.#sourceError.error };
    if (outcome) {
      this.#waiter = this.#waiterReject = undefined;
      this.#consumed++;
      this.#wake();
      const found = outcome;
      // The consumer's `for await` resumes in its own context, whoever resolves.
      if (found.ok) resolve({ value: found.value, done: false });
      else {
        this.#ended = true;
        reject(found.error);
      }
      return;
    }
    if ((this.#sourceDone && this.#consumed >= this.#pulled) || this.#ended) {
      this.#waiter = this.#waiterReject = undefined;
      this.#ended = true;
      resolve({ value: undefined, done: true });
    }
  }

  /** The consumer's side (for await ... of). */
  iterator(): AsyncIterableIterator<T> {
    return {
      next: () => this.#take(),
      return: async () => {
        this.#ended = true;
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  #take(): Promise<IteratorResult<T>> {
    if (this.#waiter) return Promise.reject(new Error("imap(): wait for one next() before calling it again"));
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      this.#waiter = resolve;
      this.#waiterReject = reject;
      this.#deliver();
      this.#wake();
    });
  }
}
