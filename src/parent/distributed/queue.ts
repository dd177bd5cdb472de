/**
 * Queue and JoinableQueue on Redis lists, usable from the notebook, from local children and from
 * remote workers alike: every process that constructs one with the same `{ redis, name }` shares
 * it (pass those two strings to a child and construct it there).
 *
 * Delivery is at least once. `get()` moves an item atomically (BLMOVE) from the queue's list to a
 * processing list of this consumer, then acknowledges it: at once for a Queue, at `taskDone()` for
 * a JoinableQueue. Each consumer keeps a heartbeat key alive; any consumer that finds a consumer's
 * heartbeat gone moves that consumer's unacknowledged items back to the queue, so an item taken by
 * a process that died is delivered again. FIFO per queue (LPUSH in, BLMOVE from the right).
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Redis } from "ioredis";
import { connectRedis, parseRedisUrl, probeRedis, type RedisAddress, type RedisConnectionOptions } from "../../distributed/connection";
import { decodeValue, encodeValue } from "../../distributed/tasks";
import { optionError } from "../option-errors";
import { normalizeTimeout } from "../timeouts";
import { TimeoutError } from "./async-result";

export interface RedisQueueOptions {
  redis: string;
  /** Every process that uses the same name on the same Redis shares the queue. */
  name: string;
  /** Python's maxsize: 0 for no limit. @default 0 */
  maxsize?: number;
  redisOptions?: RedisConnectionOptions;
}

/** Python's queue.Empty: get() with block false, or after its timeout, found nothing. */
export class QueueEmptyError extends Error {
  override name = "Empty";
}

/** Python's queue.Full: put() with block false, or after its timeout, found no room. */
export class QueueFullError extends Error {
  override name = "Full";
}

/** Seconds a consumer's heartbeat lives without renewal; past it, its unacknowledged items return to the queue. */
const HEARTBEAT_TTL_S = 10;
const HEARTBEAT_EVERY_MS = 3000;
const RECOVER_EVERY_MS = 1000;
/** The longest single blocking wait, so that recovery runs between waits. */
const MAX_BLOCK_S = 2;

// put with maxsize: atomic check and push (KEYS: items, unfinished; ARGV: item, maxsize, joinable).
const PUT_SCRIPT = `
if tonumber(ARGV[2]) > 0 and redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[1])
if ARGV[3] == '1' then redis.call('INCR', KEYS[2]) end
return 1`;

// taskDone: ack one item and count it finished; publish when none are left (KEYS: processing, unfinished; ARGV: item, channel).
const DONE_SCRIPT = `
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed == 0 then return -1 end
local left = redis.call('DECR', KEYS[2])
if left <= 0 then redis.call('SET', KEYS[2], 0); redis.call('PUBLISH', ARGV[2], '0') end
return left`;

export class RedisQueue<T = unknown> {
  readonly name: string;
  readonly address: RedisAddress;
  readonly maxsize: number;
  protected readonly joinable: boolean = false;
  readonly #consumer = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #ready: Promise<void>;
  #client: Redis | undefined;
  #blocking: Redis | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #getChain: Promise<unknown> = Promise.resolve();
  #closed = false;
  #recoveredAt = -Infinity;
  /** Items this consumer took and has not acknowledged yet (JoinableQueue), oldest first. */
  protected readonly taken: string[] = [];

  constructor(options: RedisQueueOptions) {
    const where = "new Queue({ redis })";
    if (typeof options !== "object" || options === null) throw optionError(where, "options", "an object { redis, name }", options);
    this.address = parseRedisUrl(options.redis, "redis", options.redisOptions ?? {});
    if (typeof options.name !== "string" || !/^[A-Za-z0-9_.:-]+$/.test(options.name)) {
      throw optionError(where, "name", 'a name of letters, digits, "_", ".", ":" or "-" (shared by every process that uses the queue)', options.name);
    }
    const maxsize = options.maxsize ?? 0;
    if (!Number.isInteger(maxsize) || maxsize < 0) throw optionError(where, "maxsize", "a whole number >= 0 (0 for no limit)", maxsize);
    this.name = options.name;
    this.maxsize = maxsize;
    this.#options = { redis: options.redis, name: options.name, maxsize, redisOptions: options.redisOptions };
    this.#ready = this.#connect();
    this.#ready.catch(() => {});
  }

  readonly #options: RedisQueueOptions;

  /** What another process needs to open the same queue: pass it to a child and `new Queue(options)` there. */
  get options(): RedisQueueOptions {
    return { ...this.#options };
  }

  #key(part: string): string {
    return `forklab:queue:${this.name}:${part}`;
  }

  protected get itemsKey(): string {
    return this.#key("items");
  }
  protected get processingKey(): string {
    return this.#key(`processing:${this.#consumer}`);
  }
  protected get unfinishedKey(): string {
    return this.#key("unfinished");
  }
  protected get doneChannel(): string {
    return this.#key("done");
  }

  async #connect(): Promise<void> {
    await probeRedis(this.address);
    this.#client = connectRedis(this.address, `forklab-queue-${this.#consumer}`);
    await this.#beat();
    this.#heartbeat = setInterval(() => void this.#beat(), HEARTBEAT_EVERY_MS);
    this.#heartbeat.unref();
  }

  protected async client(): Promise<Redis> {
    await this.#ready;
    if (this.#closed) throw new Error(`Queue ${this.name} is closed`);
    return this.#client!;
  }

  async #beat(): Promise<void> {
    try {
      await this.#client!.multi().set(this.#key(`alive:${this.#consumer}`), "1", "EX", HEARTBEAT_TTL_S).sadd(this.#key("consumers"), this.#consumer).exec();
    } catch {
      // Redis is away; the next beat renews it.
    }
  }

  /**
   * Move the unacknowledged items of consumers whose heartbeat is gone back to the queue. At most
   * once a second: a heartbeat lives 10 s, so checking on every get would only cost round trips.
   */
  async #recover(client: Redis): Promise<void> {
    if (performance.now() - this.#recoveredAt < RECOVER_EVERY_MS) return;
    this.#recoveredAt = performance.now();
    const consumers = await client.smembers(this.#key("consumers"));
    for (const consumer of consumers) {
      if (consumer === this.#consumer) continue;
      if (await client.exists(this.#key(`alive:${consumer}`))) continue;
      const processing = this.#key(`processing:${consumer}`);
      // Oldest first back to the front (the right end), so they are taken next.
      while (await client.lmove(processing, this.itemsKey, "LEFT", "RIGHT")) {
        // moved one
      }
      await client.srem(this.#key("consumers"), consumer);
    }
  }

  /** Python's put: wait for room when maxsize is reached (block false or timeout: QueueFullError). */
  async put(item: T, block = true, timeout?: number): Promise<void> {
    const seconds = normalizeTimeout("queue.put()", timeout);
    const encoded = encodeValue(item);
    const client = await this.client();
    const deadline = seconds === undefined ? Infinity : Date.now() + seconds * 1000;
    let pause = 5;
    for (;;) {
      const pushed = await client.eval(PUT_SCRIPT, 2, this.itemsKey, this.unfinishedKey, encoded, String(this.maxsize), this.joinable ? "1" : "0");
      if (pushed === 1) return;
      if (!block || Date.now() >= deadline) throw new QueueFullError(`Queue ${this.name} is full (maxsize ${this.maxsize})`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(0, deadline - Date.now()))));
      pause = Math.min(pause * 2, 100);
    }
  }

  putNowait(item: T): Promise<void> {
    return this.put(item, false);
  }

  /** Python's get: the oldest item; waits when empty (block false or timeout: QueueEmptyError). */
  get(block = true, timeout?: number): Promise<T> {
    const seconds = normalizeTimeout("queue.get()", timeout);
    // One blocking connection per queue object: its gets take turns.
    const next = this.#getChain.then(() => this.#get(block, seconds));
    this.#getChain = next.catch(() => {});
    return next;
  }

  async #get(block: boolean, seconds: number | undefined): Promise<T> {
    const client = await this.client();
    await this.#recover(client);
    let raw: string | null = null;
    // First without blocking (on the pipelined client); only an empty queue needs the blocking one.
    raw = await client.lmove(this.itemsKey, this.processingKey, "RIGHT", "LEFT");
    if (raw === null && block) {
      this.#blocking ??= connectRedis(this.address, `forklab-queue-${this.#consumer}-get`);
      const deadline = seconds === undefined ? Infinity : Date.now() + seconds * 1000;
      while (raw === null && !this.#closed) {
        const left = (deadline - Date.now()) / 1000;
        if (left <= 0) break;
        raw = await this.#blocking.blmove(this.itemsKey, this.processingKey, "RIGHT", "LEFT", Math.max(0.01, Math.min(left, MAX_BLOCK_S)));
        if (raw === null) await this.#recover(client);
      }
    }
    if (raw === null) throw new QueueEmptyError(`Queue ${this.name} is empty${block ? ` after ${seconds} s` : ""}`);
    await this.delivered(client, raw);
    return decodeValue(raw) as T;
  }

  /**
   * A Queue acknowledges an item as soon as it is delivered, without waiting for the answer: the
   * acknowledgement travels with the next command. If this process dies first, the item is
   * delivered again (at least once).
   */
  protected async delivered(client: Redis, raw: string): Promise<void> {
    client.lrem(this.processingKey, -1, raw).catch(() => {});
  }

  getNowait(): Promise<T> {
    return this.get(false);
  }

  /** Items waiting now (approximate, as Python's qsize is). */
  async qsize(): Promise<number> {
    return (await this.client()).llen(this.itemsKey);
  }

  async empty(): Promise<boolean> {
    return (await this.qsize()) === 0;
  }

  async full(): Promise<boolean> {
    return this.maxsize > 0 && (await this.qsize()) >= this.maxsize;
  }

  /** This process is done with the queue: close its connections (the items stay in Redis). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#blocking?.disconnect();
    try {
      await this.#ready;
    } catch {
      return;
    }
    // Unacknowledged items of a consumer that leaves go back to the queue.
    try {
      while (await this.#client!.lmove(this.processingKey, this.itemsKey, "LEFT", "RIGHT")) {
        // moved one
      }
      await this.#client!.multi().del(this.#key(`alive:${this.#consumer}`)).srem(this.#key("consumers"), this.#consumer).exec();
    } finally {
      this.#client!.disconnect();
    }
  }

  /** Remove the queue's data from Redis (all its items and counters). */
  async destroy(): Promise<void> {
    const client = await this.client();
    const keys = await client.keys(`forklab:queue:${this.name}:*`);
    if (keys.length) await client.del(...keys);
    await this.close();
  }

  protected subscriber(): Redis {
    return connectRedis(this.address, `forklab-queue-${this.#consumer}-join`);
  }
}

/** Python's JoinableQueue on Redis: taskDone() acknowledges, join() waits until every item put was done. */
export class RedisJoinableQueue<T = unknown> extends RedisQueue<T> {
  protected override readonly joinable = true;

  protected override async delivered(_client: Redis, raw: string): Promise<void> {
    this.taken.push(raw);
  }

  /** Python's task_done: the oldest item this process took is finished. */
  async taskDone(): Promise<void> {
    const raw = this.taken.shift();
    if (raw === undefined) throw new Error(`taskDone() called more times than get() returned items in this process (queue ${this.name}), as Python's ValueError says`);
    const client = await this.client();
    await client.eval(DONE_SCRIPT, 2, this.processingKey, this.unfinishedKey, raw, this.doneChannel);
  }

  /** Items put and not yet done, across every process. */
  async unfinished(): Promise<number> {
    return Number((await (await this.client()).get(this.unfinishedKey)) ?? 0);
  }

  /** Python's join: wait until every item put has been marked done (at most `timeout` seconds). */
  async join(timeout?: number): Promise<void> {
    const seconds = normalizeTimeout("queue.join()", timeout);
    if ((await this.unfinished()) <= 0) return;
    const subscriber = this.subscriber();
    try {
      const done = new Promise<void>((resolve) => subscriber.on("message", () => resolve()));
      await subscriber.subscribe(this.doneChannel);
      const deadline = seconds === undefined ? Infinity : Date.now() + seconds * 1000;
      // Checked again after subscribing (it may have reached 0 in between), then on each message,
      // and every second in case Redis restarted and dropped the message.
      while ((await this.unfinished()) > 0) {
        const left = deadline - Date.now();
        if (left <= 0) throw new TimeoutError(`queue.join(): ${await this.unfinished()} item(s) of ${this.name} not done after ${seconds} s`);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, Math.min(left, 1000))))]);
        clearTimeout(timer);
      }
    } finally {
      subscriber.disconnect();
    }
  }
}
