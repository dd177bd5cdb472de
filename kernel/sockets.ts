/**
 * The kernel's sockets, bound per the connection file: shell, stdin and iopub on the main thread;
 * control and heartbeat on their own thread (see control-thread.ts).
 */
import path from "node:path";
import { Worker } from "node:worker_threads";
import * as zmq from "zeromq";
import type { ControlThreadData, FromControlThread, ToControlThread } from "./control-thread";
import { log } from "./log";
import { endpoint, type ConnectionInfo } from "./wire";

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
  #onMessage: (frames: Buffer[]) => void = () => {};

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on("message", (message: FromControlThread) => {
      if ("received" in message) this.#onMessage(message.received.map((frame) => Buffer.from(frame)));
      else if ("log" in message) log(message.log);
    });
    worker.on("error", (error) => log(`control thread error: ${error.stack ?? String(error)}`));
  }

  static async start(connection: ConnectionInfo): Promise<ControlChannel> {
    const data: ControlThreadData = { connection };
    const worker = new Worker(path.join(__dirname, "control-thread.js"), { workerData: data });
    const channel = new ControlChannel(worker);
    await new Promise<void>((resolve, reject) => {
      worker.once("error", reject);
      worker.on("message", (message: FromControlThread) => "ready" in message && resolve());
    });
    return channel;
  }

  onMessage(handler: (frames: Buffer[]) => void): void {
    this.#onMessage = handler;
  }

  async send(frames: Buffer[]): Promise<void> {
    const message: ToControlThread = { send: frames };
    this.#worker.postMessage(message);
  }

  close(): Promise<void> {
    const message: ToControlThread = { close: true };
    this.#worker.postMessage(message);
    return new Promise((resolve) => this.#worker.once("exit", () => resolve()));
  }
}

export interface KernelSockets {
  shell: zmq.Router;
  stdin: zmq.Router;
  iopub: zmq.Publisher;
  control: ControlChannel;
}

export async function bindSockets(info: ConnectionInfo): Promise<KernelSockets> {
  const shell = new zmq.Router();
  const stdin = new zmq.Router();
  const iopub = new zmq.Publisher();
  // Let queued messages go out on close, but never hang shutdown on a missing peer.
  for (const socket of [shell, stdin, iopub]) socket.linger = 1000;
  const [control] = await Promise.all([
    ControlChannel.start(info),
    shell.bind(endpoint(info, info.shell_port)),
    stdin.bind(endpoint(info, info.stdin_port)),
    iopub.bind(endpoint(info, info.iopub_port)),
  ]);
  return { shell, stdin, iopub, control };
}

export async function closeSockets(sockets: KernelSockets): Promise<void> {
  await sockets.control.close();
  for (const socket of [sockets.shell, sockets.stdin, sockets.iopub]) socket.close();
}
