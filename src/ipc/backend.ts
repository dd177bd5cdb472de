/**
 * Where a queue's items are: held here (LocalBackend, in the owner) or reached through the
 * owner's socket (RemoteBackend, in every other process). Queue, JoinableQueue, SimpleQueue and
 * Pipe speak only this interface, so another home for the items (a Redis list) is one more class.
 */
import type { HandleContext } from "../protocol/handles";
import type { PackedItem } from "./items";
import { linkTo, QueueFailure, type Consumer, type OwnerLink } from "./client";
import { addStore, afterHeardFrom, isOwnSocket, localStore, ownerSocketPath, tellWritersBroken } from "./server";
import { failIfStalled, stalledError } from "./stalled";
import { Store, type Cancel, type QueueSnapshot } from "./store";
import { Failure, Op, itemFlags } from "./wire";

export { QueueFailure };

/** What a handle carries to another process: enough to reach the owner's items. */
export interface BackendState {
  socket: string;
  id: number;
  ownerPid: number;
  kind: QueueSnapshot["kind"];
  maxsize: number;
}

export interface QueueBackend {
  readonly maxsize: number;
  readonly ownerPid: number;
  /** put() has copied the item's bytes by the time it returns (it keeps no reference to them). */
  readonly copiesAtPut: boolean;
  /** Rejects with QueueFailure(Full) when no room came within `timeout` s (undefined: wait forever). */
  put(item: PackedItem, timeout: number | undefined): Promise<void>;
  /** Rejects with QueueFailure(Empty), or (Eof) for a pipe whose writer closed. An item this process holds already may come as it is. */
  get(timeout: number | undefined): PackedItem | Promise<PackedItem>;
  /** qsize(): items put and not yet returned by a get (in the owner, or sent ahead to consumers). */
  size(): Promise<{ size: number; full: boolean }>;
  taskDone(): Promise<void>;
  join(): Promise<void>;
  poll(timeout: number | undefined): Promise<boolean>;
  /**
   * One copy of a pipe's end here was closed: this process holds it no more once its last copy is.
   * `received`: the copy came from another process (else it is the one Pipe() made here).
   */
  closeWriter(received: boolean): void;
  /** This process holds a pipe's writing end (sent with `token`): when it ends, the reader sees the pipe's end. */
  holdWriter(token: number | undefined): void;
  /** The writing end leaves for another process (through `context`'s channel, if known): held until that process attaches it. Returns the token its Attach brings. */
  lendWriter(context: HandleContext | undefined): number;
  /** The end lent under `token` was not sent after all (what carried it failed to go): it is held by nobody. */
  unlendWriter(token: number): void;
  snapshot(): Promise<QueueSnapshot>;
  /** The state sent in a handle (starts the owner's socket if needed). */
  state(): BackendState;
}

/** Starts anywhere: a later process given a dead one's pid is then unlikely to repeat its tokens. */
let lentHere = Math.floor(Math.random() * 0x7fffffff);

/**
 * A token no other living process makes: this pid in the high bits (pids fit in 22 bits), a count
 * in the low 31; exact in an f64, as the wire carries it.
 */
function newToken(): number {
  lentHere = (lentHere % 0x7fffffff) + 1;
  return process.pid * 0x80000000 + lentHere;
}

/**
 * A promise for a wait on the store `store`, for `op`. `start` is given `settle`, which returns
 * false once the promise was settled otherwise (the store then keeps what it offered), and
 * `fail`; it returns what withdraws the wait from the store, if it waits. A wait without a timeout
 * that nothing can end any more fails with `stalled()` (see stalled.ts), and is withdrawn.
 */
function waitOn<R>(
  store: Store,
  op: string,
  timeout: number | undefined,
  stalled: () => Error,
  start: (settle: (value: R) => boolean, fail: (error: unknown) => void) => Cancel | undefined,
): Promise<R> {
  return new Promise((resolve, reject) => {
    let done = false;
    let forget = () => {};
    const end = () => ((done = true), forget());
    const cancel = start(
      (value) => (done ? false : (end(), resolve(value), true)),
      (error) => void (done || (end(), reject(error))),
    );
    if (done || timeout !== undefined || cancel === undefined) return;
    forget = failIfStalled(store, op, stalled, (error) => {
      done = true;
      cancel();
      reject(error);
    });
  });
}

const myName = () => (globalThis as { [k: symbol]: { proc: { name: string } } | undefined })[Symbol.for("forklab.child")]?.proc.name ?? "MainProcess";

/** The copies of a pipe's end that came home to the owner, by its store: one holder for all of them. */
const homeCopies = new WeakMap<Store, { copies: number }>();

export class LocalBackend implements QueueBackend {
  readonly store: Store;
  readonly ownerPid = process.pid;
  /** The store keeps the item's bytes as they are. */
  readonly copiesAtPut = false;
  #id: number | undefined;

  /** A new queue's items here; or, with `home`, a queue that came home: its own store, under the id it was sent with. */
  constructor(kind: QueueSnapshot["kind"], maxsize: number, home?: { store: Store; id: number }) {
    if (home) {
      this.store = home.store;
      this.#id = home.id;
      return;
    }
    this.store = new Store(kind, maxsize);
    this.store.meet(process.pid, myName());
  }

  /**
   * The store's name on the owner's socket, given when the queue is first sent to another process.
   * From then on the owner keeps the store for as long as it lives: a handle may still be on its
   * way, or held by a process that has not used it yet, and nothing tells the owner when the last
   * copy of a handle is gone. A queue never sent is freed with its object.
   */
  get id(): number {
    return (this.#id ??= addStore(this.store));
  }

  get maxsize(): number {
    return this.store.maxsize;
  }

  put(item: PackedItem, timeout: number | undefined): Promise<void> {
    const stalled = () =>
      stalledError(`${this.store.kind}.put()`, `the queue is full (maxsize ${this.maxsize})`, "The item was not put. Start the process that gets before awaiting put(), or give put() a timeout.");
    return waitOn<void>(this.store, "put", timeout, stalled, (settle, fail) =>
      this.store.put(item, process.pid, timeout, () => settle(), () => fail(new QueueFailure(Failure.Full))),
    );
  }

  get(timeout: number | undefined): Promise<PackedItem> {
    const stalled = () =>
      this.store.kind === "Pipe"
        ? stalledError("Connection.recv()", "nothing was sent to this end", "Start the process that sends before awaiting recv(), or check with poll(timeout) first.")
        : stalledError(`${this.store.kind}.get()`, "the queue is empty", "Start the process that puts before awaiting get(), or give get() a timeout.");
    return waitOn<PackedItem>(this.store, "get", timeout, stalled, (settle, fail) =>
      this.store.get(process.pid, timeout, settle, () =>
        fail(this.store.writerClosed && this.store.size === 0 ? new QueueFailure(Failure.Eof, this.store.endReason) : new QueueFailure(Failure.Empty)),
      ),
    );
  }

  async size(): Promise<{ size: number; full: boolean }> {
    return { size: this.store.qsize, full: this.store.full };
  }

  async taskDone(): Promise<void> {
    if (!this.store.taskDone()) throw new QueueFailure(Failure.Value);
  }

  join(): Promise<void> {
    const stalled = () => {
      const unfinished = this.store.unfinished;
      const what = unfinished === 1 ? "1 item put is not marked done by taskDone()" : `${unfinished} items put are not marked done by taskDone()`;
      return stalledError("JoinableQueue.join()", what, "Start the process that gets them, and have it call taskDone() once per item, before awaiting join().");
    };
    return waitOn<void>(this.store, "join", undefined, stalled, (settle) => this.store.join(() => void settle()));
  }

  poll(timeout: number | undefined): Promise<boolean> {
    const stalled = () =>
      stalledError("Connection.poll(null)", "nothing was sent to this end", "Start the process that sends before awaiting poll(null), or give poll() a timeout in seconds.");
    return waitOn<boolean>(this.store, "poll", timeout, stalled, (settle) => this.store.poll(process.pid, timeout, settle));
  }

  closeWriter(received: boolean): void {
    // The copy Pipe() made here holds nothing: the pipe ends here only if no other copy is held.
    if (!received) return this.store.closeCopy(undefined);
    const home = homeCopies.get(this.store);
    if (!home || --home.copies > 0) return;
    homeCopies.delete(this.store);
    this.store.closeCopy(home);
  }

  holdWriter(token: number | undefined): void {
    // The end came home: a copy received here is open until closed, as one in any other process
    // (the copy Pipe() made here is not: see pipe.ts). All of them count as one holder.
    let home = homeCopies.get(this.store);
    if (!home) homeCopies.set(this.store, (home = { copies: 0 }));
    home.copies++;
    this.store.holdWriter(home, token);
  }

  /**
   * Held until the receiver attaches it. When this process sees the receiver end (its own child),
   * an end it never attached is taken back then, once all the receiver sent has been read.
   */
  lendWriter(context: HandleContext | undefined): number {
    const token = newToken();
    // Usually attached long before: then nothing is to be read first. Once attached, the receiver's
    // end no longer concerns this end (a Pool worker may be sent thousands): it stops listening.
    const forget = context?.onPeerEnd?.((pid) => this.store.isLent(token) && afterHeardFrom(pid, () => this.store.takeBack(token, pid)));
    this.store.lendWriter(token, forget);
    return token;
  }

  unlendWriter(token: number): void {
    this.store.unlend(token);
  }

  /**
   * This is a pipe's direction, read by the end whose holders `readers` counts: once none is left,
   * the processes holding an end that sends into it are told (their send() fails).
   */
  readBy(readers: LocalBackend): void {
    this.store.readers = readers.store;
    readers.store.onWriterClosed = () => {
      if (this.#id !== undefined) tellWritersBroken(this.#id, this.store, readers.store.endReason);
    };
  }

  async snapshot(): Promise<QueueSnapshot> {
    return this.store.snapshot(process.pid);
  }

  state(): BackendState {
    return { socket: ownerSocketPath(), id: this.id, ownerPid: process.pid, kind: this.store.kind, maxsize: this.store.maxsize };
  }
}

/**
 * Open copies of a pipe's writing end in this process, by owner socket and queue id. The owner
 * counts a process as one holder; as with a file descriptor duplicated in one process, closing one
 * copy leaves the others open, so the owner is told only when the last one here is closed.
 */
const copiesHere = new Map<string, number>();

const wait = (timeout: number | undefined) => (timeout === undefined ? Infinity : timeout);

export class RemoteBackend implements QueueBackend {
  /** The frame that carries the item is encoded (its bytes copied into the outbox) within put(). */
  readonly copiesAtPut = true;
  readonly #state: BackendState;
  readonly #link: OwnerLink;
  readonly #consumer: Consumer;

  constructor(state: BackendState) {
    this.#state = state;
    this.#link = linkTo(state.socket, state.ownerPid);
    this.#consumer = this.#link.consumer(state.id);
  }

  get maxsize(): number {
    return this.#state.maxsize;
  }

  get ownerPid(): number {
    return this.#state.ownerPid;
  }

  /** The owner's process ended (its items are gone). */
  get ownerGone(): boolean {
    return this.#link.gone !== undefined;
  }

  /** Why nothing can receive what is sent here, if the owner said so: a pipe whose reading end no process holds. */
  get broken(): string | undefined {
    return this.#link.broken.get(this.#state.id);
  }

  put(item: PackedItem, timeout: number | undefined): Promise<void> {
    // An unbounded queue always has room: the put is done once the bytes are where the owner reads them.
    if (this.#state.maxsize <= 0) return this.#link.send(Op.Put, this.#state.id, Infinity, item.bytes, itemFlags(item));
    return this.#link.request(Op.Put, this.#state.id, wait(timeout), item.bytes, itemFlags(item)).then((answer) => {
      if (answer.op === Op.Fail) throw new QueueFailure(answer.number);
    });
  }

  get(timeout: number | undefined): PackedItem | Promise<PackedItem> {
    return this.#consumer.get(timeout);
  }

  async size(): Promise<{ size: number; full: boolean }> {
    const answer = await this.#link.request(Op.Size, this.#state.id, 0);
    return { size: answer.number, full: (JSON.parse(answer.payload.toString("utf8")) as { full: boolean }).full };
  }

  async taskDone(): Promise<void> {
    const answer = await this.#link.request(Op.TaskDone, this.#state.id, 0);
    if (answer.op === Op.Fail) throw new QueueFailure(answer.number);
  }

  async join(): Promise<void> {
    await this.#link.request(Op.Join, this.#state.id, 0);
  }

  async poll(timeout: number | undefined): Promise<boolean> {
    // What was pushed here already counts; the owner's answer comes after any item it pushed first.
    if (this.#consumer.buffered > 0 || this.#consumer.ended !== undefined) return true;
    const ready = (await this.#link.request(Op.Poll, this.#state.id, wait(timeout))).number === 1;
    return ready || this.#consumer.buffered > 0;
  }

  closeWriter(_received: boolean): void {
    // Every copy here was received.
    const key = this.#copiesKey;
    const left = (copiesHere.get(key) ?? 1) - 1;
    if (left > 0) return void copiesHere.set(key, left);
    copiesHere.delete(key);
    void this.#link.send(Op.WriterClosed, this.#state.id, 0).catch(() => {});
  }

  get #copiesKey(): string {
    return `${this.#state.socket}#${this.#state.id}`;
  }

  holdWriter(token: number | undefined): void {
    copiesHere.set(this.#copiesKey, (copiesHere.get(this.#copiesKey) ?? 0) + 1);
    let payload: Buffer | undefined;
    if (token !== undefined) (payload = Buffer.allocUnsafe(8)).writeDoubleLE(token, 0);
    void this.#link.send(Op.Attach, this.#state.id, 1, payload).catch(() => {});
  }

  /**
   * The owner counts it held from the Lend on. It is written now, before the handle leaves: if this
   * process dies after that, the owner knows of the end on its way. An end sent to a child of this
   * process is taken back when this process ends (its children end with it).
   */
  lendWriter(context: HandleContext | undefined): number {
    const token = newToken();
    void this.#link.send(Op.Lend, this.#state.id, token, Buffer.of(context?.side === "parent" ? 1 : 0)).catch(() => {});
    this.#link.out.flush()?.catch(() => {});
    return token;
  }

  unlendWriter(token: number): void {
    // Behind its Lend on the same socket.
    void this.#link.send(Op.Unlend, this.#state.id, token).catch(() => {});
  }

  async snapshot(): Promise<QueueSnapshot> {
    const answer = await this.#link.request(Op.Snapshot, this.#state.id, 0);
    return JSON.parse(answer.payload.toString("utf8")) as QueueSnapshot;
  }

  state(): BackendState {
    return this.#state;
  }
}

/** The backend for a handle that arrived: the owner's own store when it came home, otherwise a proxy. */
export function backendFor(state: BackendState): QueueBackend {
  if (isOwnSocket(state.socket)) {
    const store = localStore(state.id);
    if (store) return new LocalBackend(store.kind, store.maxsize, { store, id: state.id });
  }
  return new RemoteBackend(state);
}
