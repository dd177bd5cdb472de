/**
 * Frames between a queue's owner and its proxies, on the owner's Unix socket.
 *
 * Not the parent<->child channel's records (framing.ts): an item crosses as the bytes of its own
 * `v8.serialize`, carried as they are in a small binary frame, so the owner stores and forwards
 * those bytes without ever deserializing them (one serialize in the producer, one deserialize in
 * the consumer, whatever the number of hops).
 *
 *     u32 length of what follows | u8 op | u8 flags | u32 queue | u32 request | f64 number | payload
 */
import type { Socket } from "node:net";

export const enum Op {
  /** proxy -> owner, once per connection: payload is JSON `{ pid, name }`. */
  Hello = 1,
  /** An item for the queue; request 0 asks for no answer (unbounded queues). number: timeout in s (Infinity: none). */
  Put = 2,
  /** getNowait(): the owner pushes one item (Item, request 0) then answers Ok, or answers Fail. */
  Get = 3,
  /** The consumer's get() returned the item with this sequence number (number): it must not come back. Also frees one credit. */
  Ack = 4,
  /** Ask for the number of items put and not yet returned by a get (answered by Ok with it). */
  Size = 5,
  /** JoinableQueue.taskDone(). */
  TaskDone = 6,
  /** JoinableQueue.join(): answered once every item put has been marked done. */
  Join = 7,
  /** Pipe.poll(): answered (Ok, number 1 or 0) once an item is there, the writer closed, or the time ran out. */
  Poll = 8,
  /** A pipe end will send no more (its close()). */
  WriterClosed = 9,
  /** Ask for the owner's picture data (answered by Ok with a JSON payload). */
  Snapshot = 10,
  /** A proxy for this queue exists in the sender's process; number 1: it is the writing end of a pipe. */
  Attach = 11,
  /** A get() waits with nothing buffered: send items, up to `number` not yet returned by a get. */
  Want = 12,
  /** Items sent to this consumer that its get() never returned, given back: payload is their sequence numbers (f64 each). */
  Release = 13,

  /** owner -> proxy: an item (number: its sequence number); request 0 when pushed to a consumer. */
  Item = 20,
  /** owner -> proxy: the request succeeded; number (and payload) carry its answer. */
  Ok = 21,
  /** owner -> proxy: the request failed; number is a Failure, payload its message (UTF-8). Request 0: the queue's end (Eof) for its consumers. */
  Fail = 22,
  /** owner -> proxy: another consumer waits and the queue is empty: give back the items not yet returned (Release). */
  Recall = 23,
}

export const enum Failure {
  Empty = 1,
  Full = 2,
  /** taskDone() called more times than items were put. */
  Value = 3,
  /** A pipe's other end closed and nothing is left to read. */
  Eof = 4,
}

/** flags: the payload holds handle markers to revive (a queue sent inside an item). */
export const HAS_HANDLES = 1;
/** flags on a pushed Item: the queue has other consumers, so say when you wait (Want) and the owner can recall for you. */
export const SHARED = 2;

const HEAD = 4 + 1 + 1 + 4 + 4 + 8;

export interface Frame {
  op: Op;
  flags: number;
  queue: number;
  request: number;
  number: number;
  payload: Buffer;
}

const EMPTY = Buffer.alloc(0);

export function encodeFrame(op: Op, queue: number, request: number, number: number, payload: Buffer = EMPTY, flags = 0): Buffer {
  const frame = Buffer.allocUnsafe(HEAD + payload.length);
  frame.writeUInt32LE(HEAD - 4 + payload.length, 0);
  frame[4] = op;
  frame[5] = flags;
  frame.writeUInt32LE(queue, 6);
  frame.writeUInt32LE(request, 10);
  frame.writeDoubleLE(number, 14);
  payload.copy(frame, HEAD);
  return frame;
}

/**
 * Frames from a byte stream, for any split of it. Chunks are kept in a list and a frame's bytes are
 * copied once, when it is complete (a 100 MB item arriving in 64 KiB chunks is not re-copied per chunk).
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Bytes the frame being assembled needs in total, once its length is known. */
  #need = 0;

  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#need > this.#buffered) return;
    let buffer = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [];
    this.#buffered = 0;
    this.#need = 0;
    let offset = 0;
    while (buffer.length - offset >= 4) {
      const size = 4 + buffer.readUInt32LE(offset);
      if (buffer.length - offset < size) {
        this.#need = size;
        break;
      }
      onFrame({
        op: buffer[offset + 4] as Op,
        flags: buffer[offset + 5]!,
        queue: buffer.readUInt32LE(offset + 6),
        request: buffer.readUInt32LE(offset + 10),
        number: buffer.readDoubleLE(offset + 14),
        payload: buffer.subarray(offset + HEAD, offset + size),
      });
      offset += size;
    }
    if (offset < buffer.length) {
      buffer = buffer.subarray(offset);
      this.#chunks.push(buffer);
      this.#buffered = buffer.length;
    }
  }
}

/**
 * Frames to one socket, coalesced: every frame added in one tick goes out in one write. `written()`
 * resolves once what was added so far is with the OS (so it reaches the other side even if this
 * process dies right after), which is when a put or an ack counts as done.
 */
export class Outbox {
  readonly #socket: Socket;
  #frames: Buffer[] = [];
  #waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  #scheduled = false;
  #error: Error | undefined;
  /** Called when a write stays pending (the OS buffer was full) and when it drains. */
  onPending: ((pending: boolean) => void) | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  add(op: Op, queue: number, request: number, number: number, payload?: Buffer, flags = 0): void {
    if (this.#error) return;
    this.#frames.push(encodeFrame(op, queue, request, number, payload, flags));
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  /** Resolves once every frame added so far is with the OS; rejects if the socket failed first. */
  written(): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#frames.length === 0 || this.#error) return;
    const frames = this.#frames;
    const waiters = this.#waiters;
    this.#frames = [];
    this.#waiters = [];
    const bytes = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
    let settled = false;
    let pending = false;
    const settle = (error?: Error | null) => {
      if (settled) return;
      settled = true;
      if (error) for (const w of waiters) w.reject(this.#error ?? error);
      else for (const w of waiters) w.resolve();
    };
    this.#socket.write(bytes, (error) => {
      if (pending) this.onPending?.((pending = false));
      settle(error);
    });
    // Usually the OS takes the bytes at once; otherwise the callback above says when it has.
    if (this.#socket.writableLength === 0 && !this.#socket.connecting) settle();
    else this.onPending?.((pending = true));
  }

  /** The socket failed: waiting writers learn why; later frames are dropped. */
  fail(error: Error): void {
    this.#error = error;
    this.#frames = [];
    for (const w of this.#waiters.splice(0)) w.reject(error);
  }
}
