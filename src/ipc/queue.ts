/**
 * Queue, JoinableQueue and SimpleQueue: Python's multiprocessing queues, usable from any process.
 *
 * The process that creates a queue owns its items; the same queue passed to spawn, Process or a
 * Pool task (as an argument or inside one, at any depth, and on from a child to its own child)
 * arrives there as a proxy that reaches the owner directly (see server.ts). Every operation that
 * may need another process returns a promise, on every side. Every item is copied (structured
 * clone) when it is put.
 *
 * Delivery: each item is returned by exactly one get(), and the items of one producer come out of
 * any one consumer in the order they were put. A put() is done once its bytes are where the owner
 * reads them, its ring or the OS's socket buffer (a producer that dies after loses nothing). The only consumer of a queue, getting in a loop, may be
 * sent items ahead of its get() calls (client.ts, store.ts); what it had not returned when it sat
 * idle while another consumer waited on an empty queue (or tried a getNowait() there, which finds
 * it on a later try) goes back to the front of the queue, before any later item of its producer
 * goes anywhere. What a consumer held when its process ended goes back too: such an item may then
 * come out of another consumer after later items of its producer.
 */
import * as util from "node:util";
import { isInstanceOrOnRedis } from "../distributed/on-redis";
import { redisQueueFor } from "../distributed/queue-entry";
import { makeHandleable, registerHandleKind, type HandleDescriptor } from "../protocol/handles";
import { loadAfresh } from "../protocol/lazy-require";
import { JUPYTER_DISPLAY, LIVE_DISPLAY_ID, type MimeBundle } from "../protocol/kernel-bridge";
import { blockingOptionsError, describe, optionError } from "../parent/option-errors";
import { normalizeTimeout } from "../parent/timeouts";
import { backendFor, LocalBackend, QueueFailure, type BackendState, type QueueBackend } from "./backend";
import { Empty, Full } from "./errors";
import { packItem, unpackItem } from "./items";
import type { QueueSnapshot } from "./store";
import { Failure } from "./wire";

type Pictures = typeof import("../render/display") & typeof import("../render/live") & typeof import("../render/queue-flow");
let loadedPictures: Pictures | undefined;
/**
 * The rendering modules, loaded the first time a queue is sent or shown: once,
 * through loadAfresh, so that an interrupt in the middle leaves no half-made module behind.
 */
function pictures(): Pictures {
  return (loadedPictures ??= loadAfresh(() => ({
    ...(require("../render/display") as typeof import("../render/display")),
    ...(require("../render/live") as typeof import("../render/live")),
    ...(require("../render/queue-flow") as typeof import("../render/queue-flow")),
  })));
}

export const QUEUE_HANDLE = "forklab.queue";

export interface QueueOptions {
  /** Most items the queue holds; a put waits for room beyond it. 0: no limit. @default 0 */
  maxsize?: number;
}

export interface BlockingOptions {
  /** false: fail at once (Empty / Full) instead of waiting. @default true */
  block?: boolean;
  /** Seconds to wait at most (with block); undefined or null: no limit. */
  timeout?: number | null;
}

/** How a queue is made from what its constructor got: the one place that reads those arguments. */
export function queueBackend(kind: QueueSnapshot["kind"], arg: unknown): QueueBackend {
  if (arg instanceof Attach) return arg.backend;
  const where = `new ${kind}()`;
  const options: QueueOptions = typeof arg === "number" || arg === undefined ? { maxsize: arg as number | undefined } : (arg as QueueOptions);
  if (typeof options !== "object" || options === null) throw optionError(where, "maxsize", "a whole number >= 0 (0: no limit)", arg);
  for (const key of Object.keys(options)) {
    if (key === "maxsize") continue;
    const hint = key === "name" ? `; a queue has a name only on Redis: new ${kind}({ redis, name })` : "; the options are maxsize (or, on Redis, redis and name)";
    throw new TypeError(`${where}: unknown option ${key}${hint}`);
  }
  const maxsize = options.maxsize ?? 0;
  if (typeof maxsize !== "number" || !Number.isInteger(maxsize) || maxsize < 0) {
    throw optionError(where, "maxsize", "a whole number >= 0 (0: no limit)", maxsize);
  }
  return new LocalBackend(kind, maxsize);
}

/** A queue arriving in another process: built on the backend its handle names. */
class Attach {
  constructor(readonly backend: QueueBackend) {}
}

function blocking(kind: string, method: string, options: unknown): number | undefined {
  if (options === undefined) return undefined;
  const where = `${kind}.${method}()`;
  if (typeof options !== "object" || options === null) throw blockingOptionsError(where, options);
  for (const key of Object.keys(options)) {
    if (key !== "block" && key !== "timeout") throw new TypeError(`${where}: unknown option ${key}; the options are block and timeout (seconds)`);
  }
  const { block = true, timeout } = options as BlockingOptions;
  if (typeof block !== "boolean") throw optionError(where, "block", "true or false", block);
  if (!block) return 0;
  return normalizeTimeout(where, timeout);
}

/** What `start()` returns, or a rejected promise with what it threw: every operation answers by its promise. */
function settle<R>(start: () => Promise<R>): Promise<R> {
  try {
    return start();
  } catch (error) {
    return Promise.reject(error);
  }
}

const short = (value: unknown) => util.inspect(value, { depth: 1, breakLength: Infinity, maxStringLength: 40 });

/** What the three queue classes share: an owner's items behind a backend, and closing. */
abstract class QueueBase<T> {
  readonly #backend: QueueBackend;
  #closed = false;
  #live: { displayId: string | undefined; changed(): void; show(): void } | undefined;

  protected constructor(arg: unknown) {
    // `kind` is a prototype getter, so a subclass's kind is known here already.
    this.#backend = queueBackend(this.kind, arg);
    makeHandleable(this, () => this.#toHandle());
  }

  protected get backend(): QueueBackend {
    return this.#backend;
  }

  protected get kind(): QueueSnapshot["kind"] {
    return "Queue";
  }

  /** The pid of the process that holds the items. */
  get ownerPid(): number {
    return this.#backend.ownerPid;
  }

  get maxsize(): number {
    return this.#backend.maxsize;
  }

  /** This process will not use the queue again (as Python's close()); the others still can. */
  close(): void {
    this.#closed = true;
  }

  protected check(method: string): void {
    if (this.#closed) {
      throw new Error(`${this.kind}.${method}(): this ${this.kind} was closed in this process (pid ${process.pid}) by close(); other processes can still use it, but here make a new one or do not close it yet`);
    }
  }

  protected putItem(method: string, item: T, timeout: number | undefined): Promise<void> {
    this.check(method);
    const packed = packItem(item, `through a ${this.kind}`, this.#backend.copiesAtPut);
    let put = this.#backend.put(packed, timeout);
    // A pipe end in an item that did not go in was not sent: it must not stay counted as held.
    if (packed.unsend) put = put.catch((error: unknown) => (packed.unsend!(), Promise.reject(error)));
    // Without maxsize a put is never Full: its promise is the backend's own.
    if (this.maxsize === 0) return put;
    return put.catch((error: unknown) => {
      if (error instanceof QueueFailure && error.failure === Failure.Full) {
        throw new Full(
          timeout === 0
            ? `${this.kind}.${method}(): the queue is full (maxsize ${this.maxsize}); ${short(item)} was not put`
            : `${this.kind}.${method}(): no room within ${timeout} s (maxsize ${this.maxsize}); ${short(item)} was not put`,
        );
      }
      throw error;
    });
  }

  protected getItem(method: string, timeout: number | undefined): Promise<T> {
    this.check(method);
    const got = this.#backend.get(timeout);
    // An item this process was sent ahead comes as it is: a stream of gets makes one promise per item here, not three.
    if (!(got instanceof Promise)) return Promise.resolve(unpackItem(got) as T);
    return got.then(
      (item) => unpackItem(item) as T,
      (error: unknown) => {
        throw error instanceof QueueFailure ? this.failure(method, error.failure, timeout) : error;
      },
    );
  }

  protected failure(method: string, failure: Failure, timeout: number | undefined): Error {
    if (failure === Failure.Empty) {
      return new Empty(
        timeout === 0 ? `${this.kind}.${method}(): the queue is empty` : `${this.kind}.${method}(): no item arrived within ${timeout} s`,
      );
    }
    return new Error(`${this.kind}.${method}() failed (${failure})`);
  }

  /**
   * Python's qsize(): items put and not yet returned by a get(), wherever they wait (with the
   * owner, or sent ahead to a consumer that has not asked for them yet); what maxsize bounds.
   * Approximate while other processes use the queue, as Python's docs say of theirs.
   */
  qsize(): Promise<number> {
    this.check("qsize");
    return this.#backend.size().then((s) => s.size);
  }

  /** qsize() === 0: nothing put is still waiting for a get(). */
  empty(): Promise<boolean> {
    this.check("empty");
    return this.#backend.size().then((s) => s.size === 0);
  }

  /** What the picture shows: producers and consumers, counts, and the first events. */
  snapshot(): Promise<QueueSnapshot> {
    return this.#backend.snapshot();
  }

  #toHandle(): HandleDescriptor {
    // The owner's picture starts when its queue first goes to another process: the flow begins.
    this.#showLive();
    return { kind: QUEUE_HANDLE, module: __filename, state: { backend: this.#backend.state(), kind: this.kind } };
  }

  #showLive(): void {
    if (this.#live || !(this.#backend instanceof LocalBackend)) return;
    const { isInKernel, LiveDisplay } = pictures();
    if (!isInKernel()) return;
    const store = (this.#backend as LocalBackend).store;
    this.#live = new LiveDisplay(() => this.#render(store.snapshot(process.pid)), { kind: "forklab-queue", tickMs: 0 });
    store.onChange = () => this.#live?.changed();
    this.#live.show();
  }

  #render(snapshot: QueueSnapshot): MimeBundle {
    const { renderQueueFlow } = pictures();
    return renderQueueFlow(snapshot);
  }

  get [LIVE_DISPLAY_ID](): string | undefined {
    return this.#live?.displayId;
  }

  async [JUPYTER_DISPLAY](): Promise<MimeBundle> {
    return this.#render(await this.#backend.snapshot());
  }

  [util.inspect.custom](): string {
    return `<${this.kind} owner pid ${this.ownerPid}${this.maxsize ? ` maxsize ${this.maxsize}` : ""}${this.#closed ? " closed" : ""}>`;
  }
}

/** Python's multiprocessing.Queue. */
export class Queue<T = unknown> extends QueueBase<T> {
  /** `new Queue()`, `new Queue(maxsize)` or `new Queue({ maxsize })`. */
  constructor(maxsize?: number | QueueOptions) {
    // `{ redis, name }`: the same surface on Redis, shared by name across processes and hosts.
    const onRedis = redisQueueFor("Queue", maxsize);
    if (onRedis) return onRedis as never;
    super(maxsize);
  }

  /** A queue on Redis (`new Queue({ redis, name })`, or a JoinableQueue's) is a Queue too. */
  static [Symbol.hasInstance](value: unknown): boolean {
    return isInstanceOrOnRedis(this, Queue, value, ["Queue", "JoinableQueue"]);
  }

  /** Put an item; with maxsize, waits for room (block, timeout in seconds), else rejects with Full. */
  put(item: T, options?: BlockingOptions): Promise<void> {
    return settle(() => this.putItem("put", item, blocking(this.kind, "put", options)));
  }

  /** Take the first item, waiting for one (block, timeout in seconds), else rejects with Empty. */
  get(options?: BlockingOptions): Promise<T> {
    return settle(() => this.getItem("get", blocking(this.kind, "get", options)));
  }

  putNowait(item: T): Promise<void> {
    return settle(() => this.putItem("putNowait", item, 0));
  }

  getNowait(): Promise<T> {
    return settle(() => this.getItem("getNowait", 0));
  }

  full(): Promise<boolean> {
    this.check("full");
    return this.backend.size().then((s) => s.full);
  }
}

/** Python's JoinableQueue: a Queue whose join() waits until every item put was marked taskDone(). */
export class JoinableQueue<T = unknown> extends Queue<T> {
  constructor(maxsize?: number | QueueOptions) {
    const onRedis = redisQueueFor("JoinableQueue", maxsize);
    if (onRedis) return onRedis as never;
    super(maxsize);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstanceOrOnRedis(this, JoinableQueue, value, ["JoinableQueue"]);
  }

  protected override get kind(): QueueSnapshot["kind"] {
    return "JoinableQueue";
  }

  /** One item taken earlier is done with. Rejects with a ValueError-like error when called more often than items were put. */
  async taskDone(): Promise<void> {
    this.check("taskDone");
    try {
      await this.backend.taskDone();
    } catch (error) {
      if (error instanceof QueueFailure) throw new Error("JoinableQueue.taskDone() called too many times: more than items were put");
      throw error;
    }
  }

  /** Resolves once every item put so far has been marked done. */
  join(): Promise<void> {
    this.check("join");
    return this.backend.join();
  }
}

/** Python's SimpleQueue: put, get, empty, close; no maxsize. */
export class SimpleQueue<T = unknown> extends QueueBase<T> {
  constructor() {
    // Python's SimpleQueue() takes no size either: a number given here would be silently unbounded.
    if (arguments.length > 0 && !(arguments[0] instanceof Attach)) {
      throw new TypeError(`new SimpleQueue() takes no arguments (it has no maxsize), got ${describe(arguments[0])}; use new Queue(maxsize) for a bounded queue`);
    }
    super(arguments[0] instanceof Attach ? arguments[0] : undefined);
  }

  protected override get kind(): QueueSnapshot["kind"] {
    return "SimpleQueue";
  }

  put(item: T): Promise<void> {
    return settle(() => this.putItem("put", item, undefined));
  }

  get(): Promise<T> {
    return settle(() => this.getItem("get", undefined));
  }
}

registerHandleKind(QUEUE_HANDLE, (state) => {
  const { backend, kind } = state as { backend: BackendState; kind: QueueSnapshot["kind"] };
  const attach = new Attach(backendFor(backend));
  if (kind === "JoinableQueue") return new JoinableQueue(attach as never);
  if (kind === "SimpleQueue") return new (SimpleQueue as unknown as new (a: Attach) => SimpleQueue)(attach);
  return new Queue(attach as never);
});
