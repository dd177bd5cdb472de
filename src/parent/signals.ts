/** Signals as numbers, for exit codes in Python's convention (minus the signal number). */
import { constants } from "node:os";

/** "SIGKILL" for 9, or undefined. */
export function signalName(signal: number): string | undefined {
  for (const [name, number] of Object.entries(constants.signals)) if (number === signal) return name;
  return undefined;
}

/** Python's returncode for a program that ended: its exit code, or minus the signal number. */
export function toReturncode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal ? constants.signals[signal] : undefined;
  return number === undefined ? -1 : -number;
}
