/**
 * The picture of a queue: producers on the left, the queue (size / maxsize) in the middle,
 * consumers on the right, with each process's counts, then the first put/get events in the order
 * the owner saw them (pid, item, time), so the order between processes is visible. Pure (snapshot
 * -> MIME bundle); inline styles with plain colours that read on light and dark backgrounds.
 */
import type { MimeBundle } from "../protocol/kernel-bridge";
import type { QueueSnapshot } from "../ipc/store";
import { escapeHtml } from "./format";

const PUT = "#2e7d32";
const GET = "#1565c0";
const BACK = "#c62828";
const BOX = "border:1px solid #888888;border-radius:4px;padding:4px 8px;margin:2px 0";

function who(s: QueueSnapshot, role: "puts" | "gets") {
  return s.participants.filter((p) => p[role] > 0);
}

export function renderQueueText(s: QueueSnapshot): string {
  const lines = [
    `${s.kind} (owner pid ${s.ownerPid}): ${s.size} queued${s.maxsize ? ` of maxsize ${s.maxsize}` : ""}, ${s.puts} put, ${s.gets} got` +
      (s.inFlight ? `, ${s.inFlight} on the way to a consumer` : "") +
      (s.unfinished !== undefined ? `, ${s.unfinished} not yet done` : ""),
  ];
  for (const p of who(s, "puts")) lines.push(`  producer ${p.name} (pid ${p.pid}): ${p.puts} put`);
  for (const p of who(s, "gets")) lines.push(`  consumer ${p.name} (pid ${p.pid}): ${p.gets} got`);
  for (const e of s.events) lines.push(`  ${e.t.toFixed(1).padStart(8)} ms  pid ${e.pid}  ${e.op.padEnd(4)} ${e.item}`);
  if (s.droppedEvents) lines.push(`  ... ${s.droppedEvents} more events (the first ${s.events.length} are shown)`);
  return lines.join("\n");
}

export function renderQueueFlow(s: QueueSnapshot): MimeBundle {
  const column = (title: string, rows: string[]) =>
    `<td style="vertical-align:top;padding:4px 10px"><div style="font-weight:bold">${title}</div>${rows.join("") || `<div style="color:#888888">none yet</div>`}</td>`;
  const person = (name: string, pid: number, count: string, colour: string) =>
    `<div style="${BOX};border-left:4px solid ${colour}">${escapeHtml(name)} <span style="color:#888888">pid ${pid}</span><br>${count}</div>`;
  const producers = who(s, "puts").map((p) => person(p.name, p.pid, `${p.puts} put`, PUT));
  const consumers = who(s, "gets").map((p) => person(p.name, p.pid, `${p.gets} got`, GET));
  const middle =
    `<div style="${BOX};border:2px solid #888888;text-align:center">${s.kind}<br><b>${s.size}</b> queued` +
    `${s.maxsize ? ` / maxsize ${s.maxsize}` : ""}<br><span style="color:#888888">owner pid ${s.ownerPid}</span>` +
    (s.inFlight ? `<br>${s.inFlight} on the way` : "") +
    (s.unfinished !== undefined ? `<br>${s.unfinished} not done` : "") +
    `</div>`;
  const colours = { put: PUT, get: GET, back: BACK };
  const events = s.events
    .map(
      (e) =>
        `<tr><td style="text-align:right;padding:0 8px;color:#888888">${e.t.toFixed(1)} ms</td><td style="padding:0 8px">pid ${e.pid}</td>` +
        `<td style="padding:0 8px;color:${colours[e.op]};font-weight:bold">${e.op}</td><td style="padding:0 8px;font-family:monospace">${escapeHtml(e.item)}</td></tr>`,
    )
    .join("");
  const more = s.droppedEvents ? `<div style="color:#888888">${s.droppedEvents} more events; the first ${s.events.length} are shown</div>` : "";
  const html =
    `<div data-forklab="queue" style="font-family:sans-serif;font-size:13px;padding:4px">` +
    `<table style="border-collapse:collapse"><tr>${column("producers", producers)}<td style="vertical-align:middle;padding:4px 10px">→ ${middle} →</td>${column("consumers", consumers)}</tr></table>` +
    (events ? `<table style="border-collapse:collapse;margin-top:4px">${events}</table>${more}` : "") +
    `</div>`;
  return { "text/plain": renderQueueText(s), "text/html": html };
}
