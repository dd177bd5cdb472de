/**
 * The control and heartbeat channels, on a thread of their own.
 *
 * A cell that spins in synchronous code blocks the main thread's event loop: nothing there can
 * read an `interrupt_request` or answer a heartbeat. This thread can. On `interrupt_request` it
 * raises SIGINT in this process at once, which breaks the spinning script (tslab runs cells with
 * `breakOnSigint`) exactly as Jupyter's signal interrupt does (a SIGINT that comes while the cell
 * is still type-checked is recorded and stops it before it runs: see server/sigint-watch.ts), then
 * hands every control message to the main thread, which replies when it is free again.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as zmq from "zeromq";
import { bindNamed } from "../bind";
import { endpoint, parse, WireError, type ConnectionInfo } from "../wire";

export interface ControlThreadData {
  connection: ConnectionInfo;
  /** Element 0 is the number of the cell running on the main thread, 0 while none runs (see ControlChannel). */
  runningCell: Int32Array;
}

/** Main -> thread: frames to send on control; or close. */
export type ToControlThread = { send: Buffer[] } | { close: true };
/**
 * Thread -> main: a received control message's frames, with the number of the cell that was
 * running when it arrived (0: none); or a line for the kernel's log.
 */
export type FromControlThread = { received: Buffer[]; runningCell: number } | { log: string } | { ready: true } | { failed: string };

/** Whether this thread interrupts by raising SIGINT (everywhere but Windows). */
export const RAISES_SIGINT = process.platform !== "win32";

async function serveControl(control: zmq.Router, info: ConnectionInfo, runningCell: Int32Array): Promise<void> {
  const key = { key: info.key, scheme: info.signature_scheme || "hmac-sha256" };
  for await (const frames of control) {
    const running = Atomics.load(runningCell, 0);
    try {
      // On Windows, process.kill(pid, "SIGINT") terminates the process: there the main thread
      // interrupts when it gets the message, and a spinning cell cannot be stopped.
      const interrupt = parse(frames, key).header.msg_type === "interrupt_request";
      // Only while a cell runs: a SIGINT raised while idle is handled late, by whichever cell
      // has started meanwhile, and interrupts it.
      if (interrupt && RAISES_SIGINT && running !== 0) process.kill(process.pid, "SIGINT");
    } catch (error) {
      if (!(error instanceof WireError)) throw error;
      // The main thread parses again and logs why it dropped the message.
    }
    post({ received: frames, runningCell: running });
  }
}

async function serveHeartbeat(heartbeat: zmq.Reply): Promise<void> {
  for await (const frames of heartbeat) await heartbeat.send(frames);
}

function post(message: FromControlThread): void {
  parentPort!.postMessage(message);
}

async function main(): Promise<void> {
  const { connection, runningCell } = workerData as ControlThreadData;
  const control = new zmq.Router();
  const heartbeat = new zmq.Reply();
  control.linger = 1000;
  heartbeat.linger = 0;
  try {
    await bindNamed(control, "control", endpoint(connection, connection.control_port));
    await bindNamed(heartbeat, "heartbeat", endpoint(connection, connection.hb_port));
  } catch (error) {
    control.close();
    heartbeat.close();
    post({ failed: (error as Error).message });
    return;
  }

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
    serveControl(control, connection, runningCell).catch((error) => post({ log: `control channel ended: ${String(error)}` })),
    serveHeartbeat(heartbeat).catch(() => {}),
  ]);
}

// Imported by the main thread too, for RAISES_SIGINT: serve only when started as the thread.
if (parentPort) void main().catch((error) => post({ failed: `control thread failed: ${(error as Error).stack ?? String(error)}` }));
