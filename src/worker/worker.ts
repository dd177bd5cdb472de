/**
 * `forklab worker`: take a distributed Pool's tasks from a BullMQ queue on Redis and run each in a
 * forklab child process, one child per slot (--concurrency). What a worker accepts:
 * - module targets, files named by a path and resolved under --root (never outside it, never a
 *   package, a built-in module or a file in node_modules: their exports include execSync);
 * - functions sent as source only with --accept-source: whoever can write to that Redis can then
 *   run any code on this host, as this user.
 * A target that throws fails its task at once (its error goes back to the caller); a child that
 * dies fails it as a crash, which BullMQ retries up to the task's attempts; a worker host that dies
 * leaves its tasks locked until the lock expires, then another worker takes them again (BullMQ's
 * stalled-job recovery). Delivery is at least once: tasks should be idempotent.
 */
import { realpathSync, statSync } from "node:fs";
import { hostname } from "node:os";
import * as path from "node:path";
import { UnrecoverableError, WaitingError, Worker, type ConnectionOptions, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { clientOptions, connectRedis, parseRedisUrl, probeRedis, type RedisConnectionOptions } from "../distributed/connection";
import {
  cancelChannel,
  decodeValue,
  terminatedKey,
  TERMINATED_KEPT_MS,
  encodeValue,
  FAILURE_LOG_PREFIX,
  START_LOG_PREFIX,
  workersKey,
  type AttemptFailure,
  type RemoteTarget,
  type TaskData,
  type TaskResult,
  type TaskStart,
  type TaskStopped,
  type WorkerInfo,
} from "../distributed/tasks";
import { resolveModule } from "../parent/process/target";
import { toErrorRecord } from "../protocol/errors";
import type { TargetSpec } from "../protocol/messages";
import { useWorkerRedis, withQueuesForChild } from "./remote-queues";
import { ChildCrashError, Slot, TargetFailure } from "./slot";

export interface WorkerOptions {
  redis: string;
  queue: string;
  /** Task slots, one child process each. @default 1 */
  concurrency?: number;
  /** Module targets resolve under this folder; children run in it. @default process.cwd() */
  root?: string;
  /** Run functions sent as source. @default false */
  acceptSource?: boolean;
  /** Seconds a task stays locked to this worker without a heartbeat before another may take it. @default 30 */
  lockTimeout?: number;
  redisOptions?: RedisConnectionOptions;
}

/** How long a task handed back waits for Redis to take it before the worker goes on without (its lock then expires). */
const HAND_BACK_WAIT_MS = 2000;

/** The worker would not run this target: a rule, not a crash; the task is not retried. */
export class TaskRefusedError extends Error {
  override name = "TaskRefusedError";
}

export function checkWorkerOptions(options: WorkerOptions): Required<Omit<WorkerOptions, "redisOptions">> & { redisOptions: RedisConnectionOptions } {
  const { concurrency = 1, root = process.cwd(), acceptSource = false, lockTimeout = 30 } = options;
  parseRedisUrl(options.redis, "--redis", options.redisOptions);
  if (typeof options.queue !== "string" || !/^[A-Za-z0-9_.-]+$/.test(options.queue)) {
    throw new TypeError(`--queue must be a name of letters, digits, "_", "." or "-", got ${JSON.stringify(options.queue)}`);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new TypeError(`--concurrency must be a whole number of task slots, 1 or more, got ${JSON.stringify(concurrency)}`);
  }
  if (typeof lockTimeout !== "number" || !(lockTimeout > 0)) {
    throw new TypeError(`--lock-timeout must be a number of seconds above 0, got ${JSON.stringify(lockTimeout)}`);
  }
  // Checked at the start: a missing folder would otherwise fail every task, each as a crash.
  if (typeof root !== "string" || !statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
    throw new TypeError(
      `--root ${JSON.stringify(root)} is not a folder: give the folder that module targets resolve under and tasks run in (by default the current one)`,
    );
  }
  return { ...options, concurrency, root: path.resolve(root), acceptSource, lockTimeout, redisOptions: options.redisOptions ?? {} };
}

export class ForklabWorker {
  readonly id: string;
  readonly queue: string;
  readonly #options: ReturnType<typeof checkWorkerOptions>;
  readonly #slots: Slot[];
  readonly #free: Slot[];
  readonly #client: Redis;
  #worker!: Worker;
  /** Subscribed to the queue's cancel channel: terminated pools say their id there. */
  #cancels: Redis | undefined;
  /** The chunks running now, by job id: which pool sent each, the slot that runs it, and its cancel. */
  readonly #running = new Map<string, { pool: string; slot: Slot; cancel: AbortController }>();
  /** Pools terminated while this worker ran (id -> when): their later tasks are refused, not run. */
  readonly #terminated = new Map<string, number>();
  #heartbeat: NodeJS.Timeout | undefined;
  #info: WorkerInfo;
  #closing: Promise<void> | undefined;
  /** close(true) was called (a second signal): running tasks are ended and handed back to the queue. */
  #stoppingNow = false;

  private constructor(options: ReturnType<typeof checkWorkerOptions>, client: Redis) {
    this.#options = options;
    this.queue = options.queue;
    this.id = `${hostname()}:${process.pid}`;
    this.#client = client;
    const childOptions = { cwd: options.root, env: process.env, execArgv: [] };
    this.#slots = Array.from({ length: options.concurrency }, (_, i) => new Slot(childOptions, i + 1));
    this.#free = [...this.#slots];
    const now = Date.now();
    this.#info = {
      host: hostname(),
      pid: process.pid,
      concurrency: options.concurrency,
      acceptSource: options.acceptSource,
      started: now,
      seen: now,
      every: Math.min(5000, Math.max(500, (options.lockTimeout * 1000) / 2)),
      running: 0,
      done: 0,
      failed: 0,
    };
  }

  /** Check the options, reach Redis (failing at once with the address), and start taking tasks. */
  static async start(options: WorkerOptions): Promise<ForklabWorker> {
    const checked = checkWorkerOptions(options);
    const address = parseRedisUrl(checked.redis, "--redis", checked.redisOptions);
    await probeRedis(address);
    useWorkerRedis(checked.redis, checked.redisOptions);
    const client = connectRedis(address, `forklab-worker-${process.pid}`);
    const worker = new ForklabWorker(checked, client);
    await worker.#start(address);
    await worker.#beat();
    return worker;
  }

  /** Subscribe to the cancel channel, then start taking tasks. */
  async #start(address: ReturnType<typeof parseRedisUrl>): Promise<void> {
    // A pool's terminate() reaches running tasks here: a running job is locked, so removing it from
    // Redis cannot stop it, and BullMQ's own cancellation reaches only the Worker object in this
    // process. One channel per queue, pushed to every worker at once, without polling.
    this.#cancels = connectRedis(address, `forklab-worker-${process.pid}-cancel`);
    this.#cancels.on("message", (_channel: string, pool: string) => this.#cancelPool(pool));
    await this.#cancels.subscribe(cancelChannel(this.queue));
    // Then the pools terminated before it listened (or while it was reconnecting): their tasks
    // left in Redis (a task locked to a worker that died) are refused, not run.
    await this.#readTerminated();
    // Its first "ready" has passed: each one from now on is a reconnect.
    this.#cancels.on("ready", () => void this.#readTerminated());
    const lockDuration = this.#options.lockTimeout * 1000;
    this.#worker = new Worker<TaskData, TaskResult>(this.queue, (job, token) => this.#process(job, token), {
      connection: clientOptions(address, `forklab-worker-${process.pid}-jobs`) as ConnectionOptions,
      concurrency: this.#options.concurrency,
      lockDuration,
      stalledInterval: lockDuration,
      // A task whose worker died is taken again this many times before it fails as stalled.
      maxStalledCount: 2,
    });
    this.#worker.on("error", (error) => process.stderr.write(`forklab worker ${this.id}: ${error.message}\n`));
    this.#heartbeat = setInterval(() => void this.#beat(), this.#info.every);
  }

  async #beat(): Promise<void> {
    this.#info.seen = Date.now();
    try {
      await this.#client.hset(workersKey(this.queue), this.id, JSON.stringify(this.#info));
    } catch {
      // Redis is away; the next beat says it again.
    }
  }

  #resolveTarget(target: RemoteTarget): TargetSpec {
    if (target.kind === "source") {
      if (!this.#options.acceptSource) {
        throw new TaskRefusedError(
          `Worker ${this.id} does not run functions sent as source (${target.name || "anonymous"}): start it with ` +
            `--accept-source to allow that (whoever can write to this Redis can then run code on this host), or ` +
            `pass a module target { module: "./tasks.ts", export: "name" } that exists under its --root ${this.#options.root}`,
        );
      }
      return { kind: "source", source: target.source, name: target.name };
    }
    const root = this.#options.root;
    const specifier = target.module;
    // Only files, named by a path: a package or a built-in module ("child_process", "forklab")
    // would hand whoever writes to this Redis any function it exports, such as execSync.
    if (typeof specifier !== "string" || !(specifier.startsWith(".") || path.isAbsolute(specifier))) {
      throw new TaskRefusedError(
        `Worker ${this.id} runs only module files under its --root ${root}, named by a path such as "./tasks.ts"; ` +
          `${JSON.stringify(specifier)} names a package or a built-in module, which it does not run (send a function as source to a worker started with --accept-source instead)`,
      );
    }
    let resolved: string;
    let real: { root: string; file: string };
    try {
      resolved = resolveModule(specifier, root);
      // Compared as the files they are: a symbolic link under --root may point outside it.
      real = { root: realpathSync(root), file: realpathSync(resolved) };
    } catch (error) {
      throw new TaskRefusedError(`Worker ${this.id}: ${(error as Error).message} (module targets resolve under --root ${root})`);
    }
    const relative = path.relative(real.root, real.file);
    if (relative.startsWith("..") || path.isAbsolute(relative)) {
      throw new TaskRefusedError(`Worker ${this.id} runs only modules under its --root ${root}; ${JSON.stringify(specifier)} resolves to ${real.file}`);
    }
    if (relative.split(path.sep).includes("node_modules")) {
      throw new TaskRefusedError(
        `Worker ${this.id} runs only the modules of its --root ${root}, not installed packages: ${JSON.stringify(specifier)} resolves into node_modules (${real.file})`,
      );
    }
    return { kind: "module", path: real.file, export: target.export, specifier };
  }

  async #readTerminated(): Promise<void> {
    try {
      const listed = await this.#client.zrangebyscore(terminatedKey(this.queue), Date.now() - TERMINATED_KEPT_MS, "+inf", "WITHSCORES");
      for (let i = 0; i + 1 < listed.length; i += 2) this.#terminated.set(listed[i]!, Number(listed[i + 1]));
    } catch {
      // Redis is away: read again when the cancel channel's connection is back.
    }
  }

  #cancelPool(pool: string): void {
    const now = Date.now();
    this.#terminated.set(pool, now);
    // Forget pools terminated long ago: their tasks are gone from Redis by then.
    for (const [id, at] of this.#terminated) if (now - at > TERMINATED_KEPT_MS) this.#terminated.delete(id);
    for (const [jobId, running] of this.#running) {
      if (running.pool !== pool || running.cancel.signal.aborted) continue;
      const pid = running.slot.busyPid;
      const what = pid === undefined ? "it will not start" : `ending its child ${pid}`;
      process.stderr.write(`forklab worker ${this.id}: task ${jobId} cancelled by its pool's terminate(); ${what}\n`);
      running.cancel.abort();
    }
  }

  /** Record a failed attempt (for the caller's error) and say so to the pools' event readers. */
  async #fail(job: Job<TaskData>, failure: AttemptFailure): Promise<void> {
    this.#info.failed++;
    const stopped: TaskStopped = { worker: failure.worker, attempt: failure.attempt, failed: failure.kind };
    await Promise.all([job.log(FAILURE_LOG_PREFIX + encodeValue(failure)), job.updateProgress(stopped as unknown as object)]);
  }

  /**
   * Give a task this worker will not finish back to the queue, for another worker at once: not a
   * failed attempt (the task did nothing wrong). If Redis does not answer soon, its lock expires
   * instead and another worker takes it as stalled: a worker told to stop now does not wait for Redis.
   */
  async #handBack(job: Job<TaskData, TaskResult>, token: string | undefined): Promise<never> {
    if (token !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const moved = job.moveToWait(token).catch(() => 0);
      await Promise.race([moved, new Promise((resolve) => (timer = setTimeout(resolve, HAND_BACK_WAIT_MS)))]);
      clearTimeout(timer);
    }
    throw new WaitingError();
  }

  async #process(job: Job<TaskData, TaskResult>, token?: string): Promise<TaskResult> {
    if (this.#stoppingNow) return this.#handBack(job, token);
    const attempt = job.attemptsStarted || job.attemptsMade + 1;
    let spec: TargetSpec;
    try {
      spec = this.#resolveTarget(job.data.target);
    } catch (error) {
      await this.#fail(job, { worker: this.id, attempt, kind: "refused", error: toErrorRecord(error, process.pid) });
      throw new UnrecoverableError((error as Error).message);
    }
    if (this.#terminated.has(job.data.pool)) throw new UnrecoverableError(`cancelled: its pool was terminated (on ${this.id})`);
    let slot = this.#free.pop();
    if (!slot) {
      // Kept with the others, so that close() stops its child too.
      slot = new Slot({ cwd: this.#options.root, env: process.env, execArgv: [] }, this.#slots.length + 1);
      this.#slots.push(slot);
    }
    const running = { pool: job.data.pool, slot, cancel: new AbortController() };
    this.#running.set(job.id!, running);
    this.#info.running++;
    try {
      const child = slot.pid ?? 0;
      const start: TaskStart = { worker: this.id, child, attempt };
      await Promise.all([job.log(START_LOG_PREFIX + JSON.stringify(start)), job.updateProgress(start as unknown as object)]);
      // A cancel that came during the awaits above is honoured by run(): the task does not start.
      const args = decodeValue(job.data.args) as unknown[][];
      const values = await slot.run(spec, job.data.queues ? withQueuesForChild(args) : args, running.cancel.signal);
      this.#info.done++;
      return { values: encodeValue(values), worker: this.id, child };
    } catch (error) {
      if (running.cancel.signal.aborted) {
        // Ended because this worker stops now: the task goes back to the queue for another worker.
        if (!this.#terminated.has(job.data.pool)) return this.#handBack(job, token);
        // Ended by its pool's terminate(): no retry, and not a failure of the task.
        throw new UnrecoverableError(`cancelled by its pool's terminate() (on ${this.id})`);
      }
      if (error instanceof TargetFailure) {
        await this.#fail(job, { worker: this.id, attempt, kind: "error", error: error.record });
        const message = `${error.record.name}: ${error.record.message} (on ${this.id})`;
        throw job.data.retryErrors ? new Error(message) : new UnrecoverableError(message);
      }
      if (error instanceof ChildCrashError) {
        await this.#fail(job, { worker: this.id, attempt, kind: "crash", error: toErrorRecord(error, process.pid) });
        throw new Error(`${error.message} (on ${this.id})`);
      }
      throw error;
    } finally {
      this.#running.delete(job.id!);
      this.#info.running--;
      this.#free.push(slot);
    }
  }

  /**
   * Stop taking tasks, let the running ones finish, and leave Redis. With `now`, even when a close
   * without it is already waiting for them (a second signal), the running tasks end at once: each
   * task's child is killed with its process group, and the task goes back to the queue.
   */
  close(now = false): Promise<void> {
    if (now && !this.#stoppingNow) {
      this.#stoppingNow = true;
      for (const running of this.#running.values()) running.cancel.abort();
      // And the idle ones, or those a graceful stop is waiting for.
      for (const slot of this.#slots) slot.kill();
    }
    this.#closing ??= (async () => {
      if (this.#heartbeat) clearInterval(this.#heartbeat);
      // Not BullMQ's forced close: it would leave the tasks it stops locked to this worker until the
      // lock expires, where handing them back lets another worker take them at once.
      await this.#worker.close(false);
      // Only now: a pool's terminate() must still end the tasks this worker waits for.
      this.#cancels?.disconnect();
      await Promise.all(this.#slots.map((slot) => slot.stop(this.#stoppingNow)));
      try {
        await this.#client.hdel(workersKey(this.queue), this.id);
      } catch {
        // Redis is away: readers drop workers that have not been seen for a while.
      }
      this.#client.disconnect();
    })();
    return this.#closing;
  }
}
