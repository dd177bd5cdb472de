/**
 * The error for a process that ended without its target's result, built by one pure function
 * whose message names the process, the exit code or signal, and the tail of stderr.
 */
import { endedHow, endingAdvice, outputTail, type Ending } from "../../protocol/ended";
import { registerErrorClass } from "../../protocol/errors";

export interface ProcessEnd extends Ending {
  name: string;
  pid: number | undefined;
  stderr: string;
}

export function stderrTail(stderr: string, lines = 8): string {
  const all = stderr.trimEnd().split("\n");
  return all.slice(-lines).join("\n");
}

/** Worded by the protocol's one description of how a process ended (ended.ts). */
export function processEndMessage(end: ProcessEnd): string {
  const who = `${end.name} (pid ${end.pid ?? "-"})`;
  const tail = outputTail(end.stderr);
  return `${who} ${endedHow(end)} before its target returned. ${endingAdvice(end)}${tail ? `\nstderr ended with:\n  ${tail.split("\n").join("\n  ")}` : ""}`;
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
