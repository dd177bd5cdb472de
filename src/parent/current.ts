/** Python's current_process(), parent_process() and cpu_count(). */
import * as os from "node:os";
import * as util from "node:util";
import { childState } from "../protocol/messages";

export interface ProcessInfo {
  readonly name: string;
  readonly pid: number;
  readonly ident: number;
  readonly daemon: boolean;
}

function info(name: string, pid: number, daemon: boolean): ProcessInfo {
  return Object.freeze({
    name,
    pid,
    ident: pid,
    daemon,
    [util.inspect.custom]: () => `<${name} pid=${pid}${daemon ? " daemon" : ""}>`,
    [Symbol.for("Jupyter.display")]: () => ({ "text/plain": `<${name} pid=${pid}${daemon ? " daemon" : ""}>` }),
  });
}

/** This process: "MainProcess" in the kernel or a script; the Process's name inside a child. */
export function currentProcess(): ProcessInfo {
  const s = childState();
  return s ? info(s.proc.name, process.pid, s.proc.daemon) : info("MainProcess", process.pid, false);
}

/** The process that started this one, or null in the main process (as Python's None). */
export function parentProcess(): ProcessInfo | null {
  const s = childState();
  return s ? info(s.proc.parentName, s.proc.parentPid, false) : null;
}

/** Python's `cpu_count()`: how many processes can run in parallel here. */
export function cpuCount(): number {
  return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
}
