/**
 * Records on the channel: a 4-byte little-endian length, then the message as V8's structured-clone
 * serialization (`v8.serialize`: Map, Set, Date, BigInt, typed arrays, cycles). Any number of
 * records may share one write; the decoder accepts any split of the byte stream.
 *
 * Why not Node's IPC (`serialization: "advanced"`)? It uses the same serializer but one write per
 * message and no way to coalesce; a pool sending thousands of tiny tasks a tick needs records
 * batched per write, and a plain socket also tells a child its parent died (end of stream).
 */
import { deserialize, serialize } from "node:v8";
import type { Message } from "./messages";

export const HEADER_BYTES = 4;

/** Serialize one message into a record (header + payload). Throws a DataCloneError as V8 does. */
export function encodeRecord(message: Message): Buffer {
  const payload = serialize(message);
  const record = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  record.writeUInt32LE(payload.length, 0);
  payload.copy(record, HEADER_BYTES);
  return record;
}

/** Decode a stream of records, chunk by chunk; returns the complete messages in order. */
export class RecordDecoder {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  push(chunk: Buffer): Message[] {
    let buffer: Buffer;
    if (this.#pendingBytes === 0) buffer = chunk;
    else {
      this.#pending.push(chunk);
      buffer = Buffer.concat(this.#pending, this.#pendingBytes + chunk.length);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    const out: Message[] = [];
    let offset = 0;
    while (buffer.length - offset >= HEADER_BYTES) {
      const size = buffer.readUInt32LE(offset);
      if (buffer.length - offset - HEADER_BYTES < size) break;
      const start = offset + HEADER_BYTES;
      out.push(deserialize(buffer.subarray(start, start + size)) as Message);
      offset = start + size;
    }
    if (offset < buffer.length) {
      const rest = buffer.subarray(offset);
      this.#pending.push(rest);
      this.#pendingBytes = rest.length;
    }
    return out;
  }

  /** Bytes received that do not yet form a whole record. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }
}

/** Flatten batch envelopes, in order. */
export function unbatch(messages: Message[], into: Message[] = []): Message[] {
  for (const message of messages) {
    if (message.t === "batch") unbatch(message.msgs, into);
    else into.push(message);
  }
  return into;
}
