/**
 * The control and heartbeat channels, on a thread of their own.
 *
 * A cell that spins in synchronous code blocks the main thread's event loop: nothing there can
 * read an `interrupt_request` or answer a heartbeat. This thread can. On `interrupt_request` it
 * raises SIGINT in this process at once, which breaks the spinning script (tslab runs cells with
 * `breakOnSigint`) exactly as Jupyter's signal interrupt does, then hands every control message
 * to the main thread, which replies when it is free again.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as zmq from "zeromq";
import { endpoint, parse, WireError, type ConnectionInfo } from "./wire";

export interface ControlThreadData {
  connection: ConnectionInfo;
}

/** Main -> thread: frames to send on control; or close. */
export type ToControlThread = { send: Buffer[] } | { close: true };
/** Thread -> main: a received control message's frames; or a line for the kernel's log. */
export type FromControlThread = { received: Buffer[] } | { log: string } | { ready: true };

async function serveControl(control: zmq.Router, info: ConnectionInfo): Promise<void> {
  const key = { key: info.key, scheme: info.signature_scheme || "hmac-sha256" };
  for await (const frames of control) {
    try {
      if (parse(frames, key).header.msg_type === "interrupt_request") process.kill(process.pid, "SIGINT");
    } catch (error) {
      if (!(error instanceof WireError)) throw error;
      // The main thread parses again and logs why it dropped the message.
    }
    post({ received: frames });
  }
}

async function serveHeartbeat(heartbeat: zmq.Reply): Promise<void> {
  for await (const frames of heartbeat) await heartbeat.send(frames);
}

function post(message: FromControlThread): void {
  parentPort!.postMessage(message);
}

async function main(): Promise<void> {
  const { connection } = workerData as ControlThreadData;
  const control = new zmq.Router();
  const heartbeat = new zmq.Reply();
  control.linger = 1000;
  heartbeat.linger = 0;
  await control.bind(endpoint(connection, connection.control_port));
  await heartbeat.bind(endpoint(connection, connection.hb_port));

  let sending: Promise<void> = Promise.resolve();
  parentPort!.on("message", (message: ToControlThread) => {
    if ("close" in message) {
      void sending.finally(() => {
        control.close();
        heartbeat.close();
        parentPort!.close();
      });
      return;
    }
    const frames = message.send.map((frame) => Buffer.from(frame));
    sending = sending.then(() => control.send(frames)).catch((error) => post({ log: `control send failed: ${String(error)}` }));
  });
  post({ ready: true });
  await Promise.all([
    serveControl(control, connection).catch((error) => post({ log: `control channel ended: ${String(error)}` })),
    serveHeartbeat(heartbeat).catch(() => {}),
  ]);
}

void main().catch((error) => post({ log: `control thread failed: ${(error as Error).stack ?? String(error)}` }));
