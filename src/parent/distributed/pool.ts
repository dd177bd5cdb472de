/**
 * The distributed Pool: Python's Pool surface (apply, applyAsync, map, imap, imapUnordered,
 * starmap, close, join, terminate) with tasks run by `forklab worker` processes on any host,
 * through a BullMQ queue on Redis.
 *
 * BullMQ is the scheduler here: any worker takes any waiting job, so the local Pool's per-worker
 * scheduler does not apply; this file only adds jobs and settles each caller's promise once, from
 * the queue's event stream. A chunk of `map` is one job (as one message per chunk locally).
 *
 * Delivery is at least once: a task whose worker died is run again by another worker (BullMQ's
 * stalled-job recovery), and one whose child process crashed is retried up to `attempts`; the
 * caller gets exactly one result, or one error saying how many times and where it failed.
 */
import { randomUUID } from "node:crypto";
import { Job, Queue, QueueEvents, type ConnectionOptions } from "bullmq";
import type { Redis } from "ioredis";
import { clientOptions, connectRedis, parseRedisUrl, probeRedis, type RedisAddress, type RedisConnectionOptions } from "../../distributed/connection";
import {
  cancelChannel,
  decodeValue,
  terminatedKey,
  TERMINATED_KEPT_MS,
  encodeValue,
  FAILURE_LOG_PREFIX,
  jobName,
  START_LOG_PREFIX,
  workersKey,
  type AttemptFailure,
  type RemoteTarget,
  type TaskData,
  type TaskResult,
  type TaskStart,
  type TaskStopped,
  type WorkerInfo,
} from "../../distributed/tasks";
import { DistributedTaskError, PoolTerminatedError, RedisConnectionError, type FailedAttempt } from "../../distributed/errors";
import { ON_REDIS, type OnRedisKind } from "../../distributed/on-redis";
import { findUncloneable, uncloneableMessage } from "../../protocol/clone";
import { fromErrorRecord, setTargetSource } from "../../protocol/errors";
import { JUPYTER_DISPLAY, LIVE_DISPLAY_ID } from "../../protocol/kernel-bridge";
import { isInKernel } from "../../render/display";
import { LiveDisplay } from "../../render/live";
import { renderDistributedPool, type DistributedPoolView } from "../../render/distributed-pool";
import { optionError } from "../option-errors";
import { checkFunctionTarget } from "../target-check";
import { normalizeTimeout, timesOut } from "../timeouts";
import { AsyncResult, TimeoutError } from "./async-result";
import { withRemoteQueues } from "./remote-args";

export interface DistributedPoolOptions {
  /** The Redis URL: "redis://[user:password@]host:port[/db]", or "rediss://" for TLS. */
  redis: string;
  /** The queue's name; start workers with `forklab worker --queue NAME`. */
  queue: string;
  /** Redis client options passed through (tls, username, password, db, ...). */
  redisOptions?: RedisConnectionOptions;
  /** How many times a task may fail (its child crashed, or its target threw with retryErrors) before the caller gets an error. @default 3 */
  attempts?: number;
  /** Retry a task whose target threw, as a crashed one is. @default false (the error goes to the caller at once, as in a local Pool) */
  retryErrors?: boolean;
  /** Seconds to wait for Redis to answer at the start before failing, and at the end (terminate(), join()) before leaving without it. @default 5 */
  connectTimeout?: number;
}

/** A module target as a remote worker resolves it: relative to its --root. */
export interface RemoteModuleTarget {
  module: string;
  export?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RemoteTargetLike<A extends unknown[] = any[], R = unknown> = ((...args: A) => R) | RemoteModuleTarget;

interface Pending {
  resolve(values: unknown[]): void;
  reject(error: unknown): void;
  label: string;
  calls: number;
  /** Its place in submission order (the number in its job id). */
  seq: number;
  /** The worker running it, or the last one that did (until its lost attempt is counted against it). */
  worker?: string;
  state: "queued" | "running";
  /** Its worker said that the attempt failed: the task's next return to the queue is a retry. */
  attemptFailed?: boolean;
  /** Redis has answered its add: before that, not finding it there says nothing. */
  added?: boolean;
}

interface WorkerRow {
  id: string;
  running: number;
  /** Calls of this pool's tasks it finished. */
  done: number;
  /**
   * Attempts of this pool's tasks that stopped on it: failed (a crashed child, an error, a refusal)
   * or lost (it died or lost Redis during them). Each is either retried elsewhere or the task's
   * last; the pool's own `failed` counts tasks that failed for good.
   */
  attemptsFailed: number;
  alive: boolean;
}

/**
 * The failedReason BullMQ gives a task that stalled more often than its workers' maxStalledCount:
 * its last stall put it back in the queue marked to fail, and the next worker to take it fails it
 * without running it (moveStalledJobsToWait's deferred failure).
 */
const STALLED_TOO_OFTEN = "job stalled more than allowable limit";

let poolCount = 0;

/** A worker that missed this many beats is gone (it died, or lost Redis). */
const WORKER_MISSED_BEATS = 3;
/** The beat of a worker whose record does not say. */
const DEFAULT_BEAT_MS = 5000;
/** The live picture and the workers' registry are refreshed this often while tasks are pending. */
const REFRESH_SECONDS = 1;
/** How many pending jobs are read back from Redis at once: their reads go out together, about one round trip. */
const RECONCILE_BATCH = 200;
/** Seconds between the periodic read-backs of a batch of pending jobs, while any are pending. */
const RECONCILE_EVERY = 5;
/**
 * Internal, not an option: a pool's RECONCILE_EVERY, set by the tests; one that checks the read-back
 * after a reconnect turns the periodic one off, which would otherwise find the same jobs later.
 */
const RECONCILE_EVERY_KEY = Symbol.for("forklab.distributedPool.reconcileEvery");

function checkOptions(options: unknown): Required<Omit<DistributedPoolOptions, "redisOptions">> & { address: RedisAddress } {
  const where = "new Pool({ redis })";
  if (typeof options !== "object" || options === null) throw optionError(where, "options", "an object", options);
  const o = options as DistributedPoolOptions;
  const address = parseRedisUrl(o.redis, "redis", o.redisOptions ?? {});
  if (typeof o.queue !== "string" || !/^[A-Za-z0-9_.-]+$/.test(o.queue)) {
    throw optionError(where, "queue", 'a name of letters, digits, "_", "." or "-" (the --queue of its workers)', o.queue);
  }
  const attempts = o.attempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1) throw optionError(where, "attempts", "a whole number, 1 or more", attempts);
  const retryErrors = o.retryErrors ?? false;
  if (typeof retryErrors !== "boolean") throw optionError(where, "retryErrors", "true or false", retryErrors);
  const connectTimeout = normalizeTimeout(where, o.connectTimeout ?? 5, "connectTimeout")!;
  const known = new Set(["redis", "queue", "redisOptions", "attempts", "retryErrors", "connectTimeout"]);
  for (const key of Object.keys(o)) {
    if (!known.has(key)) throw optionError(where, key, `one of the known options (${[...known].join(", ")})`, (o as never)[key]);
  }
  return { redis: o.redis, queue: o.queue, attempts, retryErrors, connectTimeout, address };
}

/**
 * Drop a BullMQ object's connections without waiting for Redis: its close() and disconnect() both
 * wait for an answer, which a server that is away never gives. (BullMQ's Redis backend keeps them
 * as `connection` and `blockingConnection`; `disconnect(false)` ends each client at once.)
 */
function dropConnections(owner: Queue<TaskData, TaskResult> | QueueEvents | undefined): void {
  type Connection = { disconnect(wait: boolean): Promise<void> } | undefined;
  const backend = owner?.getBackend() as unknown as { connection?: Connection; blockingConnection?: Connection } | undefined;
  for (const connection of [backend?.connection, backend?.blockingConnection]) void connection?.disconnect(false).catch(() => {});
}

function toRemoteTarget(target: unknown): RemoteTarget {
  if (typeof target === "function") {
    // A pool's task gets only its item: the advice for what it uses is a pool's (apply, starmap).
    const source = checkFunctionTarget(target as (...args: never[]) => unknown, "pool");
    return { kind: "source", source, name: (target as { name?: string }).name ?? "" };
  }
  if (typeof target === "object" && target !== null && typeof (target as RemoteModuleTarget).module === "string") {
    const t = target as RemoteModuleTarget;
    const exportName = t.export ?? "default";
    if (typeof exportName !== "string" || !exportName) throw optionError("Pool task", "target.export", "the name of an exported function", t.export);
    return { kind: "module", module: t.module, export: exportName };
  }
  throw optionError("Pool task", "target", 'a function or { module: "./tasks.ts", export: "name" } (resolved under each worker\'s --root)', target);
}

/** How a submission's calls are named in errors: apply's `args`; a map's item `iterable[i]` (a starmap's item is its arguments). */
type CallNames = "apply" | "map" | "starmap";

/**
 * The calls' arguments as they travel to a worker; a value that cannot cross is named by its path,
 * and in a map by its item (`first` is the index of this chunk's first call in the iterable).
 * A queue on Redis crosses as itself (the task's child opens it by URL and name); `queues` says
 * that the worker has markers to turn into queues.
 */
function encodeArgs(argsList: unknown[][], names: CallNames, first: number, pool: RedisAddress): { args: string; queues: boolean } {
  try {
    return { args: encodeValue(argsList), queues: false };
  } catch (error) {
    const pathOf = (j: number): string => (names === "apply" ? "args" : `iterable[${first + j}]`);
    // A map's call has one argument, its item: named as the item.
    const named = (args: unknown[], j: number): unknown => (names === "map" ? args[0] : args);
    let queues = false;
    const replaced = argsList.map((args, j) => {
      const { value, found } = withRemoteQueues(named(args, j), pathOf(j), pool);
      queues ||= found;
      return names === "map" ? [value] : (value as unknown[]);
    });
    try {
      return { args: encodeValue(replaced), queues };
    } catch {
      for (const [j, args] of replaced.entries()) {
        const found = findUncloneable(named(args, j), pathOf(j));
        if (found) throw new TypeError(uncloneableMessage(found, "to a worker"), { cause: error });
      }
      throw error;
    }
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export class DistributedPool {
  readonly queueName: string;
  readonly address: RedisAddress;
  readonly #options: ReturnType<typeof checkOptions>;
  readonly #id = `p${process.pid}x${(++poolCount).toString(36)}${randomUUID().slice(0, 6)}`;
  #seq = 0;
  readonly #pending = new Map<string, Pending>();
  readonly #ready: Promise<void>;
  #queue: Queue<TaskData, TaskResult> | undefined;
  #events: QueueEvents | undefined;
  #client: Redis | undefined;
  #state: "running" | "closed" | "terminated" = "running";
  readonly #workers = new Map<string, WorkerRow>();
  #registered: WorkerInfo[] = [];
  /** When the registry was last read (epoch ms): a worker is judged alive as of then, not as of now. */
  #registeredAt = 0;
  #counts = { done: 0, failed: 0, retries: 0, submitted: 0 };
  readonly #idle: (() => void)[] = [];
  readonly #live = new LiveDisplay(() => this[JUPYTER_DISPLAY](), { kind: "forklab-distributed-pool", tickMs: 1000 });
  /** As the local Pool: the live picture in a notebook; a script prints the pool when it asks (util.inspect). */
  readonly #inKernel = isInKernel();
  #refresh: NodeJS.Timeout | undefined;
  #stopped: Promise<void> | undefined;
  #reading: Promise<void> | undefined;
  [RECONCILE_EVERY_KEY] = RECONCILE_EVERY;
  /** A read-back of every pending job, after a reconnect, while it runs. */
  #reconcilingAll: Promise<void> | undefined;
  /** Redis came back again during that read-back: another one follows it. */
  #reconcileAllAgain = false;
  /** The periodic read-back's batch, while it waits for Redis. */
  #reconcilingSome: Promise<void> | undefined;
  /** The seq of the last job the periodic read-back reached: the next batch starts after it. */
  #reconciledUpTo = 0;
  #unsent: { name: string; data: TaskData; opts: { jobId: string; attempts: number; removeOnComplete: { age: number }; removeOnFail: { age: number } } }[] = [];

  constructor(options: DistributedPoolOptions) {
    this.#options = checkOptions(options);
    this.queueName = this.#options.queue;
    this.address = this.#options.address;
    this.#ready = this.#connect();
    // Callers see the failure on their first call (or on `ready()`); never as an unhandled rejection.
    this.#ready.catch(() => {});
  }

  async #connect(): Promise<void> {
    await probeRedis(this.address, this.#options.connectTimeout);
    const name = `forklab-pool-${this.#id}`;
    this.#client = connectRedis(this.address, name);
    // After Redis comes back, what finished while the stream was unread is read from the jobs.
    let connectedOnce = false;
    this.#client.on("ready", () => {
      if (connectedOnce) this.#reconcileAll();
      connectedOnce = true;
    });
    this.#queue = new Queue<TaskData, TaskResult>(this.queueName, { connection: clientOptions(this.address, `${name}-queue`) as ConnectionOptions });
    // Each failed reconnect while Redis is away is an error event; unheard, BullMQ prints it with
    // its stack into the caller's output. A command that fails reaches its caller on its own.
    this.#queue.on("error", () => {});
    // The events are read from the stream's last entry now, not from "whatever is last when the
    // reader's first XREAD arrives" (QueueEvents' default, "$"): that XREAD can come after this
    // pool's first task has started or even finished, and an event missed is a caller never answered.
    const [last] = (await this.#client.xrevrange(this.#queue.keys.events, "+", "-", "COUNT", 1)) as [string, string[]][];
    this.#events = new QueueEvents(this.queueName, {
      connection: clientOptions(this.address, `${name}-events`) as ConnectionOptions,
      lastEventId: last?.[0] ?? "0-0",
    });
    this.#events.on("completed", ({ jobId, returnvalue }) => this.#completed(jobId, returnvalue as unknown as TaskResult | string));
    this.#events.on("failed", ({ jobId }) => void this.#failed(jobId));
    this.#events.on("progress", ({ jobId, data }) => this.#progress(jobId, data as unknown as TaskStart | TaskStopped));
    this.#events.on("stalled", ({ jobId }) => this.#retried(jobId));
    // Back in the queue from a running attempt, for one of three reasons BullMQ's event does not
    // tell apart (all are "waiting" from "active"): the attempt failed and is retried (its worker
    // said so first, in its progress), a stopping worker handed it back, or its worker stopped
    // answering (then "stalled" follows).
    this.#events.on("waiting", ({ jobId, prev }) => prev === "active" && this.#requeued(jobId));
    this.#events.on("error", () => {});
    await Promise.all([this.#queue.waitUntilReady(), this.#events.waitUntilReady()]);
  }

  /** Resolves when Redis answered; rejects with a RedisConnectionError naming the address otherwise. */
  ready(): Promise<void> {
    return this.#ready;
  }

  #ownJob(jobId: string): Pending | undefined {
    return jobId.startsWith(`${this.#id}-`) ? this.#pending.get(jobId) : undefined;
  }

  #row(worker: string): WorkerRow {
    let row = this.#workers.get(worker);
    if (!row) this.#workers.set(worker, (row = { id: worker, running: 0, done: 0, attemptsFailed: 0, alive: true }));
    return row;
  }

  /** A worker not seen before: read the workers' registry, for its slots in the picture. */
  #learnWorker(worker: string): void {
    if (this.#reading || this.#registered.some((w) => `${w.host}:${w.pid}` === worker)) return;
    this.#reading = this.#readWorkers().finally(() => {
      this.#reading = undefined;
      this.#live.changed();
    });
  }

  /** A task that ran is waiting again: its worker's row no longer counts it as running. */
  #stopRunning(pending: Pending): void {
    if (pending.state === "running" && pending.worker) this.#row(pending.worker).running--;
    pending.state = "queued";
  }

  #progress(jobId: string, start: TaskStart | TaskStopped): void {
    const pending = this.#ownJob(jobId);
    if (!pending || typeof start !== "object" || !start || typeof start.worker !== "string") return;
    if ("failed" in start) {
      // An attempt failed on that worker: counted there now; retried or the task's last.
      this.#attemptStopped(pending, start.worker);
      pending.attemptFailed = true;
      this.#live.changed();
      return;
    }
    this.#stopRunning(pending);
    pending.worker = start.worker;
    pending.state = "running";
    this.#row(start.worker).running++;
    this.#learnWorker(start.worker);
    this.#live.changed();
  }

  #requeued(jobId: string): void {
    const pending = this.#ownJob(jobId);
    if (!pending) return;
    if (pending.attemptFailed) {
      pending.attemptFailed = false;
      this.#counts.retries++;
    }
    this.#stopRunning(pending);
    this.#live.changed();
  }

  /**
   * Its worker stopped answering during an attempt, and BullMQ put the task back (stalled).
   * Counted as a retry at once; a stall that turns out to have been the one too many (the task
   * fails at its next pickup, STALLED_TOO_OFTEN) is taken back from the count in #failed.
   */
  #retried(jobId: string): void {
    const pending = this.#ownJob(jobId);
    if (!pending) return;
    this.#counts.retries++;
    this.#attemptStopped(pending);
    this.#live.changed();
  }

  /** The attempt its worker ran has stopped without a result: that worker's row counts it. */
  #attemptStopped(pending: Pending, worker = pending.worker): void {
    this.#stopRunning(pending);
    if (worker) this.#row(worker).attemptsFailed++;
    pending.worker = undefined;
  }

  #settle(jobId: string): Pending | undefined {
    const pending = this.#pending.get(jobId);
    if (!pending) return undefined;
    this.#pending.delete(jobId);
    this.#stopRunning(pending);
    if (this.#pending.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
    this.#live.changed();
    return pending;
  }

  #completed(jobId: string, returnvalue: TaskResult | string): void {
    if (!this.#ownJob(jobId)) return;
    let result: TaskResult;
    let values: unknown[];
    try {
      result = typeof returnvalue === "string" ? (JSON.parse(returnvalue) as TaskResult) : returnvalue;
      values = decodeValue(result.values) as unknown[];
    } catch (error) {
      this.#settle(jobId)?.reject(new Error(`The result of task ${jobId} could not be read: ${(error as Error).message}`, { cause: error }));
      return;
    }
    const pending = this.#settle(jobId)!;
    this.#counts.done += pending.calls;
    this.#row(result.worker).done += pending.calls;
    this.#learnWorker(result.worker);
    pending.resolve(values);
  }

  async #failed(jobId: string): Promise<void> {
    if (!this.#ownJob(jobId)) return;
    let error: unknown;
    let stalledTooOften = false;
    try {
      ({ error, stalledTooOften } = await this.#failureOf(jobId));
    } catch (cause) {
      error = new DistributedTaskError(`Task ${jobId} failed; its record could not be read: ${(cause as Error).message}`, jobId, 0, []);
    }
    const pending = this.#pending.get(jobId);
    if (!pending) return;
    // Its last attempt, on the worker that ran it, unless that worker counted it already (it said
    // the attempt failed). After a stall too many no attempt ran at the end: that stall was
    // counted against its worker, and was no retry.
    this.#attemptStopped(pending);
    if (stalledTooOften) this.#counts.retries--;
    this.#settle(jobId);
    this.#counts.failed += pending.calls;
    pending.reject(error);
  }

  /**
   * Build the caller's error from the job: its attempts, and what each failed attempt left in the
   * log. Also whether it failed for a stall too many (STALLED_TOO_OFTEN).
   */
  async #failureOf(jobId: string): Promise<{ error: unknown; stalledTooOften: boolean }> {
    const queue = this.#queue!;
    const [job, logs] = await Promise.all([Job.fromId<TaskData, TaskResult>(queue, jobId), queue.getJobLogs(jobId, 0, -1, true)]);
    const pending = this.#pending.get(jobId);
    const failures: FailedAttempt[] = [];
    const records: AttemptFailure[] = [];
    const starts: TaskStart[] = [];
    for (const line of logs.logs) {
      if (line.startsWith(START_LOG_PREFIX)) starts.push(JSON.parse(line.slice(START_LOG_PREFIX.length)) as TaskStart);
      else if (line.startsWith(FAILURE_LOG_PREFIX)) records.push(decodeValue(line.slice(FAILURE_LOG_PREFIX.length)) as AttemptFailure);
    }
    const failedAt = new Set(records.map((r) => `${r.worker}#${r.attempt}`));
    for (const start of starts) {
      if (!failedAt.has(`${start.worker}#${start.attempt}`)) {
        failures.push({ attempt: start.attempt, worker: start.worker, kind: "stalled", message: "the worker stopped answering (died or lost Redis) during the task" });
      }
    }
    for (const r of records) failures.push({ attempt: r.attempt, worker: r.worker, kind: r.kind, message: `${r.error.name}: ${r.error.message}` });
    failures.sort((a, b) => a.attempt - b.attempt);
    const stalledTooOften = job?.failedReason === STALLED_TOO_OFTEN;
    // The attempts are those that ran (or were refused), one entry each in the list. BullMQ's
    // attemptsStarted also counts a pickup that ran nothing: the one that fails a task stalled too
    // often, and one handed back by a worker that was stopping before it started it.
    const attempts = failures.length || (job?.attemptsStarted ?? 0);
    const last = records.at(-1);
    // The target's last error, its `<target>` frames pointing into the function's text, which a
    // kernel finds in its cell.
    const target = job?.data.target;
    const thrown = last && last.kind === "error" ? fromErrorRecord(last.error) : undefined;
    if (thrown !== undefined && target?.kind === "source") setTargetSource(thrown, target.source);
    // The target's own error, not retried: the caller gets it as a local Pool would give it.
    if (last && last.kind === "error" && !this.#options.retryErrors) {
      if (thrown instanceof Error) Object.defineProperty(thrown, "worker", { value: last.worker, enumerable: false, configurable: true });
      return { error: thrown, stalledTooOften };
    }
    if (last?.kind === "refused") {
      return { error: new DistributedTaskError(last.error.message, jobId, attempts, failures), stalledTooOften };
    }
    const label = pending?.label ?? jobId;
    const list = failures.map((f) => `attempt ${f.attempt} on ${f.worker}: ${f.message}`).join("; ");
    const reason = job?.failedReason ? ` (${job.failedReason})` : "";
    const error = new DistributedTaskError(
      `Task ${label} failed after ${attempts} attempt${attempts === 1 ? "" : "s"}${reason}: ${list || "no attempt left a record"}. ` +
        `Tasks are delivered at least once: make them idempotent, and raise attempts in new Pool({ attempts }) if failures are transient.`,
      jobId,
      attempts,
      failures,
      thrown,
    );
    return { error, stalledTooOften };
  }

  /**
   * After a reconnect: read every pending job back from Redis, RECONCILE_BATCH at a time, for the
   * events the stream dropped while this pool was away. Redis coming back again meanwhile makes
   * another full pass follow this one: a job read before that outage may have ended during it.
   */
  #reconcileAll(): void {
    if (this.#reconcilingAll) {
      this.#reconcileAllAgain = true;
      return;
    }
    this.#reconcilingAll = (async () => {
      do {
        this.#reconcileAllAgain = false;
        const ids = [...this.#pending.keys()];
        for (let i = 0; i < ids.length; i += RECONCILE_BATCH) {
          if (!(await this.#readBack(ids.slice(i, i + RECONCILE_BATCH)))) break; // away again: the next reconnect starts over
        }
      } while (this.#reconcileAllAgain);
    })().finally(() => (this.#reconcilingAll = undefined));
  }

  /**
   * The periodic read-back: one batch, the pending jobs after the last one the previous batch
   * reached, going round to the oldest; so every pending job is read within a few rounds, not only
   * the oldest ones (which may run for hours). Skipped while an earlier read is unanswered, so that
   * reads do not pile up on a slow Redis, or on one that is away.
   */
  async #reconcileSome(): Promise<void> {
    if (this.#reconcilingAll || this.#reconcilingSome || this.#pending.size === 0) return;
    const entries = [...this.#pending];
    const start = Math.max(0, entries.findIndex(([, pending]) => pending.seq > this.#reconciledUpTo));
    const batch = [...entries.slice(start), ...entries.slice(0, start)].slice(0, RECONCILE_BATCH);
    this.#reconciledUpTo = batch.at(-1)![1].seq;
    this.#reconcilingSome = this.#readBack(batch.map(([jobId]) => jobId)).then(() => {});
    await this.#reconcilingSome.finally(() => (this.#reconcilingSome = undefined));
  }

  /**
   * Read these pending jobs' state from Redis, all reads sent together, and settle those that
   * ended or are gone. False when Redis did not answer.
   */
  async #readBack(jobIds: string[]): Promise<boolean> {
    const queue = this.#queue;
    if (!queue) return true;
    let jobs: (Job<TaskData, TaskResult> | undefined)[];
    try {
      jobs = await Promise.all(jobIds.map((jobId) => Job.fromId<TaskData, TaskResult>(queue, jobId)));
    } catch {
      return false;
    }
    await Promise.all(
      jobIds.map(async (jobId, i) => {
        const job = jobs[i];
        // A job whose add is still on its way (queued in the client while Redis was away) is not gone.
        if (!job && this.#pending.get(jobId)?.added) {
          this.#settle(jobId)?.reject(
            new DistributedTaskError(
              `Task ${jobId} is gone from Redis at ${this.address.label}: the server restarted without persistence (enable appendonly) or the job was removed`,
              jobId,
              0,
              [],
            ),
          );
        } else if (job?.finishedOn && job.returnvalue) this.#completed(jobId, job.returnvalue);
        else if (job?.finishedOn && job.failedReason) await this.#failed(jobId);
      }),
    );
    return true;
  }

  #checkRunning(what: string): void {
    if (this.#state !== "running") throw new Error(`Pool not running (it was ${this.#state === "closed" ? "closed" : "terminated"}): cannot ${what}`);
  }

  /** Add chunks of calls as jobs; one promise of results per chunk, in order. */
  #submit(target: RemoteTarget, chunkList: unknown[][][], label: string, names: CallNames): Promise<unknown[]>[] {
    // Encoded first, so that an argument that cannot cross fails in the caller's stack, at once,
    // and leaves nothing pending.
    let first = 0;
    const encoded = chunkList.map((argsList) => {
      const chunk = encodeArgs(argsList, names, first, this.address);
      first += argsList.length;
      return chunk;
    });
    const entries = chunkList.map((argsList, i) => {
      const jobId = `${this.#id}-${++this.#seq}`;
      let pending!: Pending;
      const promise = new Promise<unknown[]>((resolve, reject) => {
        pending = { resolve, reject, label: `${label} #${this.#seq}`, calls: argsList.length, seq: this.#seq, state: "queued" };
      });
      this.#pending.set(jobId, pending);
      const { args, queues } = encoded[i]!;
      const data: TaskData = { pool: this.#id, target, args, calls: argsList.length, retryErrors: this.#options.retryErrors, ...(queues ? { queues } : {}) };
      return { jobId, promise, data };
    });
    this.#counts.submitted += entries.length;
    if (this.#inKernel) this.#live.show();
    this.#startRefresh();
    for (const { jobId, data } of entries) {
      this.#unsent.push({
        name: jobName(target),
        data,
        opts: {
          jobId,
          attempts: this.#options.attempts,
          // Kept for an hour so that a caller reconnecting after a Redis restart can read them.
          removeOnComplete: { age: 3600 },
          removeOnFail: { age: 24 * 3600 },
        },
      });
    }
    // Jobs submitted in the same tick (a loop of applyAsync) are added in one call.
    if (this.#unsent.length === entries.length) queueMicrotask(() => this.#flush());
    return entries.map((e) => e.promise);
  }

  #flush(): void {
    const jobs = this.#unsent.splice(0);
    if (jobs.length === 0) return;
    void this.#ready
      .then(() => this.#queue!.addBulk(jobs))
      .then(() => {
        for (const job of jobs) {
          const pending = this.#pending.get(job.opts.jobId);
          if (pending) pending.added = true;
        }
      })
      .catch((error: unknown) => {
        for (const job of jobs) this.#settle(job.opts.jobId)?.reject(error);
      });
  }

  /** Python's `apply`: run `target(...args)` on a worker and wait for its result. */
  async apply<A extends unknown[], R>(target: RemoteTargetLike<A, R>, args: A = [] as unknown as A): Promise<Awaited<R>> {
    return this.applyAsync(target, args).get();
  }

  /** Python's `apply_async`: an AsyncResult at once; `callback`/`errorCallback` when it settles. */
  applyAsync<A extends unknown[], R>(
    target: RemoteTargetLike<A, R>,
    args: A = [] as unknown as A,
    options: { callback?: (value: Awaited<R>) => void; errorCallback?: (error: unknown) => void } = {},
  ): AsyncResult<Awaited<R>> {
    this.#checkRunning("applyAsync()");
    if (!Array.isArray(args)) throw optionError("pool.applyAsync()", "args", "an array of arguments", args);
    const remote = toRemoteTarget(target);
    const [promise] = this.#submit(remote, [[args]], jobName(remote), "apply");
    return new AsyncResult(promise!.then((values) => values[0] as Awaited<R>), options.callback, options.errorCallback);
  }

  #checkChunksize(where: string, chunksize: unknown, count: number): number {
    if (chunksize === undefined) {
      // Python's default: about four chunks per worker; with unknown workers, aim for ~32 chunks.
      return Math.max(1, Math.ceil(count / 32));
    }
    if (!Number.isInteger(chunksize) || (chunksize as number) < 1) throw optionError(where, "chunksize", "a whole number, 1 or more", chunksize);
    return chunksize as number;
  }

  #argsOf(where: string, iterable: Iterable<unknown>, star: boolean): unknown[][] {
    if (iterable === null || typeof (iterable as Iterable<unknown>)?.[Symbol.iterator] !== "function") {
      throw optionError(where, "iterable", "an iterable (an array, a Set, a generator)", iterable);
    }
    return Array.from(iterable, (item, i) => {
      if (!star) return [item];
      if (!Array.isArray(item)) throw optionError(where, `iterable[${i}]`, "an array of arguments (starmap calls fn(...item))", item);
      return item;
    });
  }

  #mapChunks(where: string, target: unknown, iterable: Iterable<unknown>, chunksize: number | undefined, star: boolean, defaultOne = false) {
    this.#checkRunning(`${where}`);
    const remote = toRemoteTarget(target);
    const argsList = this.#argsOf(where, iterable, star);
    const size = defaultOne && chunksize === undefined ? 1 : this.#checkChunksize(where, chunksize, argsList.length);
    return this.#submit(remote, chunks(argsList, size), `${where.replace(/^pool\.|\(\)$/g, "")}(${jobName(remote)})`, star ? "starmap" : "map");
  }

  /** Python's `map`: the results in order; the first failure rejects. */
  async map<T, R>(target: RemoteTargetLike<[T], R>, iterable: Iterable<T>, chunksize?: number): Promise<Awaited<R>[]> {
    const parts = await Promise.all(this.#mapChunks("pool.map()", target, iterable, chunksize, false));
    return parts.flat() as Awaited<R>[];
  }

  /** Python's `starmap`: `target(...item)` for each item. */
  async starmap<A extends unknown[], R>(target: RemoteTargetLike<A, R>, iterable: Iterable<A>, chunksize?: number): Promise<Awaited<R>[]> {
    const parts = await Promise.all(this.#mapChunks("pool.starmap()", target, iterable, chunksize, true));
    return parts.flat() as Awaited<R>[];
  }

  /** Python's `imap`: results in order, as they come (chunksize 1 by default, as in Python). */
  async *imap<T, R>(target: RemoteTargetLike<[T], R>, iterable: Iterable<T>, chunksize?: number): AsyncGenerator<Awaited<R>> {
    const parts = this.#mapChunks("pool.imap()", target, iterable, chunksize, false, true);
    for (const part of parts) part.catch(() => {});
    for (const part of parts) for (const value of await part) yield value as Awaited<R>;
  }

  /** Python's `imap_unordered`: results in the order they finish. */
  async *imapUnordered<T, R>(target: RemoteTargetLike<[T], R>, iterable: Iterable<T>, chunksize?: number): AsyncGenerator<Awaited<R>> {
    const parts = this.#mapChunks("pool.imapUnordered()", target, iterable, chunksize, false, true);
    const waiting = new Map(parts.map((part, i) => [i, part.then((values) => ({ i, values }))]));
    for (const part of waiting.values()) part.catch(() => {});
    while (waiting.size) {
      const { i, values } = await Promise.race(waiting.values());
      waiting.delete(i);
      for (const value of values) yield value as Awaited<R>;
    }
  }

  /** Python's `close`: no more tasks; the pending ones still run. */
  close(): void {
    if (this.#state === "running") this.#state = "closed";
  }

  /** Python's `join`: after close() or terminate(), wait until every task of this pool has settled (at most `timeout` seconds). */
  async join(timeout?: number): Promise<void> {
    const seconds = normalizeTimeout("pool.join()", timeout);
    if (this.#state === "running") throw new Error("pool.join() needs pool.close() or pool.terminate() first, as in Python");
    const idle = this.#pending.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.#idle.push(resolve));
    if (await timesOut(idle, seconds)) throw new TimeoutError(`pool.join(): ${this.#pending.size} task(s) still pending after ${seconds} s`);
    await this.#stop();
  }

  /**
   * Python's `terminate`: reject every pending caller, tell the workers to end this pool's running
   * tasks (each ends that task's child process and lives on), and remove its waiting tasks from
   * Redis. A worker that takes one of its tasks later refuses it.
   */
  async terminate(): Promise<void> {
    if (this.#state === "terminated") return this.#stop();
    this.#state = "terminated";
    this.#unsent.length = 0;
    const ids = [...this.#pending.keys()];
    for (const id of ids) this.#settle(id)?.reject(new PoolTerminatedError(`Task ${id} was cancelled: pool.terminate() was called`));
    let away: RedisConnectionError | undefined;
    try {
      await this.#ready;
      const queue = this.#queue!;
      // Remove first, then cancel: a running task is locked, so remove() leaves it, and the worker
      // that runs it ends it and fails it for good. Cancelling first would let that failure land
      // before the remove, which would then delete the failed task's record.
      const cleared = (async () => {
        await Promise.all(ids.map((id) => queue.remove(id).catch(() => 0)));
        // Listed for workers that start later, then said to those that listen now.
        const now = Date.now();
        const listed = terminatedKey(this.queueName);
        await this.#client!.multi().zadd(listed, now, this.#id).zremrangebyscore(listed, 0, now - TERMINATED_KEPT_MS).exec().catch(() => 0);
        await this.#client!.publish(cancelChannel(this.queueName), this.#id).catch(() => 0);
      })();
      const seconds = this.#options.connectTimeout;
      if (ids.length && (await timesOut(cleared, seconds))) {
        away = new RedisConnectionError(
          `pool.terminate(): Redis at ${this.address.label} did not answer within ${seconds} s, so this pool's ${ids.length} task(s) may still wait ` +
            `there and run on a worker later; its callers were rejected and its connections closed. Check that redis-server runs there ` +
            `(or raise connectTimeout in new Pool({ connectTimeout }) for a slow one)`,
          this.address.label,
          "ETIMEDOUT",
          undefined,
        );
      }
    } catch {
      // Redis was never reached: nothing was added.
    }
    // Found away already: the last steps do not wait for it again.
    await this.#stop(away ? 0 : this.#options.connectTimeout);
    if (away) throw away;
  }

  /** Close the connections once nothing is pending (waiting for Redis at most `patience` seconds). */
  #stop(patience = this.#options.connectTimeout): Promise<void> {
    this.#stopped ??= (async () => {
      clearInterval(this.#refresh);
      try {
        await this.#ready;
      } catch {
        this.#live.final();
        return;
      }
      // Redis away: not waited for beyond connectTimeout in all. The picture keeps what it had, and
      // the connections are dropped instead of closed (BullMQ's close() waits for Redis for ever).
      const deadline = performance.now() + patience * 1000;
      const left = (): number => Math.max(0, (deadline - performance.now()) / 1000);
      await timesOut(this.#readWorkers(), left());
      this.#live.final();
      if (await timesOut(Promise.allSettled([this.#events?.close(), this.#queue?.close()]), left())) {
        dropConnections(this.#events);
        dropConnections(this.#queue);
      }
      this.#client?.disconnect();
    })();
    return this.#stopped;
  }

  /** Python's `__enter__/__exit__`: `await using pool = new Pool(...)` terminates at the end. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.terminate();
  }

  async #readWorkers(): Promise<void> {
    try {
      const all = await this.#client!.hgetall(workersKey(this.queueName));
      const readAt = Date.now();
      this.#registered = Object.values(all).map((text) => JSON.parse(text) as WorkerInfo);
      this.#registeredAt = readAt;
    } catch {
      // Redis is away; the picture keeps what it had.
    }
  }

  #startRefresh(): void {
    if (this.#refresh) return;
    let ticks = 0;
    this.#refresh = setInterval(() => {
      if (this.#pending.size === 0) return;
      // Now and then read pending jobs themselves: an event the stream dropped (Redis restarted
      // between a job's end and our read) must not leave a caller waiting forever.
      const reconcile = ++ticks * REFRESH_SECONDS >= this[RECONCILE_EVERY_KEY];
      if (reconcile) ticks = 0;
      void this.#ready
        .then(() => Promise.all([this.#readWorkers(), reconcile ? this.#reconcileSome() : undefined]))
        .then(() => this.#live.changed(), () => {});
    }, REFRESH_SECONDS * 1000);
    this.#refresh.unref();
  }

  /** Counts for this pool: tasks (calls) done and failed, chunks pending, retries, and workers seen. */
  stats(): { pending: number; queued: number; running: number; done: number; failed: number; retries: number; workers: WorkerRow[] } {
    let running = 0;
    for (const p of this.#pending.values()) if (p.state === "running") running++;
    return {
      pending: this.#pending.size,
      queued: this.#pending.size - running,
      running,
      done: this.#counts.done,
      failed: this.#counts.failed,
      retries: this.#counts.retries,
      workers: [...this.#workers.values()].map((row) => ({ ...row })),
    };
  }

  #view(): DistributedPoolView {
    const stats = this.stats();
    const registered = new Map(this.#registered.map((w) => [`${w.host}:${w.pid}`, w]));
    // A worker that had missed a few of its beats when the registry was read (or had left) is
    // gone. Judged as of that read (an idle pool, which reads it no more, does not see its workers
    // age) and by each worker's own beat, which its record states.
    const alive = (id: string): boolean => {
      const info = registered.get(id);
      if (info) return this.#registeredAt - info.seen < WORKER_MISSED_BEATS * (info.every ?? DEFAULT_BEAT_MS);
      return this.#registered.length === 0 && this.#workers.has(id);
    };
    // The workers alive now, and those that ran this pool's tasks: not every worker that ever
    // died on this queue without leaving the registry (a SIGKILL leaves its record behind).
    const ids = new Set([...[...registered.keys()].filter(alive), ...this.#workers.keys()]);
    return {
      queue: this.queueName,
      address: this.address.label,
      state: this.#state,
      queued: stats.queued,
      running: stats.running,
      done: stats.done,
      failed: stats.failed,
      retries: stats.retries,
      workers: [...ids].sort().map((id) => {
        const row = this.#workers.get(id);
        const info = registered.get(id);
        return {
          id,
          concurrency: info?.concurrency,
          running: Math.max(0, row?.running ?? 0),
          done: row?.done ?? 0,
          attemptsFailed: row?.attemptsFailed ?? 0,
          alive: alive(id),
        };
      }),
    };
  }

  get [LIVE_DISPLAY_ID](): string | undefined {
    return this.#live.displayId;
  }

  [JUPYTER_DISPLAY](): { "text/plain": string; "text/html": string } {
    return renderDistributedPool(this.#view());
  }

  /** Read by Pool's `instanceof`: a pool on Redis is a Pool too. */
  get [ON_REDIS](): OnRedisKind {
    return "Pool";
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return renderDistributedPool(this.#view())["text/plain"];
  }
}
