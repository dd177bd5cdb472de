/**
 * Where a queue's items are: held here (LocalBackend, in the owner) or reached through the
 * owner's socket (RemoteBackend, in every other process). Queue, JoinableQueue, SimpleQueue and
 * Pipe speak only this interface, so another home for the items (a Redis list) is one more class.
 */
import type { PackedItem } from "./items";
import { linkTo, type OwnerLink } from "./client";
import { addStore, isOwnSocket, localStore, ownerSocketPath } from "./server";
import { Store, type QueueSnapshot } from "./store";
import { Failure, HAS_HANDLES, Op } from "./wire";

/** Why an operation failed, for the queue to word: no item, no room, too many taskDone(), end of a pipe. */
export class QueueFailure extends Error {
  constructor(readonly failure: Failure) {
    super(`queue operation failed (${failure})`);
  }
}

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
  /** Rejects with QueueFailure(Full) when no room came within `timeout` s (undefined: wait forever). */
  put(item: PackedItem, timeout: number | undefined): Promise<void>;
  /** Rejects with QueueFailure(Empty), or (Eof) for a pipe whose writer closed. */
  get(timeout: number | undefined): Promise<PackedItem>;
  size(): Promise<{ size: number; full: boolean }>;
  taskDone(): Promise<void>;
  join(): Promise<void>;
  poll(timeout: number | undefined): Promise<boolean>;
  closeWriter(): void;
  snapshot(): Promise<QueueSnapshot>;
  /** The state sent in a handle (starts the owner's socket if needed). */
  state(): BackendState;
}

const myName = () => (globalThis as { [k: symbol]: { proc: { name: string } } | undefined })[Symbol.for("forklab.child")]?.proc.name ?? "MainProcess";

export class LocalBackend implements QueueBackend {
  readonly store: Store;
  readonly id: number;
  readonly ownerPid = process.pid;

  constructor(kind: QueueSnapshot["kind"], maxsize: number) {
    this.store = new Store(kind, maxsize);
    this.store.meet(process.pid, myName());
    this.id = addStore(this.store);
  }

  get maxsize(): number {
    return this.store.maxsize;
  }

  put(item: PackedItem, timeout: number | undefined): Promise<void> {
    return new Promise((resolve, reject) =>
      this.store.put(item, process.pid, timeout, () => (resolve(), true), () => reject(new QueueFailure(Failure.Full))),
    );
  }

  get(timeout: number | undefined): Promise<PackedItem> {
    return new Promise((resolve, reject) =>
      this.store.get(process.pid, timeout, (entry) => (resolve(entry), true), () =>
        reject(new QueueFailure(this.store.writerClosed ? Failure.Eof : Failure.Empty)),
      ),
    );
  }

  async size(): Promise<{ size: number; full: boolean }> {
    return { size: this.store.size, full: this.store.full };
  }

  async taskDone(): Promise<void> {
    if (!this.store.taskDone()) throw new QueueFailure(Failure.Value);
  }

  join(): Promise<void> {
    return new Promise((resolve) => this.store.join(resolve));
  }

  poll(timeout: number | undefined): Promise<boolean> {
    return new Promise((resolve) => this.store.poll(process.pid, timeout, (ready) => (resolve(ready), true)));
  }

  closeWriter(): void {
    this.store.closeWriter();
  }

  async snapshot(): Promise<QueueSnapshot> {
    return this.store.snapshot(process.pid);
  }

  state(): BackendState {
    return { socket: ownerSocketPath(), id: this.id, ownerPid: process.pid, kind: this.store.kind, maxsize: this.store.maxsize };
  }
}

const wait = (timeout: number | undefined) => (timeout === undefined ? Infinity : timeout);

export class RemoteBackend implements QueueBackend {
  readonly #state: BackendState;
  readonly #link: OwnerLink;

  constructor(state: BackendState) {
    this.#state = state;
    this.#link = linkTo(state.socket, state.ownerPid);
  }

  get maxsize(): number {
    return this.#state.maxsize;
  }

  get ownerPid(): number {
    return this.#state.ownerPid;
  }

  async put(item: PackedItem, timeout: number | undefined): Promise<void> {
    const flags = item.handles ? HAS_HANDLES : 0;
    // An unbounded queue always has room: the put is done once the bytes are with the OS.
    if (this.#state.maxsize <= 0) return this.#link.send(Op.Put, this.#state.id, Infinity, item.bytes, flags);
    const answer = await this.#link.request(Op.Put, this.#state.id, wait(timeout), item.bytes, flags);
    if (answer.op === Op.Fail) throw new QueueFailure(answer.number);
  }

  async get(timeout: number | undefined): Promise<PackedItem> {
    const answer = await this.#link.request(Op.Get, this.#state.id, wait(timeout));
    if (answer.op === Op.Fail) throw new QueueFailure(answer.number);
    this.#link.ack(this.#state.id, answer.number);
    return { bytes: answer.payload, handles: (answer.flags & HAS_HANDLES) !== 0 };
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
    return (await this.#link.request(Op.Poll, this.#state.id, wait(timeout))).number === 1;
  }

  closeWriter(): void {
    void this.#link.send(Op.WriterClosed, this.#state.id, 0).catch(() => {});
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
    if (store) return Object.assign(Object.create(LocalBackend.prototype), { store, id: state.id, ownerPid: process.pid }) as LocalBackend;
  }
  return new RemoteBackend(state);
}
