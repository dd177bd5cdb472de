/**
 * A pool's picture, pure (snapshot -> MIME bundle): one row per worker pid, one bar per task (or
 * chunk of tasks) labelled with its index and coloured by outcome, the tasks still waiting, a time
 * axis, progress and throughput.
 *
 * HTML with inline styles and plain colours only, absolutely positioned divs inside a table: it
 * must survive JupyterLab's sanitizer for untrusted output (no <svg>, <style>, CSS variables; flex
 * and grid only from 4.5). The card brings its own light background, so it reads the same in
 * light and dark themes.
 */
import type { MimeBundle } from "../protocol/kernel-bridge";
import { escapeHtml, formatDuration } from "./format";

export type PoolBarState = "waiting" | "running" | "ok" | "error" | "lost" | "timeout" | "aborted";

export interface PoolBar {
  /** The worker's number in the pool (its row). */
  worker: number;
  /** "4", or "0-12499" for a chunk. */
  label: string;
  /** ms since the pool started. */
  start: number;
  end?: number;
  state: PoolBarState;
  tasks: number;
  failures: number;
}

export interface PoolWorkerRow {
  index: number;
  pid: number | undefined;
  start: number;
  end?: number;
  /** How it ended ("exited with code 3", "ended (timeout)"), once it has. */
  ended?: string;
}

/** A pool's task counts and rate: in its picture and in `pool.stats()` alike. */
export interface PoolFigures {
  name: string;
  processes: number;
  done: number;
  failed: number;
  /** Aborted, or ended by terminate(). */
  cancelled: number;
  running: number;
  waiting: number;
  /** Finished tasks per second since the first task started. */
  throughput: number;
}

export interface PoolSnapshot extends PoolFigures {
  state: "running" | "closed" | "terminated" | "joined";
  /** ms since the pool started. */
  now: number;
  workers: PoolWorkerRow[];
  bars: PoolBar[];
  /** Older bars not drawn. */
  omittedBars: number;
}

const COLOURS: Record<PoolBarState, { fill: string; text: string; word: string }> = {
  waiting: { fill: "#d0d4da", text: "#222222", word: "waiting" },
  running: { fill: "#3b82c4", text: "#ffffff", word: "running" },
  ok: { fill: "#3f9b4f", text: "#ffffff", word: "done" },
  error: { fill: "#c9302c", text: "#ffffff", word: "raised" },
  lost: { fill: "#7a1f1f", text: "#ffffff", word: "worker lost" },
  timeout: { fill: "#e08e0b", text: "#222222", word: "timed out" },
  aborted: { fill: "#8a8f98", text: "#ffffff", word: "aborted" },
};

const TRACK_PX = 560;
const ROW_PX = 20;
const MAX_WAITING_BOXES = 24;

function rate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  if (perSecond >= 1e4) return `${(perSecond / 1e3).toFixed(1)}k`;
  if (perSecond >= 100) return String(Math.round(perSecond));
  return perSecond.toFixed(perSecond >= 10 ? 1 : 2);
}

function progressText(s: PoolSnapshot): string {
  const parts = [`${s.done} done`];
  if (s.failed) parts.push(`${s.failed} failed`);
  if (s.cancelled) parts.push(`${s.cancelled} cancelled`);
  parts.push(`${s.running} running`, `${s.waiting} waiting`);
  if (s.done) parts.push(`${rate(s.throughput)} tasks/s`);
  return parts.join(", ");
}

/** The time shown: from the first bar (or the pool's start) to now, or to the last end once idle. */
function window(s: PoolSnapshot): [number, number] {
  const starts = s.bars.map((b) => b.start);
  const from = starts.length ? Math.min(...starts) : 0;
  const ends = s.bars.map((b) => b.end ?? s.now);
  const live = s.state === "running" || s.state === "closed" || s.running > 0;
  const to = live ? s.now : Math.max(from, ...ends);
  return [from, Math.max(to, from + 1)];
}

/** Tick spacing: 1, 2 or 5 times a power of ten, about six ticks. */
function tickStep(spanMs: number): number {
  const raw = spanMs / 6;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

function tickLabel(ms: number, step: number): string {
  if (step >= 1000) return `${(ms / 1000).toFixed(step >= 10_000 ? 0 : step % 1000 ? 1 : 0)} s`;
  return step >= 1 ? `${Math.round(ms)} ms` : `${ms.toFixed(2)} ms`;
}

function barTitle(bar: PoolBar, pid: number | undefined): string {
  const what = bar.tasks === 1 ? `task ${bar.label}` : `tasks ${bar.label} (${bar.tasks} in one chunk)`;
  const failures = bar.failures && bar.tasks > 1 ? `, ${bar.failures} raised` : "";
  const took = bar.end === undefined ? "" : `, ${formatDuration(bar.end - bar.start)}`;
  return `${what} on pid ${pid ?? "-"}: ${COLOURS[bar.state].word}${failures}${took}`;
}

/** "1 process", "4 processes": the pool's size as its header says it. */
function size(processes: number): string {
  return `${processes} process${processes === 1 ? "" : "es"}`;
}

export function renderPoolHtml(s: PoolSnapshot): string {
  const [from, to] = window(s);
  const scale = TRACK_PX / (to - from);
  const x = (t: number) => Math.max(0, Math.min(TRACK_PX, (t - from) * scale));
  const byWorker = new Map<number, PoolBar[]>();
  for (const bar of s.bars) {
    let list = byWorker.get(bar.worker);
    if (!list) byWorker.set(bar.worker, (list = []));
    list.push(bar);
  }
  // Rows: workers that ran something in the window, or are alive.
  const rows = s.workers.filter((w) => byWorker.has(w.index) || w.end === undefined);
  const cell = "padding:1px 6px 1px 0;white-space:nowrap;vertical-align:middle;border:none;background:#ffffff;";
  const rowHtml = rows.map((w) => {
    const bars = (byWorker.get(w.index) ?? []).map((bar) => {
      const left = x(bar.start);
      const width = Math.max(2, x(bar.end ?? s.now) - left);
      const c = COLOURS[bar.state];
      const label = width >= bar.label.length * 7 + 4 ? escapeHtml(bar.label) : "";
      return (
        `<div title="${escapeHtml(barTitle(bar, w.pid))}" style="position:absolute;left:${left.toFixed(1)}px;top:2px;` +
        `width:${width.toFixed(1)}px;height:${ROW_PX - 4}px;background:${c.fill};color:${c.text};font-size:11px;` +
        `line-height:${ROW_PX - 4}px;text-align:center;overflow:hidden;border-radius:2px;box-sizing:border-box;` +
        `border-right:1px solid #ffffff;">${label}</div>`
      );
    });
    const ended = w.ended ? ` <span style="color:#888888;">(${escapeHtml(w.ended)})</span>` : "";
    return (
      `<tr><td style="${cell}font-family:monospace;font-size:12px;color:#333333;">pid ${w.pid ?? "-"}${ended}</td>` +
      `<td style="${cell}"><div style="position:relative;width:${TRACK_PX}px;height:${ROW_PX}px;background:#f3f4f6;">` +
      `${bars.join("")}</div></td></tr>`
    );
  });
  const step = tickStep(to - from);
  const ticks: string[] = [];
  // Time counts from the first task shown.
  for (let t = 0; from + t <= to + 1e-9; t += step) {
    const left = x(from + t);
    ticks.push(
      `<div style="position:absolute;left:${left.toFixed(1)}px;top:0;height:4px;border-left:1px solid #888888;"></div>` +
        `<div style="position:absolute;left:${(left + 2).toFixed(1)}px;top:3px;font-size:10px;color:#666666;white-space:nowrap;">${tickLabel(t, step)}</div>`,
    );
  }
  const axis =
    `<tr><td style="${cell}font-size:10px;color:#666666;">time</td><td style="${cell}">` +
    `<div style="position:relative;width:${TRACK_PX}px;height:16px;border-top:1px solid #888888;">${ticks.join("")}</div></td></tr>`;
  const boxes = Array.from({ length: Math.min(s.waiting, MAX_WAITING_BOXES) }, () =>
    `<span style="display:inline-block;width:10px;height:10px;margin-right:2px;background:${COLOURS.waiting.fill};border:1px solid #9aa0a8;"></span>`,
  ).join("");
  const waiting =
    `<tr><td style="${cell}font-size:12px;color:#333333;">waiting</td><td style="${cell}font-size:12px;color:#333333;">` +
    `${boxes}${s.waiting > MAX_WAITING_BOXES ? ` +${s.waiting - MAX_WAITING_BOXES}` : ""}${s.waiting ? ` ${s.waiting} task${s.waiting === 1 ? "" : "s"}` : "none"}</td></tr>`;
  const total = s.done + s.failed + s.cancelled + s.running + s.waiting;
  const fraction = total ? (s.done + s.failed + s.cancelled) / total : 0;
  const progress =
    `<div style="width:${TRACK_PX}px;height:6px;background:#e5e7eb;margin:4px 0 2px 0;">` +
    `<div style="width:${(fraction * TRACK_PX).toFixed(1)}px;height:6px;background:${s.failed ? COLOURS.error.fill : COLOURS.ok.fill};"></div></div>`;
  const legend = (["running", "ok", "error", "lost", "timeout", "aborted"] as const)
    .map((k) => `<span style="display:inline-block;width:9px;height:9px;background:${COLOURS[k].fill};margin:0 3px 0 8px;"></span>${COLOURS[k].word}`)
    .join("");
  const omitted = s.omittedBars ? `<div style="font-size:11px;color:#666666;">${s.omittedBars} earlier chunks not drawn</div>` : "";
  return (
    `<div data-forklab="pool" style="font-family:sans-serif;font-size:13px;color:#222222;background:#ffffff;` +
    `border:1px solid #c8ccd2;border-radius:4px;padding:8px 10px;display:inline-block;">` +
    `<div><b>${escapeHtml(s.name)}</b> <span style="color:#555555;">${size(s.processes)}, ${s.state}</span></div>` +
    `<div style="color:#333333;">${escapeHtml(progressText(s))}</div>${progress}` +
    `<table style="border-collapse:collapse;margin-top:4px;border:none;">${rowHtml.join("")}${axis}${waiting}</table>` +
    `<div style="font-size:11px;color:#444444;margin-top:2px;">${legend}</div>${omitted}</div>`
  );
}

/** What the text form marks a task with, after its index: nothing once it is done. */
const MARKS: Record<PoolBarState, string> = { waiting: "…", running: "…", ok: "", error: "!", lost: "✗", timeout: "⏱", aborted: "-" };

/**
 * The text form's key, for what the rows show: each task by its index in its own call (a second
 * map starts again at 0), a chunk as a range, and a mark for each outcome that is not "done".
 */
function legend(bars: PoolBar[]): string {
  const parts = ["tasks by their index in their call, in the order each worker ran them"];
  const chunk = bars.find((b) => b.tasks > 1);
  if (chunk) parts.push(`${chunk.label}: a chunk of ${chunk.tasks} tasks`);
  const states = new Set(bars.map((b) => b.state));
  const words: [string, string][] = [["…", "running"], ["!", "raised"], ["✗", "worker lost"], ["⏱", "timed out"], ["-", "aborted"]];
  for (const [mark, word] of words) if ([...states].some((state) => MARKS[state] === mark)) parts.push(`${mark} ${word}`);
  return `  (${parts.join("; ")})`;
}

export function renderPoolText(s: PoolSnapshot): string {
  const lines = [`${s.name} (${size(s.processes)}, ${s.state}): ${progressText(s)}`];
  const shown: PoolBar[] = [];
  for (const w of s.workers) {
    const bars = s.bars.filter((b) => b.worker === w.index);
    if (!bars.length && w.end !== undefined) continue;
    const last = bars.slice(-12);
    shown.push(...last);
    const list = last.map((b) => `${b.label}${MARKS[b.state]}`);
    if (bars.length > 12) list.unshift(`(+${bars.length - 12})`);
    lines.push(`  pid ${w.pid ?? "-"}${w.ended ? ` (${w.ended})` : ""}: ${list.join(" ") || "idle"}`);
  }
  if (shown.length > 0) lines.push(legend(shown));
  return lines.join("\n");
}

export function renderPoolTimeline(s: PoolSnapshot): MimeBundle {
  return { "text/plain": renderPoolText(s), "text/html": renderPoolHtml(s) };
}
