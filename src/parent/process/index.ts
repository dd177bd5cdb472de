import { discardSpares, prepareSpare } from "./child-handle";
import { optionError } from "../option-errors";
import { Process, type ProcessOptions } from "./process";
import { identityMark, rewindIdentity, setStartMethodValue, tracked, type StartMethod } from "./registry";
import type { ModuleTarget } from "./target";

export { Process, type ProcessInit, type ProcessOptions } from "./process";
export { ProcessError } from "./errors";
export type { ModuleTarget, Target } from "./target";
export { getStartMethod, type StartMethod } from "./registry";

/** Start `target(...args)` in a child process; returns the started Process. */
export function spawn<A extends unknown[], R>(target: (...args: A) => R, args?: A, options?: ProcessOptions): Process<Awaited<R>>;
export function spawn<R = unknown>(target: ModuleTarget, args?: unknown[], options?: ProcessOptions): Process<R>;
export function spawn(target: unknown, args: unknown[] = [], options: ProcessOptions = {}): Process<unknown> {
  if (options === null || typeof options !== "object") throw optionError("spawn()", "options", "an object of Process options", options);
  const mark = identityMark();
  try {
    return new Process({ ...options, target: target as ModuleTarget, args }).start();
  } catch (error) {
    rewindIdentity(mark);
    throw error;
  }
}

/**
 * Python's `set_start_method`: "spawn" (default) boots a fresh Node for each process; "warm" keeps
 * one booted spare ready (Python's forkserver idea), so a process starts in a few milliseconds.
 */
export function setStartMethod(method: StartMethod): void {
  if (method !== "spawn" && method !== "warm") {
    // "fork" and "forkserver" are what a reader of Python's docs tries first: say why not, and what is nearest.
    const python = method === "fork" || method === "forkserver"
      ? `; Node cannot fork() a running process (notebook 01-fork says why): "spawn" starts a fresh one, "warm" keeps one booted, nearest to "forkserver"`
      : "";
    throw new TypeError(`setStartMethod() takes "spawn" or "warm", got ${JSON.stringify(method)}${python}`);
  }
  setStartMethodValue(method);
  if (method === "warm") prepareSpare({ cwd: process.cwd(), env: process.env, execArgv: [] });
  else discardSpares();
}

/** Python's `active_children()`: the children of this process that are still running. */
export function activeChildren(): Process[] {
  return tracked().filter((p): p is Process => p instanceof Process && p.isAlive());
}

