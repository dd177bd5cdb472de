import { readFileSync } from "node:fs";
import * as path from "node:path";

export const LIB = path.resolve(__dirname, "../../dist/src/index.js");

/** Wait for a condition (not a timed assertion): re-check after short pauses until it holds. */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Whether a pid is gone: no such process, or a zombie nobody reaped yet (it has exited). */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return true;
  }
}
