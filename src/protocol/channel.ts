/**
 * One side of a parent<->child channel over a duplex stream (a socket pair on fd 3).
 *
 * `send` serializes at once (so a value that cannot cross throws to the caller, synchronously) and
 * queues the record; every record queued in the same tick goes out in one write. Incoming records
 * are unbatched, their handle markers revived, and handed to `onMessage` in order; a message that
 * fails there goes to `onError` without holding up the others.
 */
import type { Duplex } from "node:stream";
import { RecordDecoder, RecordError } from "./framing";
import type { Message } from "./messages";
import { encodeMessage, reviveHandles, type HandleContext } from "./handles";

export interface ChannelOptions {
  onMessage: (message: Message) => void;
  /** The stream ended or failed: the other side is gone. */
  onClose: (error?: Error) => void;
  /**
   * A record that could not be read (`message` undefined, `error` a RecordError: over the size
   * cap, or bytes that do not deserialize), a message whose handles could not be revived, or one
   * for which `onMessage` threw. The messages after it are still delivered. @default a note on stderr
   */
  onError?: (error: unknown, message: Message | undefined, during: "decode" | "revive" | "onMessage") => void;
  /** Given to revivers of handles that arrive on this channel. */
  handleContext?: HandleContext;
}

export class Channel {
  readonly #stream: Duplex;
  readonly #decoder = new RecordDecoder();
  readonly #options: ChannelOptions;
  #queue: Buffer[] = [];
  #queuedBytes = 0;
  #flushScheduled = false;
  #closed = false;

  constructor(stream: Duplex, options: ChannelOptions) {
    this.#stream = stream;
    this.#options = options;
    stream.on("data", (chunk: Buffer) => this.#receive(chunk));
    stream.on("error", (error: Error) => this.#close(error));
    stream.on("close", () => this.#close());
    stream.on("end", () => this.#close());
  }

  /**
   * Queue a message; it is written with the others of this tick. Handles in its payload become
   * markers (see handles.ts). Throws if it cannot be cloned.
   */
  send(message: Message): void {
    if (this.#closed) return;
    this.sendRecord(encodeMessage(message, this.#options.handleContext));
  }

  /** Queue a record made earlier by `encodeMessage` (e.g. to check a message before a child exists). */
  sendRecord(record: Buffer): void {
    if (this.#closed) return;
    this.#queue.push(record);
    this.#queuedBytes += record.length;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Write what is queued now, in one write; `done` runs once it has been handed to the OS. */
  flush(done?: () => void): void {
    this.#flushScheduled = false;
    if (this.#queue.length === 0 || this.#closed) {
      done?.();
      return;
    }
    const bytes = this.#queue.length === 1 ? this.#queue[0]! : Buffer.concat(this.#queue, this.#queuedBytes);
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#stream.write(bytes, () => done?.());
  }

  /** Stop keeping the event loop alive for this channel (it still delivers messages). */
  unref(): void {
    (this.#stream as Duplex & { unref?: () => void }).unref?.();
  }

  ref(): void {
    (this.#stream as Duplex & { ref?: () => void }).ref?.();
  }

  /** Flush and end our side. */
  end(): void {
    if (this.#closed) return;
    this.flush();
    this.#stream.end();
  }

  destroy(): void {
    this.#queue = [];
    this.#stream.destroy();
    this.#close();
  }

  #receive(chunk: Buffer): void {
    for (const record of this.#decoder.push(chunk)) {
      if (record instanceof RecordError) this.#fail(record, undefined, "decode");
      else this.#unbatch(record);
    }
  }

  #unbatch(message: Message): void {
    if (message.t !== "batch") this.#deliver(message);
    else if (Array.isArray(message.msgs)) for (const inner of message.msgs) this.#unbatch(inner);
  }

  /** One message; whatever it throws stays with it, so the rest of a batch still arrives. */
  #deliver(message: Message): void {
    let during: "revive" | "onMessage" = "revive";
    try {
      if ("h" in message && message.h === 1) reviveMessage(message, this.#options.handleContext);
      during = "onMessage";
      this.#options.onMessage(message);
    } catch (error) {
      this.#fail(error, message, during);
    }
  }

  #fail(error: unknown, message: Message | undefined, during: "decode" | "revive" | "onMessage"): void {
    try {
      (this.#options.onError ?? reportFailure)(error, message, during);
    } catch (failure) {
      reportFailure(failure, message);
    }
  }

  #close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.onClose(error);
  }
}

function reportFailure(error: unknown, message: Message | undefined): void {
  let text: string;
  try {
    text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  } catch {
    text = Object.prototype.toString.call(error);
  }
  const what = message ? `a "${message.t}" message` : "a message";
  process.stderr.write(`forklab: could not handle ${what} from the other process:\n${text}\n`);
}

function reviveMessage(message: Message, context: HandleContext | undefined): void {
  if (message.t === "run") message.args = reviveHandles(message.args, context) as unknown[];
  else if (message.t === "result") message.value = reviveHandles(message.value, context);
  else if (message.t === "port") message.data = reviveHandles(message.data, context);
  else if (message.t === "tasks") message.items = reviveHandles(message.items, context) as unknown[];
  else if (message.t === "done") message.values = reviveHandles(message.values, context) as unknown[];
  else if (message.t === "setup") message.initargs = reviveHandles(message.initargs, context) as unknown[];
}
