/**
 * A program run, finished or still running, as a terminal block: `$ command args`, its output
 * (stderr in another colour), and a status line with the exit code or signal, the duration and
 * the pid. Pure: a view in, a MIME bundle out. The block carries its own dark background, so it
 * reads the same in light and dark themes; styles are inline and there is no script.
 */
import type { MimeBundle } from "./display";
import { escapeHtml, formatDuration, stripAnsi } from "./format";

export interface TerminalChunk {
  stream: "stdout" | "stderr";
  text: string;
}

export interface TerminalView {
  /** The command line shown after `$ `. */
  command: string;
  /** Output in arrival order. */
  chunks: readonly TerminalChunk[];
  /** Characters of earlier output that are not in `chunks`. */
  omitted?: number;
  /** null while the program runs; else the exit code, or minus the signal number. */
  returncode: number | null;
  /** The signal's name when returncode < 0 ("SIGKILL"). */
  signal?: string;
  /** Milliseconds from start to exit (or until now, while running). */
  durationMs?: number;
  pid?: number;
  /** A short remark for the status line ("timed out after 2 s", "output captured"). */
  note?: string;
}

/** How much output a block shows at most; earlier output is summarized as omitted. */
export const TERMINAL_MAX_LINES = 400;
export const TERMINAL_MAX_CHARS = 64 * 1024;

// Kept here too for the modules that import it from the terminal block.
export { stripAnsi };

/** Keep the last lines of the chunks within the limits; count what was dropped. */
export function tailChunks(
  chunks: readonly TerminalChunk[],
  maxLines = TERMINAL_MAX_LINES,
  maxChars = TERMINAL_MAX_CHARS,
): { chunks: TerminalChunk[]; omitted: number } {
  const kept: TerminalChunk[] = [];
  let lines = 0;
  let chars = 0;
  let omitted = 0;
  let i = chunks.length - 1;
  for (; i >= 0; i--) {
    const chunk = chunks[i];
    const text = chunk.text;
    let newlines = 0;
    for (let j = text.indexOf("\n"); j !== -1; j = text.indexOf("\n", j + 1)) newlines++;
    if (lines + newlines <= maxLines && chars + text.length <= maxChars) {
      kept.push(chunk);
      lines += newlines;
      chars += text.length;
      continue;
    }
    // Cut this chunk: keep its end within both limits.
    let start = Math.max(0, text.length - (maxChars - chars));
    let seen = 0;
    for (let j = text.length - 1; j >= start; j--) {
      if (text[j] === "\n" && ++seen > maxLines - lines) {
        start = j + 1;
        break;
      }
    }
    if (start < text.length) kept.push({ stream: chunk.stream, text: text.slice(start) });
    omitted += start;
    break;
  }
  for (i--; i >= 0; i--) omitted += chunks[i].text.length;
  return { chunks: kept.reverse(), omitted };
}

/** Join runs of one stream, then strip escapes: a sequence split across two reads goes too. */
function mergeChunks(chunks: readonly TerminalChunk[]): TerminalChunk[] {
  const merged: TerminalChunk[] = [];
  for (const chunk of chunks) {
    if (chunk.text === "") continue;
    const last = merged[merged.length - 1];
    if (last && last.stream === chunk.stream) last.text += chunk.text;
    else merged.push({ stream: chunk.stream, text: chunk.text });
  }
  for (const chunk of merged) chunk.text = stripAnsi(chunk.text);
  return merged.filter((chunk) => chunk.text !== "");
}

/** The status line's words: "exit 0 · 12 ms · pid 4242". */
export function statusText(view: TerminalView): string {
  const parts: string[] = [];
  if (view.returncode === null) parts.push("running");
  else if (view.returncode < 0) parts.push(`killed by ${view.signal ?? `signal ${-view.returncode}`}`);
  else parts.push(`exit ${view.returncode}`);
  if (view.note) parts.push(view.note);
  if (view.durationMs !== undefined) parts.push(formatDuration(view.durationMs));
  if (view.pid !== undefined) parts.push(`pid ${view.pid}`);
  return parts.join(" · ");
}

function omittedText(omitted: number): string {
  return `[... ${omitted.toLocaleString("en-US")} earlier characters not shown ...]\n`;
}

/** The block as text: the text/plain of the bundle, and what a script prints. */
export function terminalText(view: TerminalView): string {
  const { chunks, omitted } = tailChunks(mergeChunks(view.chunks));
  const allOmitted = omitted + (view.omitted ?? 0);
  let body = chunks.map((c) => c.text).join("");
  if (body !== "" && !body.endsWith("\n")) body += "\n";
  return `$ ${view.command}\n${allOmitted ? omittedText(allOmitted) : ""}${body}[${statusText(view)}]`;
}

const COLORS = {
  background: "#1e1e1e",
  text: "#d4d4d4",
  prompt: "#6a9955",
  command: "#ffffff",
  stderr: "#f48771",
  muted: "#8a8a8a",
  ok: "#4ec9b0",
  failed: "#f14c4c",
  running: "#dcdcaa",
};

/** The block as HTML (inline styles, no script). */
export function terminalHtml(view: TerminalView): string {
  const { chunks, omitted } = tailChunks(mergeChunks(view.chunks));
  const allOmitted = omitted + (view.omitted ?? 0);
  const out: string[] = [];
  if (allOmitted) out.push(`<span style="color:${COLORS.muted}">${escapeHtml(omittedText(allOmitted))}</span>`);
  for (const chunk of chunks) {
    const text = escapeHtml(chunk.text);
    out.push(chunk.stream === "stderr" ? `<span style="color:${COLORS.stderr}">${text}</span>` : text);
  }
  let body = out.join("");
  if (chunks.length && !chunks[chunks.length - 1].text.endsWith("\n")) body += "\n";
  const stateColor = view.returncode === null ? COLORS.running : view.returncode === 0 ? COLORS.ok : COLORS.failed;
  const status = `<span style="color:${stateColor}">●</span> <span style="color:${COLORS.muted}">${escapeHtml(statusText(view))}</span>`;
  return (
    `<pre data-forklab="terminal" style="margin:0.25em 0;padding:8px 10px;background:${COLORS.background};color:${COLORS.text};` +
    `border-radius:4px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;` +
    `line-height:1.4;white-space:pre-wrap;word-break:break-all;max-height:32em;overflow:auto">` +
    `<span style="color:${COLORS.prompt}">$</span> <span style="color:${COLORS.command};font-weight:bold">${escapeHtml(view.command)}</span>\n` +
    `${body}${status}</pre>`
  );
}

/** The bundle for Jupyter: text/plain and text/html. */
export function renderTerminal(view: TerminalView): MimeBundle {
  return { "text/plain": terminalText(view), "text/html": terminalHtml(view) };
}
