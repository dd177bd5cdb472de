/**
 * The kernel's sockets, bound per the connection file: shell, stdin and iopub on the main thread;
 * control and heartbeat on their own thread (see control-thread.ts).
 */
import path from "node:path";
import { Worker } from "node:worker_threads";
import * as zmq from "zeromq";
import type { ControlThreadData, FromControlThread, ToControlThread } from "../control/control-thread";
import { bindNamed } from "../bind";
import { log } from "../log";
import { endpoint, type ConnectionInfo } from "../wire";

/** Something frames can be sent to, one send at a time. */
export interface FrameSink {
  send(frames: Buffer[]): Promise<void>;
}

/**
 * zeromq allows one send in flight per socket; replies and iopub messages come from many async
 * paths, so each socket's sends go through one ordered chain.
 */
export class OrderedSender {
  #chain: Promise<void> = Promise.resolve();
  constructor(private readonly sink: FrameSink, private readonly onError: (error: unknown) => void) {}

  send(frames: Buffer[]): Promise<void> {
    this.#chain = this.#chain.then(() => this.sink.send(frames)).catch(this.onError);
    return this.#chain;
  }

  /** Resolves when everything queued so far has been handed on. */
  drained(): Promise<void> {
    return this.#chain;
  }
}

/** The control channel as the main thread sees it: messages in, frames out, through the thread. */
export class ControlChannel implements FrameSink {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  /** Shared with the thread, which reads it without the main thread (which may be blocked). */
  readonly #runningCell: Int32Array;
  #onMessage: (frames: Buffer[], runningCell: number) => void = () => {};

  private constructor(worker: Worker, runningCell: Int32Array) {
    this.#worker = worker;
    this.#runningCell = runningCell;
    this.#exited = new Promise((resolve) => worker.once("exit", () => resolve()));
    worker.on("message", (message: FromControlThread) => {
      if ("received" in message) this.#onMessage(message.received.map((frame) => Buffer.from(frame)), message.runningCell);
      else if ("log" in message) log(message.log);
    });
    worker.on("error", (error) => log(`control thread error: ${error.stack ?? String(error)}`));
  }

  static async start(connection: ConnectionInfo): Promise<ControlChannel> {
    const data: ControlThreadData = { connection, runningCell: new Int32Array(new SharedArrayBuffer(4)) };
    const worker = new Worker(path.join(__dirname, "..", "control", "control-thread.js"), { workerData: data });
    const channel = new ControlChannel(worker, data.runningCell);
    await new Promise<void>((resolve, reject) => {
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`the control thread exited (code ${code}) before it was ready`)));
      worker.on("message", (message: FromControlThread) => {
        if ("ready" in message) resolve();
        else if ("failed" in message) reject(new Error(message.failed));
      });
    });
    return channel;
  }

  /** Tell the thread which cell runs (a number of the kernel's, 0: none), so that it interrupts by signal only then. */
  setRunningCell(cell: number): void {
    Atomics.store(this.#runningCell, 0, cell);
  }

  /** `handler` gets each control message with the number of the cell that was running when it arrived (0: none). */
  onMessage(handler: (frames: Buffer[], runningCell: number) => void): void {
    this.#onMessage = handler;
  }

  async send(frames: Buffer[]): Promise<void> {
    const message: ToControlThread = { send: frames };
    this.#worker.postMessage(message);
  }

  close(): Promise<void> {
    const message: ToControlThread = { close: true };
    this.#worker.postMessage(message);
    return this.#exited;
  }
}

export interface KernelSockets {
  shell: zmq.Router;
  stdin: zmq.Router;
  iopub: zmq.Publisher;
  control: ControlChannel;
}

/** Binds every channel, or none: on failure what was bound is closed, so the process can end. */
export async function bindSockets(info: ConnectionInfo): Promise<KernelSockets> {
  const shell = new zmq.Router();
  const stdin = new zmq.Router();
  const iopub = new zmq.Publisher();
  // Let queued messages go out on close, but never hang shutdown on a missing peer.
  for (const socket of [shell, stdin, iopub]) socket.linger = 1000;
  const control = ControlChannel.start(info);
  const bound = await Promise.allSettled([
    control,
    bindNamed(shell, "shell", endpoint(info, info.shell_port)),
    bindNamed(stdin, "stdin", endpoint(info, info.stdin_port)),
    bindNamed(iopub, "iopub", endpoint(info, info.iopub_port)),
  ]);
  const failures = bound.flatMap((result) => (result.status === "rejected" ? [(result.reason as Error).message] : []));
  if (failures.length === 0) return { shell, stdin, iopub, control: await control };
  for (const socket of [shell, stdin, iopub]) socket.close();
  await control.then((channel) => channel.close(), () => {});
  throw new Error(failures.join("\n"));
}

export async function closeSockets(sockets: KernelSockets): Promise<void> {
  await sockets.control.close();
  for (const socket of [sockets.shell, sockets.stdin, sockets.iopub]) socket.close();
}
