/**
 * Routes output to the cell that caused it.
 *
 * Each execution runs inside an AsyncLocalStorage context that holds its request. Timers,
 * promises and event callbacks created by the cell inherit that context, so stdout, stderr and
 * displays they produce later carry the cell's parent header, not the header of whichever cell
 * runs at that moment. Writes are coalesced into one `stream` message per tick.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { StringDecoder } from "node:string_decoder";
import type { Message } from "../wire";

export interface CellContext {
  request: Message;
  /** Bytes written to stdout/stderr in this cell's context may split a character: one decoder each. */
  decoders?: { stdout: StringDecoder; stderr: StringDecoder };
  /** Aborted when this cell is interrupted: what the kernel awaits for it stops waiting. */
  abort: AbortController;
  /** The display ids of the outputs this cell shows (display_data, not updates). */
  displayIds: Set<string>;
  /** Registered by the library while this cell ran: called if this cell is interrupted. */
  interruptListeners: Set<() => void>;
}

export type Publish = (msgType: string, content: Record<string, unknown>, parent: Message) => void;

export class OutputRouter {
  readonly cells = new AsyncLocalStorage<CellContext>();
  readonly #publish: Publish;
  /** Output with no cell context (a callback from a kernel-level source) goes to the latest cell. */
  #latest: CellContext | undefined;
  #pending: { name: "stdout" | "stderr"; text: string; parent: Message }[] = [];
  #flushScheduled = false;

  constructor(publish: Publish) {
    this.#publish = publish;
  }

  run<T>(context: CellContext, body: () => Promise<T>): Promise<T> {
    this.#latest = context;
    return this.cells.run(context, body);
  }

  current(): CellContext | undefined {
    return this.cells.getStore() ?? this.#latest;
  }

  stream(name: "stdout" | "stderr", text: string): boolean {
    const context = this.current();
    if (!context) return false;
    const last = this.#pending.at(-1);
    if (last && last.name === name && last.parent === context.request) last.text += text;
    else this.#pending.push({ name, text, parent: context.request });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /** Sends buffered stream text; called before any other message so order is kept. */
  flush(): void {
    this.#flushScheduled = false;
    const pending = this.#pending;
    this.#pending = [];
    for (const { name, text, parent } of pending) this.#publish("stream", { name, text }, parent);
  }

  /** Publish a message for the current cell (or an explicit one), after pending streams. */
  send(msgType: string, content: Record<string, unknown>, parent = this.current()?.request): void {
    this.flush();
    if (parent) this.#publish(msgType, content, parent);
  }

  /** Redirect process.stdout/stderr into the cells; the originals still get kernel-level output. */
  captureProcessStreams(): void {
    for (const name of ["stdout", "stderr"] as const) {
      const stream = process[name];
      const original = stream.write.bind(stream);
      stream.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((e?: Error | null) => void), callback?: (e?: Error | null) => void) => {
        const context = this.current();
        if (!context) return original(chunk, encoding as BufferEncoding, callback);
        // Bytes arrive in chunks that may split a UTF-8 character: decode them as one stream per
        // cell, so that a character one cell left unfinished never prefixes another cell's output.
        context.decoders ??= { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
        const text = typeof chunk === "string" ? chunk : context.decoders[name].write(Buffer.from(chunk));
        if (text !== "") this.stream(name, text);
        const done = typeof encoding === "function" ? encoding : callback;
        if (done) process.nextTick(done);
        return true;
      }) as typeof stream.write;
    }
  }
}
