/**
 * The error for a process that ended without its target's result, built by one pure function
 * whose message names the process, the exit code or signal, and the tail of stderr.
 */
import { registerErrorClass } from "../../protocol/errors";

export interface ProcessEnd {
  name: string;
  pid: number | undefined;
  exitCode: number | null;
  signal: string | null;
  stderr: string;
  /** Why the parent stopped it, if it did: "terminate()", "kill()", "interrupt", "shutdown". */
  stoppedBy?: string;
}

export function stderrTail(stderr: string, lines = 8): string {
  const all = stderr.trimEnd().split("\n");
  return all.slice(-lines).join("\n");
}

export function processEndMessage(end: ProcessEnd): string {
  const who = `${end.name} (pid ${end.pid ?? "-"})`;
  const how = end.signal
    ? `was killed by ${end.signal} (exitCode ${end.exitCode})${end.stoppedBy ? ` after ${end.stoppedBy}` : ""}`
    : `exited with code ${end.exitCode}`;
  const tail = stderrTail(end.stderr);
  const advice = end.signal
    ? "The target did not finish; await join() instead of result if stopping it is expected."
    : "The target did not return: it called process.exit() or the child crashed; see its stderr (p.stderr).";
  return `${who} ${how} before its target returned. ${advice}${tail ? `\nstderr ended with:\n  ${tail.split("\n").join("\n  ")}` : ""}`;
}

/** A process ended without a result (killed, exited early, crashed). */
export class ProcessError extends Error {
  override name = "ProcessError";
  readonly processName: string;
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stderr: string;

  constructor(end: ProcessEnd) {
    super(processEndMessage(end));
    this.processName = end.name;
    this.pid = end.pid;
    this.exitCode = end.exitCode;
    this.signal = end.signal;
    this.stderr = stderrTail(end.stderr, 40);
  }
}

// A child that starts its own children may throw this; it comes back to the parent as itself.
registerErrorClass(ProcessError);
