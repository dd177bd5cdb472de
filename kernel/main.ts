/** `forklab kernel --connection-file F`: read the connection file, serve until shut down. */
import fs from "node:fs";
import { log } from "./log";
import { KernelServer } from "./server";
import type { ConnectionInfo } from "./wire";

const REQUIRED_FIELDS = ["transport", "ip", "shell_port", "iopub_port", "stdin_port", "control_port", "hb_port", "key"] as const;

export function readConnectionFile(file: string): ConnectionInfo {
  let info: Record<string, unknown>;
  try {
    info = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`cannot read the connection file ${file}: ${(error as Error).message}`);
  }
  const missing = REQUIRED_FIELDS.filter((field) => info[field] === undefined);
  if (missing.length > 0) throw new Error(`the connection file ${file} lacks ${missing.join(", ")}`);
  return info as unknown as ConnectionInfo;
}

export async function runKernel(connectionFile: string): Promise<void> {
  const server = new KernelServer(readConnectionFile(connectionFile));
  // Jupyter interrupts by SIGINT (to the whole process group); without this handler Node exits.
  process.on("SIGINT", () => server.interrupt());
  process.on("SIGTERM", () => void server.shutdown().finally(() => process.exit(0)));
  // Work a cell left behind must not take the kernel down with it.
  process.on("uncaughtException", (error) => {
    log(`uncaught exception: ${error.stack ?? String(error)}`);
    console.error("Uncaught", error);
  });
  process.on("unhandledRejection", (reason) => {
    console.error("Unhandled promise rejection:", reason);
  });
  await server.start();
  watchParent(() => void server.shutdown().finally(() => process.exit(0)));
}

const PARENT_POLL_MS = 1000;

/**
 * A kernel whose Jupyter server died (even by SIGKILL) must not live on as an orphan, as
 * ipykernel's parent poller ensures. Node's `process.ppid` is read once at start, so ask the OS
 * whether that process still exists.
 */
function watchParent(onGone: () => void): void {
  const parent = process.ppid;
  if (parent <= 1) return;
  const timer = setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") return;
      clearInterval(timer);
      log(`the parent process ${parent} is gone; shutting down`);
      onGone();
    }
  }, PARENT_POLL_MS);
  timer.unref();
}
