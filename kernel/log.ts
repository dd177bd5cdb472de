/** Kernel diagnostics go to the kernel's own stderr (the Jupyter server's log), never to a cell. */
import fs from "node:fs";

export function log(message: string): void {
  try {
    fs.writeSync(2, `[forklab kernel] ${message}\n`);
  } catch {
    // stderr closed: nowhere left to report to.
  }
}
