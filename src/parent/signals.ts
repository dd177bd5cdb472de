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

/**
 * Send `signal` to the process group that `pid` leads (its own children included), falling back
 * to the process alone where there are no groups (Windows) or it leads none. Silent when the
 * process is already gone.
 */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (process.platform !== "win32") {
    try {
      process.kill(-pid, signal);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  }
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}
