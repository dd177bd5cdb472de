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
import { ClassInstanceError, findClassInstance } from "./clone";
import { registerErrorClass } from "./errors";
import type { Message } from "./messages";

export const HEADER_BYTES = 4;

/** 1 GiB: the largest record either side sends or accepts unless FORKLAB_MAX_RECORD_BYTES says otherwise. */
export const DEFAULT_MAX_RECORD_BYTES = 2 ** 30;
/** The header is a uint32, so no record can be larger than this whatever the setting. */
const HEADER_LIMIT = 2 ** 32 - 1;

/**
 * The cap on one record's payload. Set FORKLAB_MAX_RECORD_BYTES (a number of bytes) in the
 * environment of the parent before it starts children: they inherit it, so both ends agree.
 */
export function maxRecordBytes(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FORKLAB_MAX_RECORD_BYTES;
  if (raw === undefined || raw === "") return DEFAULT_MAX_RECORD_BYTES;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(
      `FORKLAB_MAX_RECORD_BYTES is ${JSON.stringify(raw)}: it must be a positive whole number of bytes ` +
        `(at most ${HEADER_LIMIT}); unset it for the default of 1 GiB`,
    );
  }
  return Math.min(value, HEADER_LIMIT);
}

/** "1.00 GiB", "100.0 MiB", "512 bytes". */
export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

/** A record that could not become a message: too large, or its bytes do not deserialize. */
export class RecordError extends Error {
  override name = "RecordError";
  readonly code: "ERR_FORKLAB_RECORD_TOO_LARGE" | "ERR_FORKLAB_RECORD_UNREADABLE";
  /** The record's payload size in bytes. */
  readonly size: number;
  readonly cap: number;

  constructor(code: RecordError["code"], size: number, cap: number, cause?: unknown) {
    super(
      code === "ERR_FORKLAB_RECORD_TOO_LARGE"
        ? tooLargeMessage(size, cap)
        : `A message of ${formatBytes(size)} arrived but could not be deserialized (${causeText(cause)}); ` +
            `it was dropped and the messages after it are still delivered`,
      cause === undefined ? undefined : { cause },
    );
    this.code = code;
    this.size = size;
    this.cap = cap;
  }
}

registerErrorClass(RecordError);

function tooLargeMessage(size: number, cap: number): string {
  const exact = (n: number) => (n < 1024 ? formatBytes(n) : `${formatBytes(n)} (${n} bytes)`);
  return (
    `A message of ${exact(size)} is larger than the cap of ${exact(cap)} for one message ` +
    `between processes; send the data in smaller pieces (e.g. several results, or a file path), ` +
    `or raise the cap with the environment variable FORKLAB_MAX_RECORD_BYTES before the processes start`
  );
}

function causeText(cause: unknown): string {
  try {
    return cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  } catch {
    return "unknown error";
  }
}

/**
 * Refuse a class instance in a message's user data (its methods would be lost silently). Cheap:
 * a bounded look at the values nearest the root of each payload, after the serialize succeeded.
 */
function checkClassInstances(message: Message): void {
  const found =
    message.t === "run" ? findClassInstance(message.args, "args")
    : message.t === "result" ? findClassInstance(message.value, "result")
    : message.t === "port" ? findClassInstance(message.data, "data")
    : undefined;
  if (found) throw new ClassInstanceError(found.path, found.value);
  if (message.t === "batch") for (const inner of message.msgs) checkClassInstances(inner);
}

/**
 * Serialize one message into a record (header + payload). Throws a DataCloneError as V8 does, a
 * ClassInstanceError for a class instance in its data, and a RecordError when the payload is over
 * the cap: the sender learns it, not a reader far away.
 */
export function encodeRecord(message: Message, options?: RecordDecoderOptions): Buffer {
  const payload = serialize(message);
  checkClassInstances(message);
  const cap = options?.maxRecordBytes ?? maxRecordBytes();
  if (payload.length > cap) throw new RecordError("ERR_FORKLAB_RECORD_TOO_LARGE", payload.length, cap);
  const record = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  record.writeUInt32LE(payload.length, 0);
  payload.copy(record, HEADER_BYTES);
  return record;
}

const EMPTY = Buffer.alloc(0);

export interface RecordDecoderOptions {
  /** Largest payload sent or accepted; a larger record is skipped as it arrives. @default maxRecordBytes() */
  maxRecordBytes?: number;
}

/**
 * Decode a stream of records, chunk by chunk. Linear in the bytes received: chunks are kept as a
 * list and the bytes of one record are copied once, when it is complete (and not at all when it
 * lies within one chunk). A record over the cap is skipped as its bytes arrive, never buffered.
 */
export class RecordDecoder {
  readonly #cap: number;
  #chunks: Buffer[] = [];
  /** The first chunk with unread bytes (chunks before it are spent), and where in it they start. */
  #first = 0;
  #head = 0;
  #buffered = 0;
  /** The payload size of the record being read, once its header is in. */
  #size = -1;
  /** Bytes of an over-cap record still to discard. */
  #skipping = 0;
  #copied = 0;

  constructor(options: RecordDecoderOptions = {}) {
    this.#cap = options.maxRecordBytes ?? maxRecordBytes();
  }

  /**
   * The complete records in this chunk and those before it, in order: each a message, or a
   * RecordError in its place for a record that could not be read (the stream stays in step).
   */
  push(chunk: Buffer): (Message | RecordError)[] {
    const out: (Message | RecordError)[] = [];
    if (this.#skipping > 0) {
      const skipped = Math.min(this.#skipping, chunk.length);
      this.#skipping -= skipped;
      chunk = chunk.subarray(skipped);
    }
    if (chunk.length === 0) return out;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#size < 0) {
        if (this.#buffered < HEADER_BYTES) break;
        this.#size = this.#take(HEADER_BYTES).readUInt32LE(0);
        if (this.#size > this.#cap) {
          out.push(new RecordError("ERR_FORKLAB_RECORD_TOO_LARGE", this.#size, this.#cap));
          const now = Math.min(this.#size, this.#buffered);
          this.#discard(now);
          this.#skipping = this.#size - now;
          this.#size = -1;
          if (this.#skipping > 0) break;
          continue;
        }
      }
      if (this.#buffered < this.#size) break;
      const payload = this.#take(this.#size);
      const size = this.#size;
      this.#size = -1;
      try {
        out.push(deserialize(payload) as Message);
      } catch (error) {
        out.push(new RecordError("ERR_FORKLAB_RECORD_UNREADABLE", size, this.#cap, error));
      }
    }
    return out;
  }

  /** The next `n` buffered bytes (n <= #buffered): a view when they lie in one chunk, else one copy. */
  #take(n: number): Buffer {
    const first = this.#chunks[this.#first]!;
    if (first.length - this.#head >= n) {
      const view = first.subarray(this.#head, this.#head + n);
      this.#advance(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[this.#first]!;
      const count = Math.min(chunk.length - this.#head, n - filled);
      chunk.copy(out, filled, this.#head, this.#head + count);
      filled += count;
      this.#advance(count);
    }
    this.#copied += n;
    return out;
  }

  #discard(n: number): void {
    while (n > 0) {
      const count = Math.min(this.#chunks[this.#first]!.length - this.#head, n);
      this.#advance(count);
      n -= count;
    }
  }

  /** Consume `n` bytes from the first chunk (at most what it has left). */
  #advance(n: number): void {
    this.#head += n;
    this.#buffered -= n;
    if (this.#head === this.#chunks[this.#first]!.length) {
      this.#chunks[this.#first++] = EMPTY;
      this.#head = 0;
      // Drop spent chunks in one go, not one shift() per chunk (amortized linear).
      if (this.#first === this.#chunks.length) {
        this.#chunks = [];
        this.#first = 0;
      } else if (this.#first >= 1024) {
        this.#chunks = this.#chunks.slice(this.#first);
        this.#first = 0;
      }
    }
  }

  /** Bytes received that do not yet form a whole record. */
  get pendingBytes(): number {
    return this.#buffered + (this.#size >= 0 ? HEADER_BYTES : 0);
  }

  /** Bytes copied so far to join records that spanned chunks (for tests: decoding stays linear). */
  get copiedBytes(): number {
    return this.#copied;
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
