/**
 * The owner's side: one private Unix socket per process that owns queues, in a directory only
 * this user can enter (mkdtemp, mode 0700), started the first time one of its queues is sent to
 * another process. Proxies in any process (children, grandchildren, pool workers) connect to it
 * directly: nothing is routed through the processes in between, and nothing listens on a network
 * address. A proxy that can map shared memory names a ring file in its Hello, and from then on
 * its frames go both ways on rings (ring-link.ts), the socket carrying wake-ups; the directory is
 * then on /dev/shm. Each connection is a consumer (a Sink) of the queues it gets from: items are
 * pushed to it as its window allows (store.ts). When a connection closes (its process ended), what
 * it had been sent and had not returned goes back to the front of its queue (once what its ring
 * still holds is read), and its waits are dropped.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { removeWithParent } from "../parent/reaper";
import { openRingFile, ringsAvailable, RingLink } from "./ring-link";
import { Failure, FrameDecoder, Op, Outbox, SHARED, SocketConduit, encodeFrame, itemFlags, itemOf, type Frame } from "./wire";
import { Outstanding } from "./outstanding";
import type { Entry, Sink, Store } from "./store";

interface Peer {
  socket: Socket;
  out: Outbox;
  /** The rings its frames come and go on, once its Hello named them (else the socket carries them). */
  ring?: RingLink;
  pid: number;
  name: string;
  open: boolean;
  /** This connection as a consumer of each queue it got from, by queue id. */
  sinks: Map<number, Sink>;
  /** Queues this connection holds a pipe's writing end of. */
  writes: Set<Store>;
  /** Writing ends its process sent on to its own children and that are not attached yet: taken back when it ends. */
  lends: { store: Store; token: number }[];
  /** Told when it says who it is (Hello) and when it closes (see afterHeardFrom). */
  onChange: (() => void)[];
}

/** Linux's tmpfs for shared memory (shm_open's own). */
const SHARED_MEMORY_DIR = "/dev/shm";

const stores = new Map<number, Store>();
let nextId = 1;
let server: Server | undefined;
let socketPath: string | undefined;
const peers = new Set<Peer>();
/** afterHeardFrom() calls waiting for their probe connection, by the probe's number. */
const probes = new Map<number, () => void>();
let nextProbe = 1;

/** Register a store; its id names it on the owner's socket. */
export function addStore(store: Store): number {
  const id = nextId++;
  stores.set(id, store);
  return id;
}

export function localStore(id: number): Store | undefined {
  return stores.get(id);
}

/** The path proxies connect to; starts the server on first use. */
export function ownerSocketPath(): string {
  if (socketPath) return socketPath;
  const dir = privateDirectory();
  const file = path.join(dir, "s");
  server = createServer({ allowHalfOpen: false }, accept);
  server.on("error", (error) => process.stderr.write(`forklab: the queue socket ${file} failed: ${error.message}\n`));
  server.listen(file);
  // The owner's queues do not keep it alive: its processes do, as in Python.
  server.unref();
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  // Ended by a signal, this process runs no exit handler: the reaper beside it removes the directory.
  removeWithParent(dir);
  socketPath = file;
  return file;
}

/** How each process connected to this owner sends its frames: on rings, or on its socket. */
export function connectionTransports(): { pid: number; transport: "rings" | "socket" }[] {
  return [...peers].filter((peer) => peer.pid !== 0).map((peer) => ({ pid: peer.pid, transport: peer.ring ? "rings" : "socket" }));
}

/**
 * A new directory only this user can enter. Rings are files in it, mapped by both processes: in
 * memory (tmpfs) where it can be, not on a disk that would write their pages back.
 */
function privateDirectory(): string {
  if (ringsAvailable() && existsSync(SHARED_MEMORY_DIR)) {
    try {
      return mkdtempSync(path.join(SHARED_MEMORY_DIR, "forklab-q-"));
    } catch {
      // Not writable here (some sandboxes): the temporary directory serves, rings and all.
    }
  }
  return mkdtempSync(path.join(tmpdir(), "forklab-q-"));
}

/** Whether a handle's socket path is this process's own (a queue coming home). */
export function isOwnSocket(file: string): boolean {
  return file === socketPath;
}

function accept(socket: Socket): void {
  socket.unref();
  const peer: Peer = { socket, out: new Outbox(new SocketConduit(socket)), pid: 0, name: "", open: true, sinks: new Map(), writes: new Set(), lends: [], onChange: [] };
  peers.add(peer);
  const decoder = new FrameDecoder();
  const failed = (error: unknown) => {
    process.stderr.write(`forklab: a queue request from pid ${peer.pid} failed: ${(error as Error).stack}\n`);
    socket.destroy();
  };
  socket.on("data", (chunk: Buffer) => {
    try {
      // On rings, what comes on the socket only says: look. Otherwise it is frames, the Hello
      // first, which may name rings: what the proxy wrote to them meanwhile is read then.
      if (!peer.ring) decoder.push(chunk, (frame) => handle(peer, frame));
      peer.ring?.wake();
    } catch (error) {
      failed(error);
    }
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    // What a proxy wrote to its ring before its process ended is read before it is let go.
    try {
      peer.ring?.closed(new Error("the connection closed"));
    } catch (error) {
      failed(error);
    }
    leave(peer);
    peer.ring?.release();
  });
}

function leave(peer: Peer): void {
  peer.open = false;
  peers.delete(peer);
  peer.out.fail(new Error("the connection closed"));
  for (const [id, sink] of peer.sinks) stores.get(id)?.leave(sink);
  peer.sinks.clear();
  for (const store of peer.writes) store.dropWriter(peer, peer.pid);
  peer.writes.clear();
  // Its children end with it; one that had not attached what it was sent never will.
  const lends = peer.lends.splice(0);
  if (lends.length > 0) afterHeardFrom(undefined, () => lends.forEach(({ store, token }) => store.takeBack(token, peer.pid)));
  for (const told of peer.onChange.splice(0)) told();
}

/** Every process holding an end that sends into `store` (queue `id`) learns that nobody can receive: its next send() fails. */
export function tellWritersBroken(id: number, store: Store, reason: string): void {
  for (const peer of peers) if (peer.writes.has(store)) tellBroken(peer, id, reason);
}

function tellBroken(peer: Peer, queue: number, reason: string): void {
  if (peer.open) peer.out.add(Op.Fail, queue, 0, Failure.Broken, Buffer.from(reason));
}

/**
 * Calls `then` once everything that process `pid` (which has ended) wrote to this socket has been
 * read; with `pid` undefined, once every connection made so far has said who it is. A process
 * that ended may still have a connection waiting to be accepted, or data unread: a probe
 * connection is made, and since the socket hands out connections in the order they were made,
 * once the probe is accepted, every earlier one has been. Then each connection that has not said
 * who it is yet, or that is the ended process's own, is waited for (its Hello, or its close).
 */
export function afterHeardFrom(pid: number | undefined, then: () => void): void {
  if (!socketPath) return then();
  const id = nextProbe++;
  const probe = connect(socketPath);
  const done = () => {
    if (!probes.delete(id)) return;
    probe.destroy();
    let waiting = 1;
    const one = () => void (--waiting === 0 && then());
    for (const peer of peers) {
      if (peer.pid !== 0 && peer.pid !== pid) continue;
      waiting++;
      const check = () => (!peer.open || (peer.pid !== 0 && peer.pid !== pid) ? one() : void peer.onChange.push(check));
      check();
    }
    one();
  };
  probes.set(id, done);
  // A socket that fails (the directory removed at exit) cannot hold anything back.
  probe.on("error", done);
  probe.end(encodeFrame(Op.Hello, 0, 0, 0, Buffer.from(JSON.stringify({ pid: process.pid, name: "", probe: id }))));
}

function sinkOf(peer: Peer, queue: number): Sink {
  let sink = peer.sinks.get(queue);
  if (sink) return sink;
  const out = peer.out;
  sink = {
    pid: peer.pid,
    window: 0,
    outstanding: new Outstanding<Entry>(),
    bytes: 0,
    waiting: false,
    recalling: false,
    oneAsked: false,
    send: (entry, shared) => out.add(Op.Item, queue, 0, entry.seq, entry.bytes, itemFlags(entry) | (shared ? SHARED : 0)),
    recall: () => out.add(Op.Recall, queue, 0, 0),
    end: (reason) => out.add(Op.Fail, queue, 0, Failure.Eof, Buffer.from(reason)),
  };
  peer.sinks.set(queue, sink);
  return sink;
}

function timeoutOf(frame: Frame): number | undefined {
  return frame.number === Infinity ? undefined : frame.number;
}

/** Where an answer goes: the request's queue and id (a frame's payload is not needed for it). */
type Asker = Pick<Frame, "queue" | "request">;

/**
 * The asker of a request answered later (a put waiting for room, a join, a poll): a copy, since
 * the frame's payload is a view of the whole read it came in, which the wait would keep alive.
 */
const askerOf = (frame: Frame): Asker => ({ queue: frame.queue, request: frame.request });

/** Answer a request (false once the peer's connection closed: nobody takes the answer). */
function ok(peer: Peer, frame: Asker, number = 0, payload?: Buffer): boolean {
  if (!peer.open) return false;
  peer.out.add(Op.Ok, frame.queue, frame.request, number, payload);
  return true;
}

function fail(peer: Peer, frame: Asker, why: Failure, message: string): boolean {
  if (!peer.open) return false;
  peer.out.add(Op.Fail, frame.queue, frame.request, why, Buffer.from(message));
  return true;
}

/** A put nobody waits on (an unbounded queue's): accepted, with nothing to answer. */
const unanswered = () => true;
const never = () => {};

/**
 * An item's bytes as the store keeps them: the slice of the read buffer itself when the item is
 * most of that buffer (the usual one-put read: nothing copied, nothing else kept alive), else a
 * copy, so that a small item held for long does not keep a large read buffer alive.
 */
function keptBytes(bytes: Buffer): Buffer {
  return bytes.length * 2 >= bytes.buffer.byteLength ? bytes : Buffer.from(bytes);
}

function handle(peer: Peer, frame: Frame): void {
  if (frame.op === Op.Hello) {
    const hello = JSON.parse(frame.payload.toString("utf8")) as { pid: number; name: string; probe?: number; ring?: string };
    if (hello.probe !== undefined) {
      // afterHeardFrom()'s own connection: not a proxy.
      peers.delete(peer);
      peer.open = false;
      peer.socket.destroy();
      probes.get(hello.probe)?.();
      return;
    }
    peer.pid = hello.pid;
    peer.name = hello.name;
    if (hello.ring !== undefined) {
      const memory = openRingFile(path.dirname(socketPath!), hello.ring);
      peer.ring = new RingLink(memory, "owner", peer.socket, (frame) => handle(peer, frame));
      peer.out = new Outbox(peer.ring.conduit);
    }
    for (const told of peer.onChange.splice(0)) told();
    return;
  }
  const store = stores.get(frame.queue);
  const { request, queue } = frame;
  if (!store) {
    if (request !== 0) fail(peer, frame, Failure.Value, `queue #${queue} does not exist in process ${process.pid}`);
    return;
  }
  store.meet(peer.pid, peer.name);
  switch (frame.op) {
    case Op.Put: {
      // Nobody can receive it: the sender's send() is told (it has not waited for an answer).
      const gone = store.readersGone;
      if (gone !== undefined) return void (request === 0 ? tellBroken(peer, queue, gone) : fail(peer, frame, Failure.Broken, gone));
      const item = itemOf(frame);
      // A frame read from a ring is a copy of its own already (ring-link.ts's decoder).
      if (!peer.ring) item.bytes = keptBytes(item.bytes);
      if (request === 0) store.put(item, peer.pid, timeoutOf(frame), unanswered, never);
      else {
        const asker = askerOf(frame);
        store.put(item, peer.pid, timeoutOf(frame), () => ok(peer, asker), () => void fail(peer, asker, Failure.Full, "full"));
      }
      return;
    }
    case Op.Want:
      store.want(sinkOf(peer, queue), frame.number);
      return;
    case Op.Get:
      if (store.sendNow(sinkOf(peer, queue))) ok(peer, frame);
      else if (store.writerClosed) fail(peer, frame, Failure.Eof, store.endReason);
      else fail(peer, frame, Failure.Empty, "empty");
      return;
    case Op.Ack: {
      const sink = peer.sinks.get(queue);
      if (sink) store.ack(sink, frame.number);
      return;
    }
    case Op.Release: {
      const sink = peer.sinks.get(queue);
      const seqs: number[] = [];
      for (let at = 0; at + 8 <= frame.payload.length; at += 8) seqs.push(frame.payload.readDoubleLE(at));
      if (sink) store.release(sink, seqs);
      return;
    }
    case Op.Attach:
      if (frame.number === 1) {
        peer.writes.add(store);
        store.holdWriter(peer, frame.payload.length >= 8 ? frame.payload.readDoubleLE(0) : undefined);
        const gone = store.readersGone;
        if (gone !== undefined) tellBroken(peer, queue, gone);
      }
      return;
    case Op.Lend:
      store.lendWriter(frame.number);
      if (frame.payload[0] === 1) peer.lends.push({ store, token: frame.number });
      return;
    case Op.Unlend:
      store.unlend(frame.number);
      if (peer.lends.length > 0) peer.lends = peer.lends.filter((lend) => lend.token !== frame.number);
      return;
    case Op.Size:
      ok(peer, frame, store.qsize, Buffer.from(JSON.stringify({ full: store.full })));
      return;
    case Op.TaskDone:
      if (store.taskDone()) ok(peer, frame);
      else fail(peer, frame, Failure.Value, "taskDone() called too many times");
      return;
    case Op.Join: {
      const asker = askerOf(frame);
      store.join(() => void ok(peer, asker));
      return;
    }
    case Op.Poll: {
      const asker = askerOf(frame);
      store.poll(peer.pid, timeoutOf(frame), (ready) => ok(peer, asker, ready ? 1 : 0), peer.sinks.get(queue));
      return;
    }
    case Op.WriterClosed:
      // The last open copy of the end in that process was closed: it holds the end no more.
      peer.writes.delete(store);
      store.closeCopy(peer);
      return;
    case Op.Snapshot:
      ok(peer, frame, 0, Buffer.from(JSON.stringify(store.snapshot(process.pid))));
      return;
    default:
      if (request !== 0) fail(peer, frame, Failure.Value, `unknown queue operation ${frame.op}`);
  }
}
