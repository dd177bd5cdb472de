/** The kernel's five ZeroMQ sockets, bound per the connection file. */
import * as zmq from "zeromq";
import { endpoint, type ConnectionInfo } from "./wire";

/**
 * zeromq allows one send in flight per socket; replies and iopub messages come from many async
 * paths, so each socket's sends go through one ordered chain.
 */
export class OrderedSender {
  #chain: Promise<void> = Promise.resolve();
  constructor(private readonly socket: zmq.Writable, private readonly onError: (error: unknown) => void) {}

  send(frames: Buffer[]): Promise<void> {
    this.#chain = this.#chain.then(() => this.socket.send(frames)).catch(this.onError);
    return this.#chain;
  }

  /** Resolves when everything queued so far has been handed to ZeroMQ. */
  drained(): Promise<void> {
    return this.#chain;
  }
}

export interface KernelSockets {
  shell: zmq.Router;
  control: zmq.Router;
  stdin: zmq.Router;
  iopub: zmq.Publisher;
  heartbeat: zmq.Reply;
}

export async function bindSockets(info: ConnectionInfo): Promise<KernelSockets> {
  const sockets: KernelSockets = {
    shell: new zmq.Router(),
    control: new zmq.Router(),
    stdin: new zmq.Router(),
    iopub: new zmq.Publisher(),
    heartbeat: new zmq.Reply(),
  };
  // Let queued iopub messages go out on close, but never hang shutdown on a missing peer.
  for (const socket of Object.values(sockets)) socket.linger = 1000;
  await Promise.all([
    sockets.shell.bind(endpoint(info, info.shell_port)),
    sockets.control.bind(endpoint(info, info.control_port)),
    sockets.stdin.bind(endpoint(info, info.stdin_port)),
    sockets.iopub.bind(endpoint(info, info.iopub_port)),
    sockets.heartbeat.bind(endpoint(info, info.hb_port)),
  ]);
  return sockets;
}

export function closeSockets(sockets: KernelSockets): void {
  for (const socket of Object.values(sockets)) socket.close();
}
