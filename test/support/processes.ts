/**
 * Waiting on conditions and looking at processes (Linux /proc), shared by the tests that start
 * real processes.
 */
import { readFileSync, readdirSync } from "node:fs";

/** `waitFor` checks its condition after 5 ms first, then less often, at most every 100 ms. */
const FIRST_POLL_MS = 5;
const MAX_POLL_MS = 100;

/**
 * Wait until `condition` holds, checking it again after short pauses; when `deadlineMs` passes
 * first, throws an error naming `what` it waited for. An error thrown by `condition` ends the wait
 * at once with that error. A wait for a condition, not a timed pause: it returns as soon as the
 * condition holds.
 */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let pause = FIRST_POLL_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, MAX_POLL_MS);
  }
}

/** A process as /proc/PID/stat has it: its state letter ("Z" for a zombie) and its parent. */
function stat(pid: number | string): { state: string; ppid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // The fields after the command name, which sits in parentheses and may contain spaces or ")".
  const [state, ppid] = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: state!, ppid: Number(ppid) };
}

/** Whether `pid` is gone: no such process, or a zombie (it has exited; only its parent's wait is missing). */
export function isGone(pid: number): boolean {
  const found = stat(pid);
  return found === undefined || found.state === "Z";
}

export interface ProcessInfo {
  ppid: number;
  /** The command line, its arguments joined by spaces. */
  cmdline: string;
}

/** pid → parent and command line of every live process (zombies left out) that we can read. */
export function processTable(): Map<number, ProcessInfo> {
  const table = new Map<number, ProcessInfo>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const found = stat(entry);
    if (!found || found.state === "Z") continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "latin1").replace(/\0+/g, " ").trim();
      table.set(Number(entry), { ppid: found.ppid, cmdline });
    } catch {
      // exited while we looked
    }
  }
  return table;
}

/** The environment of `pid` as NAME=VALUE entries; empty when it is gone or not ours to read. */
export function environmentOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
  } catch {
    return [];
  }
}

/** Sets (or with undefined, removes) an environment variable of this process; returns what puts it back. */
export function setEnv(name: string, value: string | undefined): () => void {
  const before = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  return () => {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  };
}

/** A child's target: put 1 on the queue, then stay (until killed), so that its connection stays open. */
export async function putOneAndStay(q: { put(item: number): Promise<void> }): Promise<never> {
  await q.put(1);
  return new Promise(() => setInterval(() => {}, 1000));
}
