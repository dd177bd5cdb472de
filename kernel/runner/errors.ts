/**
 * What can go wrong while running a notebook. Every message names the notebook, and where a cell
 * is involved, its position, an excerpt of its source and what the kernel said, built by one pure
 * function (`cellMessage`).
 */
import type { Notebook } from "./notebook";
import { endedHow, outputTail } from "../../src/protocol/ended";
import { stripAnsi } from "../../src/render/terminal";

/** Base of every failure of a run; `notebook` holds the outputs gathered up to the failure. */
export class NotebookRunError extends Error {
  override name = "NotebookRunError";
  notebook?: Notebook;
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CellLocation {
  file: string;
  /** 0-based index among all the notebook's cells. */
  index: number;
  source: string;
}

/** A cell raised an error (and errors were not allowed for it). */
export class CellExecutionError extends NotebookRunError {
  override name = "CellExecutionError";
  constructor(
    readonly cell: CellLocation,
    readonly ename: string,
    readonly evalue: string,
    readonly traceback: string[],
  ) {
    super(cell.file, cellMessage(cell, "raised an error", formatTraceback(ename, evalue, traceback)));
  }
}

/** A cell did not finish within its deadline; the kernel was interrupted. */
export class CellTimeoutError extends NotebookRunError {
  override name = "CellTimeoutError";
  constructor(
    readonly cell: CellLocation,
    readonly timeoutMs: number,
  ) {
    super(
      cell.file,
      cellMessage(cell, `did not finish within ${timeoutMs / 1000} s`, "The kernel was interrupted. Raise the limit with --timeout SECONDS."),
    );
  }
}

/** The kernel process exited while the runner still needed it. */
export class KernelDiedError extends NotebookRunError {
  override name = "KernelDiedError";
  constructor(
    file: string,
    readonly cell: CellLocation | undefined,
    readonly exit: { code: number | null; signal: string | null },
    readonly kernelOutput: string,
  ) {
    const what = `the kernel died (it ${endedHow({ exitCode: exit.code, signal: exit.signal })})`;
    const detail = kernelOutputDetail(kernelOutput) || "The kernel wrote nothing to its stdout or stderr.";
    super(file, cell ? cellMessage(cell, `was running when ${what}`, detail) : `${file}: ${what} before it was ready.\n${detail}`);
  }
}

/** The kernel never answered kernel_info_request. */
export class KernelNotReadyError extends NotebookRunError {
  override name = "KernelNotReadyError";
}

/** "Kernel output, last lines:" and its last lines, or "" when it wrote nothing. */
export function kernelOutputDetail(kernelOutput: string): string {
  const tail = outputTail(kernelOutput.trim(), 15, 4000);
  return tail ? `Kernel output, last lines:\n${tail}` : "";
}

export function sourceExcerpt(source: string, maxLines = 12): string {
  const lines = source.replace(/\s+$/, "").split("\n");
  return lines.length <= maxLines ? lines.join("\n") : [...lines.slice(0, maxLines), `... (${lines.length - maxLines} more lines)`].join("\n");
}

export function formatTraceback(ename: string, evalue: string, traceback: string[]): string {
  const text = stripAnsi(traceback.join("\n")).trim();
  const last = `${ename}: ${evalue}`;
  if (!text) return last;
  const trimmed = outputTail(text, 60, Infinity);
  return trimmed.includes(evalue) || trimmed.includes(ename) ? trimmed : `${trimmed}\n${last}`;
}

/** "<file>: cell N (index I) <what>:" then the source excerpt between rules, then the detail. */
export function cellMessage(cell: CellLocation, what: string, detail: string): string {
  const rule = "-".repeat(18);
  return `${cell.file}: cell ${cell.index + 1} (index ${cell.index}) ${what}:\n${rule}\n${sourceExcerpt(cell.source)}\n${rule}\n${detail}`;
}
