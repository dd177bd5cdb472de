/**
 * Pool: Python's `multiprocessing.Pool` on long-lived worker processes.
 *
 * `new Pool(4)`, then `applyAsync`, `map`, `imap`, `starmap` and their kin; `close()` then
 * `join()`, or `terminate()`. A target is a function from a cell (checked for names it cannot take
 * along before anything is sent) or a module export, as for `spawn`. Each call becomes a job for
 * the scheduler (scheduler.ts); workers are child processes (local-worker.ts). What a task prints
 * shows in the cell that submitted it, tagged with the worker's pid; the pool's timeline shows in
 * the cell of its first submission, live, and stays there as the final picture after `join()`.
 */
import { AsyncResource } from "node:async_hooks";
import * as util from "node:util";
import { JUPYTER_DISPLAY, LIVE_DISPLAY_ID } from "../../protocol/kernel-bridge";
import { isInKernel, onInterrupt, type MimeBundle } from "../../render/display";
import { LiveDisplay } from "../../render/live";
import { renderPoolTimeline, renderPoolText, type PoolSnapshot } from "../../render/pool-timeline";
import { cpuCount } from "../current";
import { describe, optionError } from "../option-errors";
import { track, untrack } from "../process/registry";
import { toTargetSpec, type ModuleTarget } from "../process/target";
import { normalizeTimeout } from "../timeouts";
import { AsyncResult } from "./async-result";
import { AbortError } from "./errors";
import { ApplyJob, ApplyRunJob, ImapJob, MapJob, type JobTarget, type Outcome } from "./jobs";
import { keywordProcessesError } from "./keyword-arguments";
import { localWorkers } from "./local-worker";
import { TaggedOutput } from "./output";
import { Scheduler, type Job } from "./scheduler";
import { poolSnapshot, poolStats, type PoolStats } from "./snapshot";
import type { WorkerStarter } from "./transport";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn<A extends unknown[] = any[], R = any> = ((...args: A) => R) | ModuleTarget;
type Result<F> = F extends (...args: never[]) => infer R ? Awaited<R> : unknown;
type Item<F> = F extends (arg: infer X, ...rest: never[]) => unknown ? X : unknown;
type AnyIterable<T> = Iterable<T> | AsyncIterable<T>;

export interface PoolOptions {
  /** Runs once in each worker before its first task, as `initializer(...initargs)`. */
  initializer?: Fn;
  /** @default [] */
  initargs?: unknown[];
  /** Replace a worker after it ran this many tasks (Python's maxtasksperchild). @default undefined (never) */
  maxTasksPerChild?: number | null;
  /** Seconds a task may run; past that it fails with TimeoutError and its worker is replaced. @default undefined (no limit) */
  taskTimeout?: number | null;
  /** @default "Pool-N" */
  name?: string;
  /** Working directory of the workers. @default process.cwd() */
  cwd?: string;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Node flags for the workers. @default [] */
  execArgv?: string[];
  /** How workers are started: local child processes unless given (a pool on other hosts brings its own). */
  workers?: WorkerStarter;
}

export interface ApplyOptions<R> {
  /** Called with the result in the submitting cell (Python's callback). */
  callback?: (result: R) => void;
  /** Called with the error (Python's error_callback). */
  errorCallback?: (error: unknown) => void;
  /** Aborts the task: skipped if it has not started, its worker ended and replaced if it runs. */
  signal?: AbortSignal;
}

/** The options of a call that passes none: checked once, not per call. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const NO_OPTIONS: ApplyOptions<any> = Object.freeze({});
const OPTIONS = new Set(["initializer", "initargs", "maxTasksPerChild", "taskTimeout", "name", "cwd", "env", "execArgv", "workers"]);
let pools = 0;

/** The submissions of one tick: their cell context, their jobs, and the run of applies open now (the last job submitted, if a run). */
interface Tick {
  context: AsyncResource;
  jobs: Job[];
  run: ApplyRunJob | undefined;
}

function checkPositiveInteger(where: string, option: string, value: unknown, orNone: boolean): number | undefined {
  if (orNone && (value === undefined || value === null)) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw optionError(where, option, `a whole number >= 1${orNone ? ", or undefined" : ""}`, value);
  }
  return value;
}

function isIterable(value: unknown): value is AnyIterable<unknown> {
  return (
    value !== null && value !== undefined && typeof value !== "string" &&
    (typeof (value as Iterable<unknown>)[Symbol.iterator] === "function" ||
      typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function")
  );
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Python's default chunksize for map: divmod(len, 4 * processes), rounded up. */
export function defaultChunksize(length: number, processes: number): number {
  const size = Math.floor(length / (processes * 4));
  return length % (processes * 4) ? size + 1 : Math.max(size, 1);
}

export class Pool {
  readonly name: string;
  /** How many workers run tasks at once. */
  readonly processes: number;
  readonly #scheduler: Scheduler;
  /** Targets by source (or module and export), numbered once. */
  readonly #targets = new Map<string, JobTarget>();
  readonly #byFunction = new WeakMap<object, JobTarget>();
  readonly #output = new TaggedOutput();
  readonly #context = new AsyncResource("forklab.Pool");
  readonly #live = new LiveDisplay(() => this.#bundle(), { kind: "forklab-pool" });
  readonly #cwd: string;
  readonly #stoppable;
  #fids = 0;
  /** applyAsync calls so far: the index of the next one. */
  #applies = 0;
  /** Whether a frontend shows the timeline (decided once: a pool is made in a cell or a script). */
  readonly #inKernel = isInKernel();
  /**
   * The submissions of the current tick: one cell context and one interrupt listener for all of
   * them (a loop that submits 20k tasks registers one, not 20k).
   */
  #tick: Tick | undefined;
  #state: "running" | "closed" | "terminated" = "running";
  #joined = false;

  constructor(processes?: number | null, options: PoolOptions = {}) {
    const where = "new Pool()";
    const keywords = keywordProcessesError(where, processes);
    if (keywords) throw keywords;
    if (processes !== undefined && processes !== null && (typeof processes !== "number" || !Number.isInteger(processes) || processes < 1)) {
      throw new TypeError(`${where}: processes must be a whole number >= 1 (as Python's "Number of processes must be at least 1"), or undefined for the CPU count (${cpuCount()}), got ${describe(processes)}`);
    }
    if (typeof options !== "object" || options === null) throw new TypeError(`${where}: options must be an object, got ${describe(options)}`);
    for (const key of Object.keys(options)) {
      if (!OPTIONS.has(key)) throw new TypeError(`${where}: unknown option ${key}; the options are ${[...OPTIONS].join(", ")}`);
    }
    const maxTasksPerChild = checkPositiveInteger(where, "maxTasksPerChild", options.maxTasksPerChild, true);
    const taskTimeout = normalizeTimeout(where, options.taskTimeout, "taskTimeout");
    if (options.name !== undefined && typeof options.name !== "string") throw optionError(where, "name", "a string", options.name);
    const initargs = options.initargs ?? [];
    if (!Array.isArray(initargs)) throw optionError(where, "initargs", "an array of the initializer's arguments", initargs);
    if (options.execArgv !== undefined && !(Array.isArray(options.execArgv) && options.execArgv.every((a) => typeof a === "string"))) {
      throw optionError(where, "execArgv", "an array of strings", options.execArgv);
    }
    this.#cwd = options.cwd ?? process.cwd();
    const initializer = options.initializer === undefined ? undefined : toTargetSpec(options.initializer, process.cwd()).spec;
    this.processes = processes ?? cpuCount();
    this.name = options.name ?? `Pool-${++pools}`;
    const start = options.workers ?? localWorkers({ cwd: this.#cwd, env: options.env ?? process.env, execArgv: options.execArgv ?? [] });
    this.#scheduler = new Scheduler({
      processes: this.processes,
      start,
      init: { poolName: this.name, initializer, initargs },
      maxTasksPerChild,
      taskTimeout,
      onChange: () => this.#live.changed(),
      output: (pid, stream, text) => this.#context.runInAsyncScope(() => this.#output.write(pid, stream, text)),
    });
    this.#stoppable = {
      isAlive: () => this.#scheduler.workers.some((w) => !w.end),
      keepAlive: () => (this.#scheduler.workers.some((w) => !w.end) ? this.#scheduler.keepAlive() : undefined),
      terminate: () => void this.terminate(),
      kill: () => void this.terminate(),
      join: () => this.#scheduler.exited(),
    };
    track(this.#stoppable);
    // Interrupting the cell that made the pool ends the pool (as KeyboardInterrupt leaves Python's `with Pool()`).
    const unsubscribe = onInterrupt(() => void this.terminate("the cell was interrupted"));
    void this.#scheduler.exited().then(() => (unsubscribe(), untrack(this.#stoppable)));
  }

  /** Run `fn(...args)` in a worker; its result (Python's apply). */
  apply<F extends Fn>(fn: F, args?: unknown[]): Promise<Result<F>> {
    return this.applyAsync(fn, args).get();
  }

  /** Submit `fn(...args)`; an AsyncResult at once (Python's apply_async). */
  applyAsync<F extends Fn>(fn: F, args: unknown[] = [], options: ApplyOptions<Result<F>> = NO_OPTIONS): AsyncResult<Result<F>> {
    const target = this.#target("applyAsync()", fn, true);
    if (!Array.isArray(args)) throw new TypeError(`applyAsync(): args must be an array of fn's arguments, got ${describe(args)}; e.g. pool.applyAsync(fn, [1, "a"])`);
    const { callback, errorCallback, signal } = this.#applyOptions("applyAsync()", options);
    if (!callback && !errorCallback && !signal) {
      // The usual call (a loop of 20k): it joins the run of the calls just before it, if they were
      // of the same function in this tick and nothing else was submitted since; its run's job
      // settles the result itself, no closure in between.
      const result = new AsyncResult<Result<F>>();
      const tick = this.#currentTick();
      const run = tick.run;
      if (run && run.fid === target.fid && run.add(args, result as AsyncResult<unknown>)) {
        this.#applies++;
        if (this.#inKernel) this.#live.show();
        this.#scheduler.wake();
        return result;
      }
      const job = new ApplyRunJob(target, this.#applies++, tick.context, this.#sink);
      job.add(args, result as AsyncResult<unknown>);
      this.#submit(job);
      tick.run = job;
      return result;
    }
    return new AsyncResult<Result<F>>((settle) => {
      const context = this.#currentTick().context;
      const finish = (outcome: Outcome<Result<F>>) => {
        signal?.removeEventListener("abort", onAbort);
        settle(outcome);
        this.#callBack(context, outcome, callback, errorCallback);
      };
      const job = new ApplyJob<Result<F>>(target, args, this.#applies++, context, this.#sink, finish);
      const onAbort = () => this.#scheduler.abortJob(job, new AbortError("The task was aborted through its signal", { cause: signal?.reason }));
      this.#submit(job);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * `fn(item)` for each item, in chunks; all results in order (Python's map). A task that throws
   * rejects the map with its error, its `index` set to the item's index (as for starmap and imap).
   */
  map<F extends Fn>(fn: F, iterable: AnyIterable<Item<F>>, chunksize?: number): Promise<Result<F>[]> {
    // Its errors name map(), the call that was made, not the mapAsync() it runs on.
    return this.#mapAsync<Result<F>>("map()", fn, iterable, chunksize, {}, false).get();
  }

  mapAsync<F extends Fn>(fn: F, iterable: AnyIterable<Item<F>>, chunksize?: number, options: Omit<ApplyOptions<Result<F>[]>, "signal"> = {}): AsyncResult<Result<F>[]> {
    return this.#mapAsync("mapAsync()", fn, iterable, chunksize, options, false);
  }

  /** `fn(...args)` for each argument list (Python's starmap). */
  starmap<F extends Fn>(fn: F, iterable: AnyIterable<unknown[]>, chunksize?: number): Promise<Result<F>[]> {
    return this.#mapAsync<Result<F>>("starmap()", fn, iterable, chunksize, {}, true).get();
  }

  starmapAsync<F extends Fn>(fn: F, iterable: AnyIterable<unknown[]>, chunksize?: number, options: Omit<ApplyOptions<Result<F>[]>, "signal"> = {}): AsyncResult<Result<F>[]> {
    return this.#mapAsync("starmapAsync()", fn, iterable, chunksize, options, true);
  }

  /** Results one by one, in order; the input is pulled only as workers free up (Python's imap). */
  imap<F extends Fn>(fn: F, iterable: AnyIterable<Item<F>>, chunksize = 1): AsyncIterableIterator<Result<F>> {
    return this.#imap("imap()", fn, iterable, chunksize, true);
  }

  /** As imap, in the order tasks finish (Python's imap_unordered). */
  imapUnordered<F extends Fn>(fn: F, iterable: AnyIterable<Item<F>>, chunksize = 1): AsyncIterableIterator<Result<F>> {
    return this.#imap("imapUnordered()", fn, iterable, chunksize, false);
  }

  /** No more tasks: workers end once the submitted ones are done. Call join() to wait. */
  close(): void {
    if (this.#state === "running") this.#state = "closed";
    this.#scheduler.close();
  }

  /** Wait until every task is done and every worker has exited; after close() or terminate(), as in Python. */
  async join(): Promise<void> {
    if (this.#state === "running") {
      throw new Error(`${this.name} is still running: call pool.close() (or terminate()) before join(), as in Python`);
    }
    await this.#scheduler.idle();
    await this.#scheduler.exited();
    this.#joined = true;
    this.#live.final();
  }

  /** End every worker now; tasks not finished reject. Resolves when the workers have exited. */
  async terminate(reason = "terminate()"): Promise<void> {
    if (this.#state !== "terminated") {
      this.#state = "terminated";
      this.#scheduler.terminate(`${this.name} was terminated (${reason}) before the task finished`);
    }
    await this.#scheduler.exited();
    this.#live.final();
  }

  /** `await using pool = new Pool()`: terminate() at the end of the block, as Python's `with Pool()` does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.terminate("end of its using block");
  }

  /** Per task: worker pid, wait and run time, outcome; and the totals. */
  stats(): PoolStats {
    return poolStats(this.#snapshotData(), this.#scheduler);
  }

  get [LIVE_DISPLAY_ID](): string | undefined {
    return this.#live.displayId;
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return this.#bundle();
  }

  [util.inspect.custom](): string {
    return renderPoolText(this.#snapshotData());
  }

  toString(): string {
    return `<Pool name='${this.name}' processes=${this.processes} ${this.#state}>`;
  }

  readonly #sink = (pid: number | undefined, stream: "stdout" | "stderr", text: string): void => this.#output.write(pid, stream, text);

  #snapshotData(): PoolSnapshot {
    return poolSnapshot(this.#scheduler, { name: this.name, processes: this.processes, state: this.#joined ? "joined" : this.#state });
  }

  #bundle(): MimeBundle {
    return renderPoolTimeline(this.#snapshotData());
  }

  #submit(job: Job): void {
    if (this.#state !== "running") {
      throw new Error(`Pool not running: ${this.name} was ${this.#state === "closed" ? "closed" : "terminated"}, so it takes no new tasks (as Python's ValueError); create a new Pool`);
    }
    this.#scheduler.add(job);
    if (this.#inKernel) this.#live.show();
    const tick = this.#currentTick();
    tick.jobs.push(job);
    // Whatever is submitted after this job goes after it: no later call joins an earlier run.
    tick.run = undefined;
  }

  /** The cell context of what is submitted now; interrupting that cell ends those jobs. */
  #currentTick(): Tick {
    if (this.#tick) return this.#tick;
    const tick: Tick = (this.#tick = { context: new AsyncResource("forklab.PoolTask"), jobs: [], run: undefined });
    setImmediate(() => (this.#tick = undefined));
    // Interrupting the cell ends its jobs; the workers running their tasks are replaced.
    onInterrupt(() => {
      for (const job of tick.jobs) this.#scheduler.abortJob(job, new AbortError("The cell that submitted the task was interrupted"));
    });
    return tick;
  }

  #target(where: string, fn: unknown, star: boolean): JobTarget {
    if (this.#state !== "running") this.#submit(undefined as never);
    if (typeof fn !== "function" && (typeof fn !== "object" || fn === null)) {
      throw new TypeError(`${where}: fn must be a function or { module: "./tasks.ts", export: "name" }, got ${describe(fn)}`);
    }
    // The same function again (20k applyAsync calls in a loop) costs one lookup, not its source.
    let known = typeof fn === "function" ? this.#byFunction.get(fn) : undefined;
    if (!known) {
      // By source: a loop that passes a new arrow function each time still defines it once per worker.
      const key = typeof fn === "function" ? Function.prototype.toString.call(fn) : `${(fn as ModuleTarget).module}\0${(fn as ModuleTarget).export ?? "default"}`;
      known = this.#targets.get(key);
      if (!known) this.#targets.set(key, (known = { fid: ++this.#fids, target: toTargetSpec(fn, process.cwd(), "pool").spec, star }));
      if (typeof fn === "function") this.#byFunction.set(fn, known);
    }
    return known.star === star ? known : { ...known, star };
  }

  #applyOptions<R>(where: string, options: ApplyOptions<R>): ApplyOptions<R> {
    if (options === NO_OPTIONS) return options;
    if (typeof options !== "object" || options === null) throw new TypeError(`${where}: options must be an object, got ${describe(options)}`);
    for (const key of Object.keys(options)) {
      if (key !== "callback" && key !== "errorCallback" && key !== "signal") {
        throw new TypeError(`${where}: unknown option ${key}; the options are callback, errorCallback, signal`);
      }
    }
    if (options.callback !== undefined && typeof options.callback !== "function") throw optionError(where, "callback", "a function", options.callback);
    if (options.errorCallback !== undefined && typeof options.errorCallback !== "function") throw optionError(where, "errorCallback", "a function", options.errorCallback);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw optionError(where, "signal", "an AbortSignal", options.signal);
    return options;
  }

  /**
   * Python's callback / error_callback, in the submitting cell (what it prints shows there). A
   * result awaited needs no context: its awaiter's continuation runs in the awaiter's own.
   */
  #callBack<R>(context: AsyncResource, outcome: Outcome<R>, callback?: (result: R) => void, errorCallback?: (error: unknown) => void): void {
    const call = outcome.ok ? callback : errorCallback;
    if (!call) return;
    context.runInAsyncScope(() => {
      try {
        call((outcome.ok ? outcome.value : outcome.error) as R);
      } catch (error) {
        process.stderr.write(`forklab: a ${outcome.ok ? "callback" : "errorCallback"} of ${this.name} threw: ${util.inspect(error)}\n`);
      }
    });
  }

  #chunksize(where: string, chunksize: unknown): number | undefined {
    return checkPositiveInteger(where, "chunksize", chunksize, true);
  }

  #mapAsync<R>(
    where: string,
    fn: Fn,
    iterable: AnyIterable<unknown>,
    chunksize: number | undefined,
    options: Omit<ApplyOptions<R[]>, "signal">,
    star: boolean,
  ): AsyncResult<R[]> {
    const target = this.#target(where, fn, star);
    const size = this.#chunksize(where, chunksize);
    if (!isIterable(iterable)) throw new TypeError(`${where}: iterable must be an array, an iterable or an async iterable, got ${describe(iterable)}`);
    const { callback, errorCallback } = this.#applyOptions(where, options);
    const context = this.#currentTick().context;
    return new AsyncResult<R[]>((settle) => {
      const finish = (outcome: Outcome<R[]>) => {
        settle(outcome);
        this.#callBack(context, outcome, callback, errorCallback);
      };
      const start = (items: unknown[]) => {
        if (star) {
          const bad = items.findIndex((item) => !Array.isArray(item));
          if (bad >= 0) throw new TypeError(`${where}: each item must be an array of fn's arguments; item ${bad} is ${describe(items[bad])}`);
        }
        this.#submit(new MapJob<R>(target, items, size ?? defaultChunksize(items.length, this.processes), `${this.name}.${where}`, context, this.#sink, finish));
      };
      // As Python's map, the whole input is read first (imap is the lazy one).
      if (Array.isArray(iterable)) return start(iterable);
      if (typeof (iterable as Iterable<unknown>)[Symbol.iterator] === "function") return start([...(iterable as Iterable<unknown>)]);
      void collect(iterable as AsyncIterable<unknown>).then(
        (items) => context.runInAsyncScope(() => {
          try {
            start(items);
          } catch (error) {
            finish({ ok: false, error });
          }
        }),
        (error: unknown) => finish({ ok: false, error }),
      );
    });
  }

  #imap<R>(where: string, fn: Fn, iterable: AnyIterable<unknown>, chunksize: number, ordered: boolean): AsyncIterableIterator<R> {
    const target = this.#target(where, fn, false);
    const size = this.#chunksize(where, chunksize) ?? 1;
    if (!isIterable(iterable)) throw new TypeError(`${where}: iterable must be an array, an iterable or an async iterable, got ${describe(iterable)}`);
    const job = new ImapJob<R>(
      target,
      iterable,
      // Pulled ahead of the consumer: enough to keep every worker and its prefetch busy, no more.
      { chunksize: size, ordered, highWater: this.processes * (2 * size + 1024), wake: () => this.#scheduler.wake(), call: `${this.name}.${where}` },
      this.#currentTick().context,
      this.#sink,
    );
    this.#submit(job);
    return job.iterator();
  }
}
