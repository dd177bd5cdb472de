/**
 * A pool worker's side of the child runtime ("worker" mode): run batches of tasks one task at a
 * time, in the order they arrive, async tasks included (as Python's pool workers do), and answer
 * each batch with one `done` message.
 *
 * While a task runs, what it writes to process.stdout/stderr (console.log included) is sent over
 * the channel tagged with the batch and the task's position, instead of going to the stdout pipe.
 * The channel is one ordered stream, so a task's output always reaches the parent before its
 * result, and the parent can show it as that task's output. Only bytes written to fd 1/2 behind
 * Node's back (a native addon, a grandchild that inherited them) still go through the pipes.
 */
import { findUncloneable, uncloneableMessage } from "../protocol/clone";
import type { DoneMessage, ErrorRecord, Message, SetupMessage, TargetSpec, TasksMessage } from "../protocol/messages";
import { batchParts, compactDone, packDone, packRuns } from "../protocol/pool-batches";

type AnyFunction = (...args: unknown[]) => unknown;

export interface WorkerHost {
  /** Send a message to the parent now, its handles encoded (throws if it cannot be cloned). */
  send(message: Message): void;
  /** The function defined under `fid`, or a freshly loaded target. */
  resolve(target: number | TargetSpec): AnyFunction;
  /** An error as it crosses, its stack cleaned of the runtime's frames. */
  errorRecord(error: unknown): ErrorRecord;
  /** No batch is left and the parent said close: let the process end. */
  finish(): void;
  /** Write what the channel holds now (the process is about to exit). */
  flush(): void;
}

const now = (): number => performance.timeOrigin + performance.now();

/**
 * Answers wait for the end of the turn to travel together, but not longer than this (ms): a
 * message of several long batches (map's chunks) sends each answer when it is done, so the parent
 * reads it while the next one runs, instead of all of them at the end.
 */
const ANSWER_HOLD_MS = 1;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null && typeof (value as { then?: unknown }).then === "function";
}

export class WorkerLoop {
  readonly #host: WorkerHost;
  readonly #queue: TasksMessage[] = [];
  #head = 0;
  #busy = false;
  #closing = false;
  /** The batch and position whose task runs now (0: none), for tagging output. */
  #batch = 0;
  #position = 0;
  #pendingOutput: { s: "stdout" | "stderr"; text: string; id: number; i: number } | undefined;
  #setupDone: Promise<void> = Promise.resolve();
  /** Messages of this tick, sent as one record (one serialization for many tiny tasks). */
  #outbox: Message[] = [];
  /** When the outbox's first message was queued (an answer: when its batch began). */
  #outboxSince = 0;

  constructor(host: WorkerHost) {
    this.#host = host;
    this.#captureStreams();
    // A task that calls process.exit(): the answers of the batches before it still go out (the
    // write is attempted at once), so the parent knows exactly which task took the worker down.
    process.on("exit", () => {
      this.#flushOutput();
      this.#flushOutbox();
      this.#host.flush();
    });
  }

  /** Run the initializer before any batch; report `up` (with the error if it threw, then end). */
  setup(message: SetupMessage): void {
    this.#setupDone = (async () => {
      try {
        if (message.initializer) await this.#host.resolve(message.initializer)(...message.initargs);
        this.#flushOutput();
        this.#send({ t: "up" });
        // Written before any task runs: a task that kills its worker at once must not look like a
        // worker that never started (the parent would give that task to another worker).
        this.#flushOutbox();
        this.#host.flush();
      } catch (error) {
        this.#flushOutput();
        this.#send({ t: "up", error: this.#host.errorRecord(error) });
        // As Python's worker does when its initializer raises: end; the pool decides what next.
        process.exitCode = 1;
        this.#closing = true;
        this.#queue.length = 0;
        this.#finish();
        throw error;
      }
    })();
    this.#setupDone.catch(() => {});
  }

  enqueue(message: TasksMessage): void {
    if (this.#closing && process.exitCode === 1) return;
    this.#queue.push(message);
    if (!this.#busy) void this.#drain();
  }

  close(): void {
    this.#closing = true;
    if (!this.#busy) this.#finish();
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      await this.#setupDone;
    } catch {
      return;
    }
    while (this.#head < this.#queue.length) {
      const batch = this.#queue[this.#head++]!;
      if (this.#head > 1024) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      const pending = this.#run(batch);
      if (pending) await pending;
    }
    this.#queue.length = 0;
    this.#head = 0;
    this.#busy = false;
    if (this.#closing) this.#finish();
  }

  /**
   * Run one message of batches (one, or several packed); synchronous tasks stay synchronous (no
   * await per tiny task). Each batch is answered as soon as its last task is done.
   */
  #run(message: TasksMessage): Promise<void> | undefined {
    const parts = batchParts(message);
    let fn: AnyFunction;
    try {
      fn = this.#host.resolve(message.fid);
    } catch (error) {
      const record = this.#host.errorRecord(error);
      for (const part of parts) {
        const errors: [number, ErrorRecord][] = [];
        for (let i = 0; i < part.to - part.from; i++) errors.push([i, record]);
        this.#answer(part.id, Array.from({ length: part.to - part.from }), errors, now());
      }
      return undefined;
    }
    // A column of numbers is read in place (no array made of it): task i is fn(nums[i]), which for
    // an argument list of one number is what fn(...[x]) would be.
    const items: ArrayLike<unknown> = message.nums ?? message.items;
    const star = message.star && !message.nums;
    let k = 0;
    let part = parts[0]!;
    // Filled in order with push: a packed array, which V8 serializes densely (a holey one, as
    // new Array(n) makes, goes out as index/value pairs: twice the bytes, several times the time).
    let values: unknown[] = [];
    let errors: [number, ErrorRecord][] = [];
    let startedAt = now();
    const nextPart = () => {
      this.#answer(part.id, values, errors, startedAt);
      if (++k === parts.length) return false;
      part = parts[k]!;
      values = [];
      errors = [];
      startedAt = now();
      return true;
    };
    const step = (from: number): Promise<void> | undefined => {
      for (let i = from; ; i++) {
        // An empty batch, or the end of one: answer it, go on with the next.
        while (i === part.to) if (!nextPart()) return undefined;
        this.#batch = part.id;
        this.#position = i - part.from;
        let value: unknown;
        try {
          value = star ? fn(...(items[i] as unknown[])) : fn(items[i]);
        } catch (error) {
          errors.push([i - part.from, this.#host.errorRecord(error)]);
          values.push(undefined);
          continue;
        }
        if (isThenable(value)) {
          const at = i - part.from;
          return Promise.resolve(value).then(
            (v) => {
              values.push(v);
              return step(i + 1);
            },
            (error: unknown) => {
              errors.push([at, this.#host.errorRecord(error)]);
              values.push(undefined);
              return step(i + 1);
            },
          );
        }
        values.push(value);
      }
    };
    return step(0);
  }

  #answer(id: number, values: unknown[], errors: [number, ErrorRecord][], startedAt: number): void {
    this.#flushOutput();
    this.#batch = 0;
    const endedAt = now();
    const message: DoneMessage = { t: "done", id, values, at: [startedAt, endedAt] };
    if (errors.length) message.errors = errors;
    // Held since the batch began when nothing else was waiting: a long batch is answered at once.
    this.#send(message, startedAt);
    if (endedAt - this.#outboxSince >= ANSWER_HOLD_MS) {
      this.#flushOutbox();
      this.#host.flush();
    }
  }

  /** Send a done message whose values may not all cross: those that cannot fail with an error naming where. */
  #sendDone(message: DoneMessage): void {
    try {
      this.#host.send(message);
    } catch {
      const errors = message.errors ?? [];
      for (let i = 0; i < message.values.length; i++) {
        const found = message.values[i] === undefined ? undefined : findUncloneable(message.values[i], "result");
        if (!found) continue;
        message.values[i] = undefined;
        errors.push([i, this.#host.errorRecord(new TypeError(uncloneableMessage(found, "back to the parent")))]);
      }
      this.#host.send({ ...message, errors });
    }
  }

  /** What is queued goes out first, then the runtime may end. */
  #finish(): void {
    this.#flushOutput();
    this.#flushOutbox();
    this.#host.finish();
  }

  #send(message: Message, at?: number): void {
    if (this.#outbox.push(message) === 1) {
      this.#outboxSince = at ?? now();
      queueMicrotask(() => this.#flushOutbox());
    }
  }

  #flushOutbox(): void {
    const messages = this.#outbox;
    this.#outbox = [];
    if (messages.length === 0) return;
    // Neighbouring answers travel as one packed `done` (output between them keeps its place).
    const packed = (messages.length === 1 ? messages : packRuns<DoneMessage>(messages, (m) => (m.t === "done" ? "done" : undefined), packDone)).map(
      (m) => (m.t === "done" ? compactDone(m) : m),
    );
    try {
      this.#host.send(packed.length === 1 ? packed[0]! : { t: "batch", msgs: packed });
    } catch {
      // One of them holds handles (encoded only when sent alone) or cannot cross: one by one.
      for (const message of messages) {
        if (message.t === "done") this.#sendDone(message);
        else this.#host.send(message);
      }
    }
  }

  /** Tasks' writes to process.stdout/stderr become `out` messages (merged while one task writes). */
  #captureStreams(): void {
    for (const name of ["stdout", "stderr"] as const) {
      const stream = process[name];
      stream.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((error?: Error | null) => void), callback?: (error?: Error | null) => void) => {
        const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
        const pending = this.#pendingOutput;
        if (pending && pending.s === name && pending.id === this.#batch && pending.i === this.#position) pending.text += text;
        else {
          this.#flushOutput();
          this.#pendingOutput = { s: name, text, id: this.#batch, i: this.#position };
          queueMicrotask(() => this.#flushOutput());
        }
        const done = typeof encoding === "function" ? encoding : callback;
        if (done) process.nextTick(done);
        return true;
      }) as typeof stream.write;
    }
  }

  #flushOutput(): void {
    const pending = this.#pendingOutput;
    if (!pending) return;
    this.#pendingOutput = undefined;
    this.#send({ t: "out", id: pending.id, i: pending.i, s: pending.s, text: pending.text });
  }
}
