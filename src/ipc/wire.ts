/**
 * Frames between a queue's owner and its proxies: on rings in memory both map (ring-link.ts), or
 * on the owner's Unix socket where rings cannot be had.
 *
 * Not the parent<->child channel's records (framing.ts): an item crosses as the bytes of its own
 * `v8.serialize`, carried as they are in a small binary frame, so the owner stores and forwards
 * those bytes without ever deserializing them (one serialize in the producer, one deserialize in
 * the consumer, whatever the number of hops).
 *
 *     u32 length of what follows | u8 op | u8 flags | u32 queue | u32 request | f64 number | payload
 */
import { writeSync } from "node:fs";
import type { Socket } from "node:net";
import type { Form, PackedItem } from "./items";

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
  /** The sender's last open copy of a pipe's writing end was closed: it holds the end no more. */
  WriterClosed = 9,
  /** Ask for the owner's picture data (answered by Ok with a JSON payload). */
  Snapshot = 10,
  /** A proxy for this queue exists in the sender's process; number 1: it is the writing end of a pipe (payload: the f64 token it was sent with, if any). */
  Attach = 11,
  /** A get() waits with nothing buffered: send items, up to `number` not yet returned by a get (0: no get() waits any more). */
  Want = 12,
  /** Items sent to this consumer that its get() never returned, given back: payload is their sequence numbers (f64 each). */
  Release = 13,
  /**
   * This process sends a pipe's writing end on, under the token `number`: count it as held until
   * the receiver attaches it. Payload 1 byte: 1 if it goes to a child of the sender (which ends
   * with it: the end is taken back when the sender ends), 0 if nobody knows where (a queue's item).
   */
  Lend = 14,
  /** The writing end lent under the token `number` was not sent after all (what carried it failed to go): it holds nothing. */
  Unlend = 15,

  /** owner -> proxy: an item (number: its sequence number); request 0 when pushed to a consumer. */
  Item = 20,
  /** owner -> proxy: the request succeeded; number (and payload) carry its answer. */
  Ok = 21,
  /** owner -> proxy: the request failed; number is a Failure, payload its message (UTF-8). Request 0: the queue's end (Eof) for its consumers, or (Broken) for the holders of a pipe end whose other end is gone. */
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
  /** No process holds the end that reads this pipe's direction: nothing can receive what is sent. */
  Broken = 5,
}

/** flags: the payload holds handle markers to revive (a queue sent inside an item). */
export const HAS_HANDLES = 1;
/** flags on a pushed Item: the queue has other consumers, so say when you wait (Want) and the owner can recall for you. */
export const SHARED = 2;
/** flags, bits 2 and up of a Put or an Item: the item's Form (items.ts). */
const FORM_SHIFT = 2;

/** The flags that carry an item's own description (handles, form). */
export function itemFlags(item: PackedItem): number {
  return (item.handles ? HAS_HANDLES : 0) | (item.form << FORM_SHIFT);
}

/** The item a Put or an Item frame carries (its bytes are the frame's, not a copy). */
export function itemOf(frame: Frame): PackedItem {
  return { bytes: frame.payload, handles: (frame.flags & HAS_HANDLES) !== 0, form: (frame.flags >> FORM_SHIFT) as Form };
}

const HEAD = 4 + 1 + 1 + 4 + 4 + 8;

export interface Frame {
  op: Op;
  flags: number;
  queue: number;
  request: number;
  number: number;
  payload: Buffer;
  /** The payload is a view of a read that is overwritten once the decoder's onFrame returns (FrameDecoder's `lentPayloads`). */
  lent?: boolean;
}

const EMPTY = Buffer.alloc(0);

/** The bytes a frame with `payloadBytes` of payload takes. */
export function frameBytes(payloadBytes: number): number {
  return HEAD + payloadBytes;
}

/**
 * Memory frames are written into: a buffer, and a DataView of the same bytes through which the
 * header's fields go (Buffer's own write methods check their arguments on every call, which is
 * most of what encoding a small frame costs).
 */
export class FrameSpace {
  readonly view: DataView;

  constructor(readonly bytes: Buffer) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

/** Payloads up to this size are copied byte by byte: cheaper than a call into Buffer's copy. */
const SMALL_COPY = 64;

/** A frame written into `space` at `at` (which has room for frameBytes() of it). */
export function encodeFrameAt(space: FrameSpace, at: number, op: Op, queue: number, request: number, number: number, payload: Buffer | undefined, flags: number): void {
  const { bytes, view } = space;
  const length = payload ? payload.length : 0;
  view.setUint32(at, HEAD + length - 4, true);
  bytes[at + 4] = op;
  bytes[at + 5] = flags;
  view.setUint32(at + 6, queue, true);
  view.setUint32(at + 10, request, true);
  view.setFloat64(at + 14, number, true);
  if (length === 0) return;
  const start = at + HEAD;
  if (length <= SMALL_COPY) for (let i = 0; i < length; i++) bytes[start + i] = payload![i]!;
  else bytes.set(payload!, start);
}

export function encodeFrame(op: Op, queue: number, request: number, number: number, payload: Buffer = EMPTY, flags = 0): Buffer {
  const frame = Buffer.allocUnsafe(HEAD + payload.length);
  encodeFrameAt(new FrameSpace(frame), 0, op, queue, request, number, payload, flags);
  return frame;
}

/**
 * Frames from a byte stream, for any split of it. Whole frames are read in place from the chunk
 * they arrived in (their payload is a slice of it, not a copy). A frame split across chunks is
 * copied, once, as its pieces arrive, into a buffer of its own, exactly its size: a 100 MB item
 * arriving in 64 KiB chunks is copied once, and the frames after it are not copied at all.
 *
 * With `reusedReads`, every read arrives in the same memory, which the next read overwrites (a
 * socket's onread, a ring): then the payload of a whole frame is copied too, so that nothing
 * points into a read once push() returns; or, with `lentPayloads` as well, it is a view of the
 * read that holds only while `onFrame` runs, for a handler that copies what it keeps (a consumer
 * turns an item's bytes into its value there, with no copy of the bytes first).
 *
 * The Frame handed to `onFrame` is this decoder's own, rewritten for the next frame once
 * `onFrame` returns (a frame per item would be most of the garbage a stream of small items
 * makes): keep its fields, or a copy of it, not the object. Its payload is the caller's to keep,
 * unless lent.
 */
export class FrameDecoder {
  /** Whole frames' payloads are copied out of their read (see above). */
  readonly #copyPayloads: boolean;
  /** The first bytes of a frame whose length field itself was split (fewer than 4 so far). */
  readonly #head = Buffer.alloc(4);
  #headBytes = 0;
  /** The split frame being filled, once its length is known, and how much of it has arrived. */
  #partial: Buffer | undefined;
  #filled = 0;
  /** Whole frames' payloads are views of their read (see above). */
  readonly #lendPayloads: boolean;
  /** Reads arrive in the same memory each time, so a view of it is worth keeping. */
  readonly #reusedReads: boolean;
  readonly #frame: Frame = { op: 0 as Op, flags: 0, queue: 0, request: 0, number: 0, payload: EMPTY, lent: false };
  /** With reused reads: a view of the memory they arrive in (a ring's, or a socket's read buffer). */
  #memory: ArrayBufferLike | undefined;
  #view: DataView | undefined;

  constructor(options: { reusedReads?: boolean; lentPayloads?: boolean } = {}) {
    this.#reusedReads = options.reusedReads ?? false;
    this.#lendPayloads = this.#reusedReads && (options.lentPayloads ?? false);
    this.#copyPayloads = this.#reusedReads && !this.#lendPayloads;
  }

  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    let offset = 0;
    if (this.#partial || this.#headBytes > 0) {
      offset = this.#continue(chunk, onFrame);
      if (offset < 0) return;
    }
    const end = chunk.length;
    if (end - offset < 4) {
      if (offset < end) this.#start(chunk, offset);
      return;
    }
    const view = this.#viewOf(chunk);
    const base = chunk.byteOffset;
    while (end - offset >= 4) {
      const size = 4 + view.getUint32(base + offset, true);
      if (end - offset < size) break;
      this.#emit(this.#frameAt(chunk, view, offset, size, this.#copyPayloads, this.#lendPayloads), onFrame);
      offset += size;
    }
    if (offset < end) this.#start(chunk, offset);
  }

  /** Hands the frame on, then lets go of its payload (a large one must not live on in the decoder). */
  #emit(frame: Frame, onFrame: (frame: Frame) => void): void {
    onFrame(frame);
    // (A handler that throws ends its link, and the decoder with it: no finally on this path.)
    frame.payload = EMPTY;
  }

  #viewOf(chunk: Buffer): DataView {
    // A fresh read buffer each time: a view of its own, not kept (it would keep the read alive).
    if (!this.#reusedReads) return new DataView(chunk.buffer);
    if (chunk.buffer !== this.#memory) {
      this.#memory = chunk.buffer;
      this.#view = new DataView(chunk.buffer);
    }
    return this.#view!;
  }

  /** The rest of `chunk`, from `offset`, begins a frame that a later chunk completes. */
  #start(chunk: Buffer, offset: number): void {
    if (chunk.length - offset < 4) {
      this.#headBytes = chunk.copy(this.#head, 0, offset);
      return;
    }
    this.#partial = Buffer.allocUnsafeSlow(4 + chunk.readUInt32LE(offset));
    this.#filled = chunk.copy(this.#partial, 0, offset);
  }

  /**
   * The split frame, with `chunk`: emitted once whole (returns where the rest of `chunk` starts),
   * or still waiting for a later chunk (returns -1).
   */
  #continue(chunk: Buffer, onFrame: (frame: Frame) => void): number {
    let offset = 0;
    if (!this.#partial) {
      offset = chunk.copy(this.#head, this.#headBytes, 0, 4 - this.#headBytes);
      this.#headBytes += offset;
      if (this.#headBytes < 4) return -1;
      this.#headBytes = 0;
      this.#partial = Buffer.allocUnsafeSlow(4 + this.#head.readUInt32LE(0));
      this.#filled = this.#head.copy(this.#partial, 0);
    }
    const partial = this.#partial;
    const taken = chunk.copy(partial, this.#filled, offset, offset + partial.length - this.#filled);
    this.#filled += taken;
    if (this.#filled < partial.length) return -1;
    this.#partial = undefined;
    this.#filled = 0;
    // Assembled in memory of its own: the payload is the handler's to keep (neither copied nor lent).
    this.#emit(this.#frameAt(partial, new DataView(partial.buffer), 0, partial.length, false, false), onFrame);
    return offset + taken;
  }

  /** The frame at `offset` of `chunk` (`view` is of its memory); its payload a slice of `chunk` (`lent` if the read is overwritten), or with `copy` a buffer of its own. */
  #frameAt(chunk: Buffer, view: DataView, offset: number, size: number, copy: boolean, lent: boolean): Frame {
    const at = chunk.byteOffset + offset;
    const frame = this.#frame;
    frame.op = chunk[offset + 4] as Op;
    frame.flags = chunk[offset + 5]!;
    frame.queue = view.getUint32(at + 6, true);
    frame.request = view.getUint32(at + 10, true);
    frame.number = view.getFloat64(at + 14, true);
    frame.lent = lent;
    const length = size - HEAD;
    if (length <= 0) frame.payload = EMPTY;
    else if (!copy) frame.payload = chunk.subarray(offset + HEAD, offset + size);
    else frame.payload = copyOut(chunk, offset + HEAD, length);
    return frame;
  }
}

/** `length` bytes of `chunk` from `start`, in a buffer of their own. */
function copyOut(chunk: Buffer, start: number, length: number): Buffer {
  const copy = Buffer.allocUnsafe(length);
  if (length <= SMALL_COPY) for (let i = 0; i < length; i++) copy[i] = chunk[start + i]!;
  else chunk.copy(copy, 0, start, start + length);
  return copy;
}

interface Batch {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (fail = rej)));
  const reject = (error: Error) => {
    // A batch nobody awaits must not be an unhandled rejection (marked only when it fails: a
    // handler on every batch would cost each put a promise more).
    promise.catch(() => {});
    fail(error);
  };
  return { promise, resolve, reject };
}

/** What send() returns for a frame the OS took at once. */
const WRITTEN = Promise.resolve();

/** Room an Outbox starts with; it grows for a larger batch and keeps that room. */
const OUTBOX_BYTES = 64 * 1024;
/** Payloads from this size are written straight into a ring by add() (see there); smaller ones are batched. */
const DIRECT_BYTES = 512;
/** A batch the stream must take is copied out of the buffer up to this size (else the buffer goes with it). */
const COPIED_TO_STREAM = 8 * 1024;

/**
 * Where an Outbox's bytes go: the socket itself, or a ring in memory both processes map (ring.ts).
 * Either way, bytes it has taken reach the other side even if this process dies right after.
 */
export interface Conduit {
  /**
   * How many of `bytes` were taken at once (0 when they must wait: see writeLater). Never throws.
   * `urgent` false: the other side need not act on them at once (acks only), so a conduit that
   * must wake it may wait a little, to wake it once for many.
   */
  writeNow(bytes: Buffer, urgent: boolean): number;
  /**
   * Bytes that could not go at once: kept and written as room comes, then `done` is called (with
   * the error, if the connection failed first). Returns true when they all went at once after all
   * (`done` may then be called too, or not).
   */
  writeLater(bytes: Buffer, done: (error?: Error | null) => void): boolean;
  /**
   * One frame encoded straight where it goes, if that can be done at once (else false, and
   * nothing was written: it goes through writeNow). Called only when nothing waits to go before it.
   * A conduit that has it writes to memory, with no system call: nothing is gained there by
   * saving writes.
   */
  writeFrame?(op: Op, queue: number, request: number, number: number, payload: Buffer | undefined, flags: number, urgent: boolean): boolean;
}

/** The socket as a conduit: one write(2) to its descriptor when nothing waits in it, else the stream. */
export class SocketConduit implements Conduit {
  readonly #socket: Socket;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /**
   * Bytes written at once to the socket's descriptor; 0 when the stream must take them instead:
   * it has writes queued (order), no descriptor yet, the OS buffer is full (it waits for room),
   * or the write failed (the stream meets the same failure and reports it as usual).
   */
  writeNow(bytes: Buffer): number {
    const socket = this.#socket;
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (socket.connecting || socket.writableLength > 0 || typeof fd !== "number" || fd < 0) return 0;
    try {
      return writeSync(fd, bytes);
    } catch {
      return 0;
    }
  }

  writeLater(bytes: Buffer, done: (error?: Error | null) => void): boolean {
    this.#socket.write(bytes, done);
    return this.#socket.writableLength === 0 && !this.#socket.connecting;
  }
}

/**
 * Frames to one connection, coalesced: every frame added in one tick goes out in one write,
 * encoded straight into one buffer (reused while the conduit takes each write at once).
 * `written()` resolves once what was added so far is taken (so it reaches the other side even if
 * this process dies right after), which is when a put or an ack counts as done. While there is no
 * room (a write waits), what is added waits in the buffer and goes in one write once that write
 * is done, however many batches it was flushed in meanwhile.
 */
export class Outbox {
  readonly #conduit: Conduit;
  #space = new FrameSpace(Buffer.allocUnsafeSlow(OUTBOX_BYTES));
  #length = 0;
  /** One promise for everyone waiting on the batch being filled. */
  #batch: Batch | undefined;
  #scheduled = false;
  /** A write waits in the socket for room: nothing is written until it is done. */
  #waiting = false;
  #error: Error | undefined;
  /** Called when a write stays pending (the OS buffer was full) and when it is done. */
  onPending: ((pending: boolean) => void) | undefined;

  constructor(conduit: Conduit) {
    this.#conduit = conduit;
  }

  add(op: Op, queue: number, request: number, number: number, payload?: Buffer, flags = 0): void {
    if (this.#error) return;
    // A large payload goes straight into a ring when nothing waits before it: copied once, not
    // into this buffer and then again into the ring. The other side is woken for it when the
    // tick ends, as for what is flushed then (or sooner, for many: see RingLink), not at once.
    if (payload !== undefined && payload.length >= DIRECT_BYTES && this.#alone() && this.#conduit.writeFrame!(op, queue, request, number, payload, flags, false)) return;
    this.#encode(op, queue, request, number, payload, flags, true);
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  /**
   * add() and flush() at once, for a frame this side waits on now (a consumer's ack: the item is
   * handed out once it is written): what waits to go goes with it, and no flush is scheduled for
   * later. `urgent` false: the other side need not act on it at once (see Conduit.writeNow).
   */
  write(op: Op, queue: number, request: number, number: number, urgent: boolean): Promise<void> | undefined {
    if (this.#alone() && this.#conduit.writeFrame!(op, queue, request, number, undefined, 0, urgent)) return undefined;
    if (!this.#error) this.#encode(op, queue, request, number, undefined, 0, urgent);
    return this.flush();
  }

  /** Nothing waits to go, and the conduit can take a frame as it is encoded (a ring): it may go straight there. */
  #alone(): boolean {
    return this.#length === 0 && !this.#waiting && !this.#error && this.#conduit.writeFrame !== undefined;
  }

  /**
   * For a frame its sender waits on (a put): written at once when this outbox wrote nothing else
   * in the current run of promise jobs, so that a loop awaiting each put makes its write without
   * waiting for the tick's end; frames sent in the same synchronous run as another go in that
   * run's batch, one write for all. Resolves once the frame is with the OS.
   */
  send(op: Op, queue: number, request: number, number: number, payload?: Buffer, flags = 0): Promise<void> {
    if (this.#wroteThisRun || this.#waiting || this.#error) {
      this.add(op, queue, request, number, payload, flags);
      return this.written();
    }
    // A write that costs no system call (a ring's) is not worth saving: every send is written at once.
    if (this.#conduit.writeFrame === undefined) {
      this.#wroteThisRun = true;
      queueMicrotask(this.#runEnded);
    } else if (this.#alone() && this.#conduit.writeFrame(op, queue, request, number, payload, flags, true)) return WRITTEN;
    this.#encode(op, queue, request, number, payload, flags, true);
    return this.flush() ?? WRITTEN;
  }

  #wroteThisRun = false;
  readonly #runEnded = (): void => void (this.#wroteThisRun = false);

  /** A batch that held a large item leaves its room behind. */
  #shrinkBuffer(): void {
    if (this.#space.bytes.length > 4 * OUTBOX_BYTES) this.#space = new FrameSpace(Buffer.allocUnsafeSlow(OUTBOX_BYTES));
  }

  /** Some frame in the buffer needs the other side to act (see Conduit.writeNow). */
  #urgent = false;

  #encode(op: Op, queue: number, request: number, number: number, payload: Buffer | undefined, flags: number, urgent: boolean): void {
    if (urgent) this.#urgent = true;
    const size = HEAD + (payload ? payload.length : 0);
    if (this.#length + size > this.#space.bytes.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(2 * this.#space.bytes.length, this.#length + size));
      this.#space.bytes.copy(bigger, 0, 0, this.#length);
      this.#space = new FrameSpace(bigger);
    }
    encodeFrameAt(this.#space, this.#length, op, queue, request, number, payload, flags);
    this.#length += size;
  }

  /** Resolves once every frame added so far is with the OS; rejects if the socket failed first. */
  written(): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    return (this.#batch ??= newBatch()).promise;
  }

  /**
   * Write what was added now. Returns undefined when all of it is with the OS already (and every
   * batch added so far with it), else a promise like written()'s.
   */
  flush(): Promise<void> | undefined {
    this.#scheduled = false;
    if (this.#error) {
      // Handled here too: a flush run at the end of a tick has no one to take it.
      const failed = Promise.reject(this.#error);
      failed.catch(() => {});
      return failed;
    }
    if (this.#length === 0) return this.#batch?.promise;
    // Behind a write that waits for room: this batch joins what follows it, written as one.
    if (this.#waiting) return (this.#batch ??= newBatch()).promise;
    const batch = this.#batch;
    const bytes = this.#space.bytes.subarray(0, this.#length);
    const urgent = this.#urgent;
    this.#batch = undefined;
    this.#length = 0;
    this.#urgent = false;
    // With nothing waiting, the bytes go at once (for the socket, one write(2) straight to its
    // descriptor), without the stream's request, callbacks and ticks per batch.
    const taken = this.#conduit.writeNow(bytes, urgent);
    if (taken === bytes.length) {
      batch?.resolve();
      this.#shrinkBuffer();
      return undefined;
    }
    const waited = batch ?? newBatch();
    this.#writeQueued(taken === 0 ? bytes : bytes.subarray(taken), waited);
    return waited.promise;
  }

  /**
   * What the conduit did not take at once, it keeps until there is room. A small rest is copied
   * for it, so the buffer stays this outbox's; a large one takes the buffer along.
   */
  #writeQueued(rest: Buffer, batch: Batch): void {
    const copied = rest.length <= COPIED_TO_STREAM;
    const bytes = copied ? Buffer.from(rest) : rest;
    let settled = false;
    let pending = false;
    const settle = (error?: Error | null) => {
      if (settled) return;
      settled = true;
      if (error) batch.reject(this.#error ?? error);
      else batch.resolve();
    };
    const wentAtOnce = this.#conduit.writeLater(bytes, (error) => {
      if (!pending) return settle(error);
      pending = false;
      this.#waiting = false;
      this.onPending?.(false);
      settle(error);
      // What was added while this write waited goes now, in one write.
      if (!error && this.#length > 0) this.flush();
    });
    // Usually the bytes are taken at once (and the buffer is free again); otherwise the conduit
    // keeps them until the callback above, and batches wait until then (a large rest it keeps is
    // part of the buffer: what comes next is encoded in a new one).
    if (wentAtOnce) {
      settle();
      this.#shrinkBuffer();
    } else {
      if (!copied) this.#space = new FrameSpace(Buffer.allocUnsafeSlow(OUTBOX_BYTES));
      pending = true;
      this.#waiting = true;
      this.onPending?.(true);
    }
  }

  /** The socket failed: waiting writers learn why; later frames are dropped. */
  fail(error: Error): void {
    this.#error = error;
    this.#length = 0;
    this.#batch?.reject(error);
    this.#batch = undefined;
  }
}
