/** CompletedProcess: what run() returns, as in Python. */
import { inspect, type InspectOptions } from "node:util";
import type { MimeBundle } from "../../render/display";
import { renderTerminal, type TerminalChunk, type TerminalView } from "../../render/terminal";
import { signalName } from "../signals";
import { CalledProcessError } from "./errors";
import { displayJoin } from "./sh";

/** What the terminal block and error messages need beyond Python's four fields. */
export interface CompletedDetails {
  display: string;
  shell: boolean;
  pid?: number;
  durationMs?: number;
  shownChunks?: readonly TerminalChunk[];
  shownStderrTail?: string;
  note?: string;
}

const details = new WeakMap<CompletedProcess<Buffer | string>, CompletedDetails>();

/** @internal Attach what run() knows about the call. */
export function setCompletedDetails(completed: CompletedProcess<Buffer | string>, value: CompletedDetails): void {
  details.set(completed, value);
}

function defaultDetails(args: string | readonly string[]): CompletedDetails {
  return { display: typeof args === "string" ? args : displayJoin(args), shell: false };
}

/**
 * A program that has ended: `args`, `returncode` (minus the signal number when a signal ended
 * it), and `stdout`/`stderr` (bytes, or text in text mode; null when not captured).
 */
export class CompletedProcess<T extends Buffer | string = Buffer> {
  constructor(
    readonly args: string | string[],
    readonly returncode: number,
    readonly stdout: T | null = null,
    readonly stderr: T | null = null,
  ) {}

  /** Throw CalledProcessError if returncode is not 0; else return this (Python's check_returncode). */
  checkReturncode(): this {
    if (this.returncode === 0) return this;
    const info = details.get(this) ?? defaultDetails(this.args);
    throw new CalledProcessError({
      returncode: this.returncode,
      cmd: this.args,
      display: info.display,
      stdout: this.stdout,
      stderr: this.stderr,
      shell: info.shell,
      shownStderr: info.shownStderrTail,
    });
  }

  /** Milliseconds from start to exit, when run() made this. Not in Python. */
  get durationMs(): number | undefined {
    return details.get(this)?.durationMs;
  }

  /** The process id the program had, when run() made this. Not in Python. */
  get pid(): number | undefined {
    return details.get(this)?.pid;
  }

  /** This call as a terminal block. */
  toTerminalView(): TerminalView {
    const info = details.get(this) ?? defaultDetails(this.args);
    const chunks: TerminalChunk[] = [];
    for (const name of ["stdout", "stderr"] as const) {
      const output = this[name];
      if (output !== null && output.length) chunks.push({ stream: name, text: typeof output === "string" ? output : output.toString("utf8") });
    }
    const captured = this.stdout !== null || this.stderr !== null;
    let note = info.note;
    if (!captured && !info.shownChunks?.length) note ??= "output not captured";
    return {
      command: info.display,
      chunks: captured ? chunks : (info.shownChunks ?? []),
      returncode: this.returncode,
      signal: this.returncode < 0 ? signalName(-this.returncode) : undefined,
      durationMs: info.durationMs,
      pid: info.pid,
      note,
    };
  }

  [Symbol.for("Jupyter.display")](): MimeBundle {
    return renderTerminal(this.toTerminalView());
  }

  [inspect.custom](_depth: number, options: InspectOptions): string {
    const show = (value: unknown) => inspect(value, { ...options, maxStringLength: 200, breakLength: Infinity });
    const parts = [`args=${show(this.args)}`, `returncode=${this.returncode}`];
    if (this.stdout !== null) parts.push(`stdout=${show(this.stdout)}`);
    if (this.stderr !== null) parts.push(`stderr=${show(this.stderr)}`);
    return `CompletedProcess(${parts.join(", ")})`;
  }
}
