/**
 * The owner's side: one private Unix socket per process that owns queues, in a directory only
 * this user can enter (mkdtemp, mode 0700), started the first time one of its queues is sent to
 * another process. Proxies in any process (children, grandchildren, pool workers) connect to it
 * directly: nothing is routed through the processes in between, and nothing listens on a network
 * address. When a proxy's connection closes (its process ended), the items handed to it that it
 * had not confirmed go back to the front of their queue, and its waits are dropped.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Failure, FrameDecoder, HAS_HANDLES, Op, encodeFrame, type Frame } from "./wire";
import type { Entry, Store } from "./store";

interface Peer {
  socket: Socket;
  pid: number;
  name: string;
  open: boolean;
  /** Items sent to this peer and not yet confirmed, by queue and sequence number. */
  unconfirmed: Map<string, { store: Store; entry: Entry }>;
}

const stores = new Map<number, Store>();
let nextId = 1;
let server: Server | undefined;
let socketPath: string | undefined;

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
  const dir = mkdtempSync(path.join(tmpdir(), "forklab-q-"));
  const file = path.join(dir, "s");
  server = createServer({ allowHalfOpen: false }, accept);
  server.on("error", (error) => process.stderr.write(`forklab: the queue socket ${file} failed: ${error.message}\n`));
  server.listen(file);
  // The owner's queues do not keep it alive: its processes do, as in Python.
  server.unref();
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  socketPath = file;
  return file;
}

/** Whether a handle's socket path is this process's own (a queue coming home). */
export function isOwnSocket(file: string): boolean {
  return file === socketPath;
}

function accept(socket: Socket): void {
  socket.unref();
  socket.setNoDelay?.(true);
  const peer: Peer = { socket, pid: 0, name: "", open: true, unconfirmed: new Map() };
  const decoder = new FrameDecoder();
  socket.on("data", (chunk: Buffer) => {
    try {
      decoder.push(chunk, (frame) => handle(peer, frame));
    } catch (error) {
      process.stderr.write(`forklab: a queue request from pid ${peer.pid} failed: ${(error as Error).stack}\n`);
      socket.destroy();
    }
  });
  socket.on("error", () => {});
  socket.on("close", () => leave(peer));
}

function leave(peer: Peer): void {
  peer.open = false;
  const back = new Map<Store, Entry[]>();
  for (const { store, entry } of peer.unconfirmed.values()) {
    if (!back.has(store)) back.set(store, []);
    back.get(store)!.push(entry);
  }
  peer.unconfirmed.clear();
  for (const [store, entries] of back) store.giveBack(entries, peer.pid);
}

function reply(peer: Peer, frame: Buffer): boolean {
  if (!peer.open) return false;
  peer.socket.write(frame);
  return true;
}

function timeoutOf(frame: Frame): number | undefined {
  return frame.number === Infinity ? undefined : frame.number;
}

function handle(peer: Peer, frame: Frame): void {
  if (frame.op === Op.Hello) {
    const hello = JSON.parse(frame.payload.toString("utf8")) as { pid: number; name: string };
    peer.pid = hello.pid;
    peer.name = hello.name;
    return;
  }
  const store = stores.get(frame.queue);
  const { request, queue } = frame;
  const ok = (number = 0, payload?: Buffer) => reply(peer, encodeFrame(Op.Ok, queue, request, number, payload));
  const fail = (why: Failure, message: string) => reply(peer, encodeFrame(Op.Fail, queue, request, why, Buffer.from(message)));
  if (!store) {
    fail(Failure.Value, `queue #${queue} does not exist in process ${process.pid}`);
    return;
  }
  store.meet(peer.pid, peer.name);
  switch (frame.op) {
    case Op.Put: {
      // Copied out of the read buffer, which the item would otherwise keep alive.
      const item = { bytes: Buffer.from(frame.payload), handles: (frame.flags & HAS_HANDLES) !== 0 };
      store.put(
        item,
        peer.pid,
        timeoutOf(frame),
        () => (request === 0 ? true : ok()),
        () => void fail(Failure.Full, "full"),
      );
      return;
    }
    case Op.Get:
      store.get(
        peer.pid,
        timeoutOf(frame),
        (entry) => {
          if (!reply(peer, encodeFrame(Op.Item, queue, request, entry.seq, entry.bytes, entry.handles ? HAS_HANDLES : 0))) return false;
          store.inTransit();
          peer.unconfirmed.set(`${queue}:${entry.seq}`, { store, entry });
          return true;
        },
        () => void (store.writerClosed ? fail(Failure.Eof, "eof") : fail(Failure.Empty, "empty")),
      );
      return;
    case Op.Ack:
      if (peer.unconfirmed.delete(`${queue}:${frame.number}`)) store.delivered();
      return;
    case Op.Size:
      ok(store.size, Buffer.from(JSON.stringify({ full: store.full })));
      return;
    case Op.TaskDone:
      if (store.taskDone()) ok();
      else fail(Failure.Value, "taskDone() called too many times");
      return;
    case Op.Join:
      store.join(() => void ok());
      return;
    case Op.Poll:
      store.poll(peer.pid, timeoutOf(frame), (ready) => ok(ready ? 1 : 0));
      return;
    case Op.WriterClosed:
      store.closeWriter();
      return;
    case Op.Snapshot:
      ok(0, Buffer.from(JSON.stringify(store.snapshot(process.pid))));
      return;
    default:
      fail(Failure.Value, `unknown queue operation ${frame.op}`);
  }
}
