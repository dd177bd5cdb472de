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

export const enum Op {
  /** proxy -> owner, once per connection: payload is JSON `{ pid, name }`. */
  Hello = 1,
  /** An item for the queue; request 0 asks for no answer (unbounded queues). number: timeout in s (Infinity: none). */
  Put = 2,
  /** Take one item. number: timeout in s (Infinity: none; 0: only if one is there). */
  Get = 3,
  /** The consumer has the item with this sequence number (number): it must not come back. */
  Ack = 4,
  /** Ask for the number of items (answered by Ok with it). */
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

  /** owner -> proxy: the item for a Get (number: its sequence number). */
  Item = 20,
  /** owner -> proxy: the request succeeded; number (and payload) carry its answer. */
  Ok = 21,
  /** owner -> proxy: the request failed; number is a Failure, payload its message (UTF-8). */
  Fail = 22,
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
