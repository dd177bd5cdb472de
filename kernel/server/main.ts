/** `forklab kernel --connection-file F`: read the connection file, serve until shut down. */
import crypto from "node:crypto";
import fs from "node:fs";
import { log } from "../log";
import { inspectPromisesPlainly } from "./promise-inspect";
import { KernelServer } from "./server";
import type { ConnectionInfo } from "../wire";

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
  for (const field of REQUIRED_FIELDS.filter((name) => name.endsWith("_port"))) {
    const port = info[field];
    if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535) {
      throw new Error(`the connection file ${file} has ${field} ${JSON.stringify(port)}; expected a port number 0-65535`);
    }
  }
  const scheme = String(info.signature_scheme ?? "hmac-sha256");
  const digest = scheme.replace(/^hmac-/, "");
  if (!scheme.startsWith("hmac-") || !crypto.getHashes().includes(digest)) {
    throw new Error(`the connection file ${file} has signature_scheme ${JSON.stringify(scheme)}; expected hmac-<digest>, e.g. hmac-sha256`);
  }
  return info as unknown as ConnectionInfo;
}

export async function runKernel(connectionFile: string): Promise<void> {
  inspectPromisesPlainly();
  const server = new KernelServer(readConnectionFile(connectionFile));
  // Jupyter interrupts by SIGINT (to the whole process group); without this handler Node exits.
  process.on("SIGINT", () => server.interrupt());
  process.on("SIGTERM", () => void server.exit(0));
  // Work a cell left behind must not take the kernel down with it.
  process.on("uncaughtException", (error) => {
    if (server.exiting) return; // process.exit() outside a cell: the kernel is ending
    log(`uncaught exception: ${error.stack ?? String(error)}`);
    console.error("Uncaught", error);
  });
  process.on("unhandledRejection", (reason) => {
    console.error("Unhandled promise rejection:", reason);
  });
  await server.start();
  watchParent(() => void server.exit(0));
}

const PARENT_POLL_MS = 1000;

/**
 * A kernel whose Jupyter server died (even by SIGKILL) must not live on as an orphan, as
 * ipykernel's parent poller ensures: when the parent is gone, the kernel is re-parented, and
 * `process.ppid` (asked of the OS at each read) changes.
 */
function watchParent(onGone: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    log(`the parent process ${parent} is gone; shutting down`);
    onGone();
  }, PARENT_POLL_MS);
  timer.unref();
}
