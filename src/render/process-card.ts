/**
 * A process as a card: name, pid, parent pid, state, exit code or signal, duration, and the tail of
 * its output. Pure: data in, MIME bundle out (inline styles, no scripts; colours that read on light
 * and dark backgrounds).
 */
import type { MimeBundle } from "../protocol/kernel-bridge";
import { escapeHtml, formatDuration } from "./format";

export type ProcessState = "initial" | "running" | "stopped";

export interface OutputLine {
  stream: "stdout" | "stderr";
  text: string;
}

export interface ProcessCardData {
  name: string;
  pid: number | undefined;
  parentPid: number;
  state: ProcessState;
  /** Python's convention: null while running, negative signal number when killed by a signal. */
  exitCode: number | null;
  signal: string | null;
  daemon: boolean;
  /** e.g. `runProc(...)` or `./tasks.ts#longTimeTask`. */
  target: string;
  /** Milliseconds since start (so far while running). */
  durationMs: number | undefined;
  /** The last lines of output, in arrival order per stream. */
  tail: OutputLine[];
  /** Lines that were dropped from the start of the tail. */
  omittedLines: number;
  /** Short text of the outcome: the result or the error, when known. */
  outcome?: { ok: boolean; text: string };
}

/** "running", "exited 0", "exited 3", "killed by SIGKILL (-9)", "not started". */
export function describeState(data: Pick<ProcessCardData, "state" | "exitCode" | "signal">): string {
  if (data.state === "initial") return "not started";
  if (data.state === "running") return "running";
  if (data.signal) return `killed by ${data.signal} (exitCode ${data.exitCode})`;
  return `exited with code ${data.exitCode}`;
}

type Tone = "run" | "ok" | "fail" | "idle";

function tone(data: ProcessCardData): Tone {
  if (data.state === "initial") return "idle";
  if (data.state === "running") return "run";
  return data.exitCode === 0 ? "ok" : "fail";
}

// Mid-tone colours with translucent fills read on both white and near-black backgrounds.
const ACCENT: Record<Tone, string> = { run: "#2f81f7", ok: "#2da44e", fail: "#cf222e", idle: "#8c959f" };

export function renderProcessText(data: ProcessCardData): string {
  const head =
    `${data.name} pid=${data.pid ?? "-"} ppid=${data.parentPid}${data.daemon ? " daemon" : ""} ` +
    `${describeState(data)} ${formatDuration(data.durationMs)} target=${data.target}`;
  const lines = [head];
  if (data.outcome) lines.push(`  ${data.outcome.ok ? "result" : "error"}: ${data.outcome.text}`);
  if (data.omittedLines > 0) lines.push(`  ... ${data.omittedLines} earlier lines`);
  for (const line of data.tail) lines.push(`  ${line.stream === "stderr" ? "!" : "|"} ${line.text}`);
  return lines.join("\n");
}

export function renderProcessCard(data: ProcessCardData): MimeBundle {
  const t = tone(data);
  const accent = ACCENT[t];
  const badge =
    `<span style="display:inline-block;padding:1px 8px;border-radius:10px;font-size:11px;font-weight:600;` +
    `color:${accent};border:1px solid ${accent};background:${accent}1f">${escapeHtml(describeState(data))}</span>`;
  const field = (label: string, value: string) =>
    `<span style="margin-right:14px"><span style="opacity:.65">${label}</span> <b>${escapeHtml(value)}</b></span>`;
  const fields = [
    field("pid", String(data.pid ?? "-")),
    field("parent", String(data.parentPid)),
    field(data.exitCode !== null && data.exitCode < 0 ? "signal" : "exit code", data.signal ?? (data.exitCode === null ? "-" : String(data.exitCode))),
    field("duration", formatDuration(data.durationMs)),
    data.daemon ? field("daemon", "yes") : "",
  ].join("");
  const outcome = data.outcome
    ? `<div style="margin-top:6px;font-family:monospace;font-size:12px;white-space:pre-wrap${data.outcome.ok ? "" : `;color:${ACCENT.fail}`}">` +
      `<span style="opacity:.65">${data.outcome.ok ? "result" : "error"}</span> ${escapeHtml(data.outcome.text)}</div>`
    : "";
  const lines = data.tail
    .map((line) => {
      const style = line.stream === "stderr" ? `color:${ACCENT.fail}` : "";
      return `<div style="${style}">${escapeHtml(line.text) || "&nbsp;"}</div>`;
    })
    .join("");
  const omitted = data.omittedLines > 0 ? `<div style="opacity:.6">… ${data.omittedLines} earlier lines</div>` : "";
  const output =
    data.tail.length || omitted
      ? `<div style="margin-top:6px;padding:6px 8px;border-radius:4px;background:rgba(127,127,127,.1);` +
        `font-family:monospace;font-size:12px;white-space:pre-wrap;max-height:16em;overflow:auto">${omitted}${lines}</div>`
      : "";
  const html =
    // data-forklab marks forklab's pictures for tests and tools (JupyterLab drops it when untrusted).
    `<div data-forklab="process" style="border:1px solid rgba(127,127,127,.35);border-left:4px solid ${accent};border-radius:6px;` +
    `padding:8px 10px;margin:2px 0;font-family:system-ui,-apple-system,sans-serif;font-size:13px;line-height:1.45;max-width:760px">` +
    `<div style="display:flex;gap:8px;align-items:center;margin-bottom:4px">` +
    `<b style="font-size:14px">${escapeHtml(data.name)}</b>${badge}` +
    `<span style="opacity:.65;font-family:monospace;font-size:12px">${escapeHtml(data.target)}</span></div>` +
    `<div>${fields}</div>${outcome}${output}</div>`;
  return { "text/plain": renderProcessText(data), "text/html": html };
}
