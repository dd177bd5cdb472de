/**
 * Queue and JoinableQueue on Redis lists: what `new Queue({ redis, name })` and
 * `new JoinableQueue({ redis, name })` make (the local classes' constructors hand `{ redis }`
 * here). Usable from the notebook, from local children and from remote workers alike: every
 * process that constructs one with the same `{ redis, name }` shares it, and a queue passed to a
 * local child (spawn, Process, a local Pool's task) arrives there as the same queue. The surface is
 * the local queue's: put/get with `{ block, timeout }` (seconds), putNowait/getNowait, qsize,
 * empty, full, and the same `Empty` / `Full` errors.
 *
 * Delivery is at least once. `get()` moves an item atomically (BLMOVE) from the queue's list to a
 * processing list of this consumer, then acknowledges it: for a Queue once it has arrived here (the
 * items that arrived within a few milliseconds in one command), at `taskDone()` for a
 * JoinableQueue. Each consumer keeps a heartbeat key alive; any consumer that finds a consumer's
 * heartbeat gone moves that consumer's unacknowledged items back to the queue, so an item taken by
 * a process that died is delivered again. FIFO per queue (LPUSH in, BLMOVE from the right). A
 * connection that breaks as Redis answers loses no item either: the commands that move a
 * consumer's items are numbered, so that one sent again after the reconnect is not applied twice
 * (queue-scripts.ts).
 *
 * Round trips: a put is one command (LPUSH, or a script by its SHA when it must check maxsize or
 * count unfinished items); a get is one (BLMOVE on its own connection, which answers at once when
 * an item waits, with the script that takes what it moved), and a Queue's acknowledgements travel
 * together, without being waited for.
 *
 * A get that finds many items waiting takes more than one in the same round trip: up to
 * TAKE_AT_MOST, and no more than its share (the waiting items divided by the processes that have
 * the queue open), so that other consumers are not left idle. They move to this consumer's
 * processing list like the first (the guarantee above holds for them), wait here for the next
 * gets, and are acknowledged only when a get returns them. Those no get returned go back to the
 * front of the queue, in order: when no get came for AHEAD_IDLE_MS, at close(), or when this
 * process exits (even without close()); if it dies by a signal, with the rest of its processing
 * list once its heartbeat is gone. The idle give-back is a timer: a consumer whose event loop is
 * busy (a long synchronous task between gets) holds what it took ahead until its loop turns again,
 * or, if its heartbeat lapses first, those items are delivered again elsewhere (at least once).
 * A bounded queue (maxsize > 0) never takes ahead: an item held here would leave room for a put
 * beyond maxsize and make qsize() differ between processes.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import * as util from "node:util";
import { ReplyError, type Redis } from "ioredis";
import { Empty, Full } from "../ipc/errors";
import type { BlockingOptions } from "../ipc/queue";
import { TimeoutError } from "../parent/distributed/async-result";
import { blockingOptionsError, optionError } from "../parent/option-errors";
import { normalizeTimeout, timesOut } from "../parent/timeouts";
import { findUncloneable, uncloneableMessage } from "../protocol/clone";
import { makeHandleable, registerHandleKind } from "../protocol/handles";
import { answerWithin, connectRedis, parseRedisUrl, probeRedis, readyWithin, refOnlyWhileBusy, type RedisAddress, type RedisConnectionOptions } from "./connection";
import { ON_REDIS, type OnRedisKind } from "./on-redis";
import { defineScripts, type ConsumerKeys, type ScriptedRedis } from "./queue-scripts";
import { decodeValue, encodeValue, REDIS_QUEUE_HANDLE } from "./tasks";

export interface RedisQueueOptions {
  /** The Redis URL: "redis://[user:password@]host:port[/db]", or "rediss://" for TLS. */
  redis: string;
  /** Every process that uses the same name on the same Redis shares the queue. */
  name: string;
  /** Python's maxsize: 0 for no limit. @default 0 */
  maxsize?: number;
  /** Redis client options passed through (tls, username, password, db, ...). */
  redisOptions?: RedisConnectionOptions;
}

type Kind = "Queue" | "JoinableQueue";

const KNOWN_OPTIONS = ["redis", "name", "maxsize", "redisOptions"];

/** Seconds a consumer's heartbeat lives without renewal; past it, its unacknowledged items return to the queue. */
const HEARTBEAT_TTL_S = 10;
const HEARTBEAT_EVERY_MS = 3000;
const RECOVER_EVERY_MS = 1000;
/** How long close() waits for Redis to take back what this consumer held, before it leaves without. */
const CLOSE_WAIT_S = 5;
/** The longest single blocking wait, so that recovery runs between waits. */
const MAX_BLOCK_S = 2;
/** A Queue acknowledges the items that arrived within this many milliseconds in one command. */
const ACK_EVERY_MS = 20;
/** After a failed acknowledgement (Redis refused it), try again this much later. */
const ACK_RETRY_MS = 250;

/**
 * Acknowledgements still waiting for their timer when the process exits (a child's target returned
 * without close()): sent from the exit handler, whose socket write still leaves synchronously.
 */
const unacknowledged = new Set<() => void>();
let exitHook = false;
function acknowledgeAtExit(flush: () => void): void {
  unacknowledged.add(flush);
  if (exitHook) return;
  exitHook = true;
  process.once("exit", () => {
    for (const pending of unacknowledged) pending();
  });
}

/** The most items one get takes from Redis (one for itself, the rest for the next gets). */
const TAKE_AT_MOST = 32;
/** Items taken ahead go back to the queue when no get came for this long: a consumer that stopped getting does not sit on them. */
const AHEAD_IDLE_MS = 100;
/**
 * Internal, not an option: a queue's idle give-back delay in seconds, set by the tests, whose
 * round trips between gets may outlast AHEAD_IDLE_MS on a loaded machine.
 */
const AHEAD_IDLE = Symbol.for("forklab.queue.aheadIdle");

const DIRECT = { enableAutoPipelining: false };

/** `{ block, timeout }` as a timeout in seconds: 0 for no wait, undefined for no limit. */
function waitOf(where: string, options: unknown): number | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null) throw blockingOptionsError(where, options);
  const { block = true, timeout } = options as BlockingOptions;
  if (typeof block !== "boolean") throw optionError(where, "block", "true or false", block);
  return block ? normalizeTimeout(where, timeout) : 0;
}

function checkOptions(kind: Kind, options: unknown): RedisQueueOptions & { maxsize: number; address: RedisAddress } {
  const where = `new ${kind}({ redis })`;
  if (typeof options !== "object" || options === null) throw optionError(where, "options", "an object { redis, name }", options);
  const o = options as RedisQueueOptions;
  for (const key of Object.keys(o)) {
    if (!KNOWN_OPTIONS.includes(key)) throw optionError(where, key, `one of the options of a queue on Redis (${KNOWN_OPTIONS.join(", ")})`, (o as never)[key]);
  }
  const address = parseRedisUrl(o.redis, "redis", o.redisOptions ?? {});
  if (typeof o.name !== "string" || !/^[A-Za-z0-9_.:-]+$/.test(o.name)) {
    throw optionError(where, "name", 'a name of letters, digits, "_", ".", ":" or "-" (shared by every process that uses the queue)', o.name);
  }
  const maxsize = o.maxsize ?? 0;
  if (typeof maxsize !== "number" || !Number.isInteger(maxsize) || maxsize < 0) throw optionError(where, "maxsize", "a whole number >= 0 (0: no limit)", maxsize);
  return { redis: o.redis, name: o.name, maxsize, ...(o.redisOptions ? { redisOptions: o.redisOptions } : {}), address };
}

/** A consumer's own keys, for destroy(). */
const consumerLists = (k: ConsumerKeys): string[] => [k.processing, k.landing, k.state, k.last];

const short = (value: unknown) => util.inspect(value, { depth: 1, breakLength: Infinity, maxStringLength: 40 });

/** Python's multiprocessing.Queue, its items in Redis. */
export class RedisQueue<T = unknown> {
  readonly name: string;
  readonly address: RedisAddress;
  readonly maxsize: number;
  readonly #options: RedisQueueOptions;
  readonly #consumer = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #ready: Promise<void>;
  #client: ScriptedRedis | undefined;
  #blocking: ScriptedRedis | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #getChain: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** Ends each get and put still waiting, once close() has closed the connections. */
  readonly #waitingCalls = new Set<() => void>();
  #recoveredAt = -Infinity;
  /** Items that arrived here and are not acknowledged yet (a Queue's): the oldest of the processing list. */
  #arrived = 0;
  /** Items taken from Redis ahead of the gets that will return them, oldest first. */
  readonly #ahead: string[] = [];
  readonly #giveBackNow = (): void => void this.#giveBack();
  #idleTimer: NodeJS.Timeout | undefined;
  [AHEAD_IDLE] = AHEAD_IDLE_MS / 1000;
  #ackTimer: NodeJS.Timeout | undefined;
  /** Blocking round trips (BLMOVE and what rides with it) sent and not answered yet. */
  #blockingNow = 0;
  /** The last of them: a get that gave up on it (Redis away) has returned, and it may still be answered. */
  #blockingAnswer: Promise<unknown> = Promise.resolve();
  readonly #ackNow = (): void => void this.#acknowledge();
  /** Items this consumer took and has not acknowledged yet (JoinableQueue), oldest first. */
  protected readonly taken: string[] = [];
  /**
   * The sequence numbers of this consumer's takes (a get's on its own connection, a getNowait's on
   * the main one: gets take turns, and a take whose answer did not arrive leaves its number to the
   * next), and of the other changes to its lists, all on the main connection (queue-scripts.ts).
   */
  #takes = 0;
  #changes = 0;
  #ownKeys: ConsumerKeys | undefined;
  /**
   * The number of a take whose answer did not arrive (its connection broke after the BLMOVE beside
   * it was answered, or its get gave up on it while Redis was away): Redis may have run it, or run
   * it when the client sends it again, so the next take is sent with that number, and answers with
   * what it took if it ran.
   */
  #unansweredTake: number | undefined;

  constructor(options: RedisQueueOptions) {
    const checked = checkOptions(new.target === RedisJoinableQueue ? "JoinableQueue" : "Queue", options);
    this.address = checked.address;
    this.name = checked.name;
    this.maxsize = checked.maxsize;
    const { address: _, ...plain } = checked;
    this.#options = plain;
    this.#ready = this.#connect();
    this.#ready.catch(() => {});
    // Passed to a local child, the queue arrives there as the same queue (opened by name).
    makeHandleable(this, () => ({ kind: REDIS_QUEUE_HANDLE, module: __filename, state: { options: this.options, kind: this.kind } }));
  }

  protected get kind(): Kind {
    return "Queue";
  }

  protected get joinable(): boolean {
    return false;
  }

  /** Whether close() was called in this process. */
  get closed(): boolean {
    return this.#closed;
  }

  /** What another process needs to open the same queue: `new Queue(options)` there (a remote worker's task, a script on another host). */
  get options(): RedisQueueOptions {
    return { ...this.#options };
  }

  #key(part: string): string {
    return `forklab:queue:${this.name}:${part}`;
  }

  protected get itemsKey(): string {
    return this.#key("items");
  }
  /** A consumer's keys (this one's by default): what the scripts move between. */
  protected consumerKeys(consumer = this.#consumer): ConsumerKeys {
    // This consumer's own, asked for on every get and acknowledgement, are made once.
    if (consumer === this.#consumer && this.#ownKeys) return this.#ownKeys;
    const keys = {
      items: this.itemsKey,
      processing: this.#key(`processing:${consumer}`),
      landing: this.#key(`landing:${consumer}`),
      state: this.#key(`state:${consumer}`),
      last: this.#key(`last:${consumer}`),
      consumers: this.#key("consumers"),
    };
    if (consumer === this.#consumer) this.#ownKeys = keys;
    return keys;
  }
  /** The next sequence number of a change to this consumer's lists on its main connection. */
  protected nextChange(): number {
    return ++this.#changes;
  }
  protected get unfinishedKey(): string {
    return this.#key("unfinished");
  }
  protected get doneChannel(): string {
    return this.#key("done");
  }

  async #connect(): Promise<void> {
    await probeRedis(this.address);
    // Without auto-pipelining: it holds each command until the next tick, which a loop of awaited
    // puts or gets pays on every call; commands issued together still share the connection's writes.
    this.#client = defineScripts(refOnlyWhileBusy(connectRedis(this.address, `forklab-queue-${this.#consumer}`, DIRECT)));
    await this.#beat();
    this.#heartbeat = setInterval(() => void this.#beat(), HEARTBEAT_EVERY_MS);
    this.#heartbeat.unref();
  }

  protected async client(method: string): Promise<ScriptedRedis> {
    if (this.#closed) throw this.#closedError(method);
    await this.#ready;
    if (this.#closed) throw this.#closedError(method);
    return this.#client!;
  }

  /** The number of the next take: that of the take whose answer did not arrive, or a new one. */
  #takeNumber(): number {
    return (this.#unansweredTake ??= ++this.#takes);
  }

  /** A take was answered, with its items or with Redis's error: its number is used. Any other error leaves it unanswered. */
  #takeAnswered(error: unknown): void {
    if (!error || error instanceof ReplyError) this.#unansweredTake = undefined;
  }

  /** Why a call with a timeout failed while Redis is away. */
  #away(): string {
    return `Redis at ${this.address.label} is not reachable (the client tries to reconnect); check that redis-server runs there`;
  }

  /** A get's Empty when its time was up while Redis is away (`seconds` 0: getNowait). */
  #awayEmpty(method: string, seconds: number | undefined): Empty {
    return new Empty(`${this.kind}.${method}(): no item${seconds ? ` arrived within ${seconds} s` : ""}: ${this.#away()}`);
  }

  #closedError(method: string): Error {
    return new Error(
      `${this.kind}.${method}(): queue "${this.name}" was closed in this process (pid ${process.pid}) by close(); ` +
        `other processes can still use it: open it again with new ${this.kind}({ redis, name: "${this.name}" })`,
    );
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
  async #recover(client: ScriptedRedis): Promise<void> {
    // Not while Redis is away: its commands would wait in the client's queue, and the get with them.
    if (client.status !== "ready" || performance.now() - this.#recoveredAt < RECOVER_EVERY_MS) return;
    this.#recoveredAt = performance.now();
    const consumers = await client.smembers(this.#key("consumers"));
    for (const consumer of consumers) {
      if (consumer === this.#consumer) continue;
      const k = this.consumerKeys(consumer);
      await client.forklabQueueRecover(this.#key(`alive:${consumer}`), k.processing, k.landing, k.items, k.state, k.last, k.consumers, consumer);
    }
  }

  /**
   * #recover for a get: if Redis goes away during it, the get fails when its time is up (the
   * client sends what is left again once Redis is back; each step can run twice).
   */
  async #recoverWithin(method: string, seconds: number | undefined, client: ScriptedRedis, deadline: number): Promise<void> {
    if (!(await answerWithin(client, this.#recover(client), deadline))) throw this.#awayEmpty(method, seconds);
  }

  /** Put an item; with maxsize, waits for room (block, timeout in seconds), else rejects with Full. */
  async put(item: T, options?: BlockingOptions): Promise<void> {
    return this.#closedAware("put", this.#put("put", item, waitOf(`${this.kind}.put()`, options)));
  }

  putNowait(item: T): Promise<void> {
    return this.#closedAware("putNowait", this.#put("putNowait", item, 0));
  }

  /**
   * A command cut short by close() (a get waiting in BLMOVE, a put waiting for room) fails with
   * the client's own "Connection is closed."; the caller is told what happened instead.
   */
  async #closedAware<R>(method: string, work: Promise<R>): Promise<R> {
    // A call still waiting when close() has closed the connections is ended by close() itself:
    // commands the client holds for Redis to be back are not failed by its disconnect() while it
    // waits to reconnect, and would wait for ever.
    let end!: () => void;
    const ended = new Promise<never>((_, reject) => (end = () => reject(this.#closedError(method))));
    this.#waitingCalls.add(end);
    try {
      return await Promise.race([work, ended]);
    } catch (error) {
      if (this.#closed && !(error instanceof Empty || error instanceof Full || error instanceof TypeError)) throw this.#closedError(method);
      throw error;
    } finally {
      this.#waitingCalls.delete(end);
    }
  }

  async #put(method: string, item: T, seconds: number | undefined): Promise<void> {
    let encoded: string;
    try {
      encoded = encodeValue(item);
    } catch (error) {
      // Named by its path, as a local queue names it: the clone error alone shows only the value.
      const found = findUncloneable(item, "item");
      const where = `through a ${this.kind}`;
      throw new TypeError(found ? uncloneableMessage(found, where) : `${this.kind}.${method}(): the item cannot be sent ${where}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const deadline = seconds === undefined ? Infinity : Date.now() + seconds * 1000;
    const client = await this.client(method);
    if (!(await readyWithin(client, seconds === undefined ? undefined : Math.max(0, deadline - Date.now()) / 1000))) {
      if (this.#closed) throw this.#closedError(method);
      throw new Full(`${this.kind}.${method}(): ${short(item)} was not put${seconds ? ` within ${seconds} s` : ""}: ${this.#away()}; put without a timeout waits for it`);
    }
    // Once sent, a put waits for its answer whatever its timeout: if the connection breaks, Redis
    // may have put the item, and Full would say it had not (the client sends it again once back).
    // Nothing to check and nothing to count: a plain push.
    if (this.maxsize === 0 && !this.joinable) {
      await client.lpush(this.itemsKey, encoded);
      return;
    }
    // Redis has no blocking push: a full queue is asked again, less and less often.
    for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
      if ((await client.forklabQueuePut(this.itemsKey, this.unfinishedKey, encoded, String(this.maxsize), this.joinable ? "1" : "0")) === 1) return;
      if (Date.now() >= deadline) {
        throw new Full(
          seconds === 0
            ? `${this.kind}.${method}(): queue "${this.name}" is full (maxsize ${this.maxsize}); ${short(item)} was not put`
            : `${this.kind}.${method}(): no room in queue "${this.name}" within ${seconds} s (maxsize ${this.maxsize}); ${short(item)} was not put`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(0, deadline - Date.now()))));
    }
  }

  /** Take the oldest item, waiting for one (block, timeout in seconds), else rejects with Empty. */
  get(options?: BlockingOptions): Promise<T> {
    let seconds: number | undefined;
    try {
      seconds = waitOf(`${this.kind}.get()`, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#take("get", seconds);
  }

  getNowait(): Promise<T> {
    return this.#take("getNowait", 0);
  }

  #take(method: string, seconds: number | undefined): Promise<T> {
    clearTimeout(this.#idleTimer);
    // One blocking connection per queue object: its gets take turns.
    const next = this.#getChain.then(() => this.#closedAware(method, this.#get(method, seconds)));
    const armIdle = (): void => this.#armIdle();
    this.#getChain = next.then(armIdle, armIdle);
    return next;
  }

  /**
   * When the last get is done and items wait here, give them back after AHEAD_IDLE_MS without a
   * get. In turn with the gets, so that a get never takes a later item before they are back.
   */
  #armIdle(): void {
    if (this.#ahead.length === 0 || this.#closed) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      this.#getChain = this.#getChain.then(() => this.#giveBack());
    }, this[AHEAD_IDLE] * 1000).unref();
  }

  async #get(method: string, seconds: number | undefined): Promise<T> {
    const client = await this.client(method);
    const k = this.consumerKeys();
    let raw = this.#ahead.shift() ?? null;
    if (raw === null) {
      const deadline = seconds === undefined ? Infinity : performance.now() + seconds * 1000;
      await this.#recoverWithin(method, seconds, client, deadline);
      // Items held here would not count against maxsize: a bounded queue takes one at a time.
      const ahead = this.maxsize > 0 ? 0 : TAKE_AT_MOST - 1;
      let taken: (string | null)[] = [];
      if (seconds === 0) {
        if (!(await readyWithin(client, 0))) {
          if (this.#closed) throw this.#closedError(method);
          throw this.#awayEmpty(method, seconds);
        }
        taken = await this.#takeWaiting(method, seconds, client, ahead + 1, deadline);
      } else {
        // BLMOVE answers at once when an item waits; what else waits comes in the same round trip.
        this.#blocking ??= defineScripts(refOnlyWhileBusy(connectRedis(this.address, `forklab-queue-${this.#consumer}-get`, DIRECT)));
        while (taken.length === 0 && !this.#closed) {
          const left = (deadline - performance.now()) / 1000;
          if (left <= 0) break;
          if (!(await readyWithin(this.#blocking, seconds === undefined ? undefined : left))) {
            // close() ended the wait: its connections are closed.
            if (this.#closed) throw this.#closedError(method);
            // The get's own connection is not up in time (its first connect, or a reconnect) but
            // the main one is: Redis is there, and what already waits is taken on that one, so
            // that a short timeout passes no item by.
            if (client.status === "ready") {
              taken = await this.#takeWaiting(method, seconds, client, ahead + 1, performance.now());
              break;
            }
            throw this.#awayEmpty(method, seconds);
          }
          const wait = Math.max(0.01, Math.min((deadline - performance.now()) / 1000, MAX_BLOCK_S));
          const again = this.#unansweredTake !== undefined;
          const seq = this.#takeNumber();
          let exchange: Promise<[[Error | null, unknown], [Error | null, string[]]]>;
          if (again) {
            // A take whose answer did not arrive is sent again alone: no wait in BLMOVE before the
            // answer it may already have.
            exchange = this.#blocking.forklabQueueTake(k.items, k.processing, k.landing, k.state, k.last, k.consumers, ahead, 0, seq).then(
              (moved) => [[null, null], [null, moved]],
              (error: Error) => [[null, null], [error, []]],
            );
          } else {
            // BLMOVE lands its item; the take moves it on with what else it takes, and answers for both.
            const pipeline = this.#blocking.pipeline().blmove(k.items, k.landing, "RIGHT", "LEFT", wait);
            (pipeline as unknown as ScriptedRedis).forklabQueueTake(k.items, k.processing, k.landing, k.state, k.last, k.consumers, ahead, 0, seq);
            exchange = pipeline.exec() as typeof exchange;
          }
          this.#blockingNow++;
          const inFlight = exchange.finally(() => this.#blockingNow--);
          this.#blockingAnswer = inFlight;
          const answer = await answerWithin(this.#blocking, inFlight, deadline);
          // Redis went away with the round trip unanswered: the client sends it again when Redis is
          // back, and what it takes then is the next take's answer (the same number).
          if (!answer) throw this.#awayEmpty(method, seconds);
          const [[blockError], [takeError, moved]] = answer.answer;
          this.#takeAnswered(takeError);
          // The connection broke after BLMOVE's answer and before the take's (the client does not
          // send half a pipeline again): Redis ran the take, most likely; it is asked again.
          if (takeError?.name === "AbortError" && !this.#closed) continue;
          // What BLMOVE landed when the take failed stays in the landing list for the next take.
          taken = takeError ? [] : moved;
          if (blockError || takeError) {
            // Kept for the next gets (and given back if none comes): dropped here, they would stay
            // in the processing list and the acknowledgement would trim others in their place.
            if (taken.length) this.#keepAhead(taken as string[]);
            throw blockError ?? takeError;
          }
          if (taken.length === 0) await this.#recoverWithin(method, seconds, client, deadline);
        }
      }
      // Moved as close() ended the wait: not delivered, but given back with the rest by close().
      if (this.#closed && taken.length) this.#keepAhead(taken.splice(0) as string[]);
      raw = (taken.shift() as string | undefined) ?? null;
      if (taken.length) this.#keepAhead(taken as string[]);
    }
    if (raw === null) {
      if (this.#closed) throw this.#closedError(method);
      throw new Empty(
        seconds === 0 ? `${this.kind}.${method}(): queue "${this.name}" is empty` : `${this.kind}.${method}(): no item arrived in queue "${this.name}" within ${seconds} s`,
      );
    }
    if (this.#ahead.length === 0) unacknowledged.delete(this.#giveBackNow);
    this.delivered(raw);
    return decodeValue(raw) as T;
  }

  /**
   * Take what waits now (at least one item if one does, up to `atMost`) on the main connection,
   * without BLMOVE: getNowait's take. Fails with Empty when `deadline` passes while Redis is away.
   */
  async #takeWaiting(method: string, seconds: number | undefined, client: ScriptedRedis, atMost: number, deadline: number): Promise<string[]> {
    const k = this.consumerKeys();
    const take = client.forklabQueueTake(k.items, k.processing, k.landing, k.state, k.last, k.consumers, atMost, 1, this.#takeNumber());
    const answer = await answerWithin(client, take, deadline).catch((error: unknown) => {
      this.#takeAnswered(error);
      throw error;
    });
    // Left for the client to send again when Redis is back; the next take asks with its number.
    if (!answer) throw this.#awayEmpty(method, seconds);
    this.#takeAnswered(null);
    return answer.answer;
  }

  /** Keep items taken ahead for the next gets; those none returns go back when this process exits. */
  #keepAhead(items: string[]): void {
    this.#ahead.push(...items);
    acknowledgeAtExit(this.#giveBackNow);
  }

  /** Put the items taken ahead back at the front of the queue, in order. */
  async #giveBack(): Promise<void> {
    unacknowledged.delete(this.#giveBackNow);
    const count = this.#ahead.splice(0).length;
    if (count === 0 || !this.#client) return;
    const k = this.consumerKeys();
    await this.#client.forklabQueueGiveBack(k.processing, k.items, k.state, k.landing, count, this.nextChange()).catch(() => {
      // Still in this consumer's processing list: back to the queue when its heartbeat is gone.
    });
  }

  /**
   * A Queue acknowledges an item once it has arrived here, without waiting for the answer, and
   * those that arrived within ACK_EVERY_MS together: one command instead of one per get, which a
   * loop of gets would pay for each item. If this process dies first, they are delivered again
   * (at least once).
   */
  protected delivered(_raw: string): void {
    this.#arrived++;
    this.#armAcknowledge(ACK_EVERY_MS);
  }

  /** Acknowledge what arrived in `ms`, or at this process's exit if that comes first. */
  #armAcknowledge(ms: number): void {
    if (this.#ackTimer) return;
    this.#ackTimer = setTimeout(this.#ackNow, ms).unref();
    acknowledgeAtExit(this.#ackNow);
  }

  /**
   * Drop the items that arrived from the processing list. They are its oldest (the right end): gets
   * take turns, so every earlier move has arrived, and one still in flight lands at the left end.
   */
  async #acknowledge(): Promise<void> {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    unacknowledged.delete(this.#ackNow);
    const count = this.#arrived;
    if (count === 0 || !this.#client) return;
    this.#arrived = 0;
    try {
      const k = this.consumerKeys();
      await this.#client.forklabQueueAcknowledge(k.processing, k.state, count, this.nextChange());
    } catch {
      // Not dropped: tried again later, or at exit (a closing queue tries once more in close()).
      this.#arrived += count;
      if (!this.#closed) this.#armAcknowledge(ACK_RETRY_MS);
    }
  }

  /** Python's qsize(): the items waiting now, with those taken ahead here (approximate while others use it). */
  async qsize(): Promise<number> {
    return (await (await this.client("qsize")).llen(this.itemsKey)) + this.#ahead.length;
  }

  async empty(): Promise<boolean> {
    return (await this.qsize()) === 0;
  }

  async full(): Promise<boolean> {
    return this.maxsize > 0 && (await this.qsize()) >= this.maxsize;
  }

  /** This process is done with the queue: close its connections (the items stay in Redis for the others). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#idleTimer);
    try {
      await this.#ready;
    } catch {
      return;
    }
    // Unacknowledged items of a consumer that leaves go back to the queue: those that never arrived
    // here (a get cut short), those taken ahead that no get returned, and a JoinableQueue's items
    // not marked done.
    const leaving = (async () => {
      await this.#endWaitingGet();
      this.#blocking?.disconnect();
      await this.#acknowledge();
      // All of the processing list, those taken ahead with them: one command.
      unacknowledged.delete(this.#giveBackNow);
      this.#ahead.length = 0;
      const k = this.consumerKeys();
      await this.#client!.forklabQueueGiveBack(k.processing, k.items, k.state, k.landing, -1, this.nextChange());
      await this.#client!.multi().del(this.#key(`alive:${this.#consumer}`), k.state, k.last).srem(k.consumers, this.#consumer).exec();
    })();
    try {
      // Redis away: close() does not wait for it. What this consumer held goes back to the queue
      // all the same, by another consumer, once its heartbeat (no longer renewed) has lapsed.
      if (await timesOut(leaving, CLOSE_WAIT_S)) leaving.catch(() => {});
    } finally {
      this.#blocking?.disconnect();
      this.#client!.disconnect();
      for (const end of this.#waitingCalls) end();
    }
  }

  /**
   * End a get waiting in Redis there, and wait for its answer, before its connection goes. Closing
   * that connection alone does not stop Redis at once: until it notices, it can still move an item
   * to this consumer's processing list, after close() has given that list back and left, where no
   * one would ever look for it. Redis is asked to unblock it (CLIENT UNBLOCK, found by the
   * connection's name); where CLIENT is not allowed, the wait ends by itself within MAX_BLOCK_S.
   */
  async #endWaitingGet(): Promise<void> {
    if (this.#blockingNow === 0) return;
    const answered = Promise.all([this.#getChain, this.#blockingAnswer].map((waiting) => waiting.catch(() => undefined)));
    try {
      const name = ` name=forklab-queue-${this.#consumer}-get `;
      const line = String(await this.#client!.client("LIST")).split("\n").find((entry) => entry.includes(name));
      const id = /^id=(\d+) /.exec(line ?? "")?.[1];
      if (id) await this.#client!.client("UNBLOCK", id);
    } catch {
      // CLIENT refused (an ACL): the blocking command ends within MAX_BLOCK_S.
    }
    await timesOut(answered, MAX_BLOCK_S + 1);
  }

  /** Remove the queue's data from Redis (all its items and counters), then close. */
  async destroy(): Promise<void> {
    const client = await this.client("destroy");
    // Its keys by name, not by a pattern: `forklab:queue:NAME:*` also matches the keys of a queue
    // named "NAME:anything". Every consumer's keys are found through the set of consumers.
    const consumers = await client.smembers(this.#key("consumers"));
    const keys = [this.itemsKey, this.unfinishedKey, this.#key("consumers"), ...consumers.flatMap((c) => [this.#key(`alive:${c}`), ...consumerLists(this.consumerKeys(c))])];
    await client.del(...keys);
    await this.close();
  }

  protected subscriber(): Redis {
    return connectRedis(this.address, `forklab-queue-${this.#consumer}-join`);
  }

  /** Read by the local classes' `instanceof`: this is a Queue (or a JoinableQueue) too. */
  get [ON_REDIS](): OnRedisKind {
    return this.kind;
  }

  [util.inspect.custom](): string {
    return `<${this.kind} "${this.name}" on Redis ${this.address.label}${this.maxsize ? ` maxsize ${this.maxsize}` : ""}${this.#closed ? " closed" : ""}>`;
  }
}

/** Python's JoinableQueue on Redis: taskDone() acknowledges, join() waits until every item put was done, across every process. */
export class RedisJoinableQueue<T = unknown> extends RedisQueue<T> {
  protected override get kind(): Kind {
    return "JoinableQueue";
  }

  protected override get joinable(): boolean {
    return true;
  }

  protected override delivered(raw: string): void {
    this.taken.push(raw);
  }

  /** Python's task_done: the oldest item this process took is finished. */
  async taskDone(): Promise<void> {
    const raw = this.taken.shift();
    if (raw === undefined) {
      throw new Error(`JoinableQueue.taskDone() called more times than get() returned items in this process (queue "${this.name}"), as Python's ValueError says`);
    }
    const client = await this.client("taskDone");
    const k = this.consumerKeys();
    await client.forklabQueueDone(k.processing, this.unfinishedKey, k.state, raw, this.doneChannel, this.nextChange());
  }

  /** Items put and not yet done, across every process. */
  async unfinished(): Promise<number> {
    return Number((await (await this.client("unfinished")).get(this.unfinishedKey)) ?? 0);
  }

  /** Python's join: wait until every item put has been marked done (at most `timeout` seconds). */
  async join(timeout?: number): Promise<void> {
    const seconds = normalizeTimeout("JoinableQueue.join()", timeout);
    if ((await this.unfinished()) <= 0) return;
    const subscriber = this.subscriber();
    try {
      // Each message wakes one wait: the count may reach 0 and rise again (a put after the last
      // taskDone), and the next wait must wait for the next message, not return at once for ever.
      let told = false;
      let wake: (() => void) | undefined;
      subscriber.on("message", () => {
        told = true;
        wake?.();
      });
      await subscriber.subscribe(this.doneChannel);
      const deadline = seconds === undefined ? Infinity : Date.now() + seconds * 1000;
      // Checked again after subscribing (it may have reached 0 in between), then on each message,
      // and every second in case Redis restarted and dropped the message.
      for (;;) {
        told = false;
        if ((await this.unfinished()) <= 0) break;
        const left = deadline - Date.now();
        if (left <= 0) throw new TimeoutError(`JoinableQueue.join(): ${await this.unfinished()} item(s) of "${this.name}" not done after ${seconds} s`);
        // A message that came while the count was read is not waited for again.
        if (told) continue;
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, Math.min(left, 1000));
        });
        wake = undefined;
        clearTimeout(timer);
      }
    } finally {
      subscriber.disconnect();
    }
  }
}

/**
 * Queues this process opened because they were passed to it, by what was passed: a long-lived
 * process (a Pool's worker, a remote worker's task slot) that gets the same queue with task after
 * task keeps using one, with its connections, until it is closed.
 */
const passedIn = new Map<string, RedisQueue<unknown>>();

registerHandleKind(REDIS_QUEUE_HANDLE, (state) => {
  const { options, kind } = state as { options: RedisQueueOptions; kind: Kind };
  const key = util.inspect(state, { depth: Infinity, sorted: true });
  const open = passedIn.get(key);
  if (open && !open.closed) return open;
  const queue = kind === "JoinableQueue" ? new RedisJoinableQueue(options) : new RedisQueue(options);
  passedIn.set(key, queue);
  return queue;
});
