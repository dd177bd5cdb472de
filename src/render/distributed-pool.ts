/**
 * A distributed Pool as a picture: one row per worker host:pid (its slots, the tasks it runs now,
 * the calls it finished, the attempts that failed or were lost on it, alive or gone), the tasks
 * still queued in Redis, and the retries. The headline's "failed" counts tasks that failed for
 * good; a row counts attempts, each of which was retried elsewhere or was its task's last. Pure:
 * data in, MIME bundle out (inline styles, plain colours, no scripts), with a text/plain twin.
 */
import type { MimeBundle } from "../protocol/kernel-bridge";
import { escapeHtml } from "./format";

export interface DistributedWorkerView {
  /** "host:pid" */
  id: string;
  concurrency: number | undefined;
  running: number;
  done: number;
  /** Attempts that failed or were lost (its worker died) on this worker. */
  attemptsFailed: number;
  alive: boolean;
}

export interface DistributedPoolView {
  queue: string;
  /** "host:port" of Redis. */
  address: string;
  state: "running" | "closed" | "terminated";
  /** Tasks (jobs) of this pool waiting in Redis, running, and calls done or failed. */
  queued: number;
  running: number;
  done: number;
  failed: number;
  retries: number;
  workers: DistributedWorkerView[];
}

const GREEN = "#2e7d32";
const RED = "#c62828";
const GREY = "#757575";
const BLUE = "#1565c0";
const BAR_CELLS = 20;

function headline(view: DistributedPoolView): string {
  return (
    `Pool on Redis ${view.address}, queue "${view.queue}" (${view.state}): ${view.queued} queued, ${view.running} running, ` +
    `${view.done} done, ${view.failed} failed, ${view.retries} retr${view.retries === 1 ? "y" : "ies"}`
  );
}

function workerText(w: DistributedWorkerView): string {
  const slots = w.concurrency === undefined ? "" : `, ${w.concurrency} slot${w.concurrency === 1 ? "" : "s"}`;
  const failed = `${w.attemptsFailed} attempt${w.attemptsFailed === 1 ? "" : "s"} failed`;
  return `${w.id}${slots}: ${w.running} running, ${w.done} done, ${failed}${w.alive ? "" : " (gone)"}`;
}

function bar(done: number, max: number): string {
  const filled = max === 0 ? 0 : Math.round((done / max) * BAR_CELLS);
  const cell = (colour: string) => `<span style="display:inline-block;width:6px;height:10px;margin-right:1px;background:${colour}"></span>`;
  return cell(BLUE).repeat(filled) + cell("#e0e0e0").repeat(BAR_CELLS - filled);
}

export function renderDistributedPool(view: DistributedPoolView): MimeBundle & { "text/html": string } {
  const text = [headline(view), ...(view.workers.length ? view.workers.map((w) => `  ${workerText(w)}`) : ["  no worker yet: start one with forklab worker"])].join("\n");
  const max = Math.max(1, ...view.workers.map((w) => w.done));
  const cellStyle = "padding:2px 8px;text-align:left;border-bottom:1px solid #e0e0e0";
  const rows = view.workers
    .map((w) => {
      const status = w.alive
        ? `<span style="color:${GREEN}">alive</span>`
        : `<span style="color:${GREY}">gone</span>`;
      return (
        `<tr><td style="${cellStyle};font-family:monospace">${escapeHtml(w.id)}</td>` +
        `<td style="${cellStyle}">${status}</td>` +
        `<td style="${cellStyle}">${w.concurrency ?? "-"}</td>` +
        `<td style="${cellStyle}">${w.running}</td>` +
        `<td style="${cellStyle}">${w.done}</td>` +
        `<td style="${cellStyle}${w.attemptsFailed ? `;color:${RED}` : ""}">${w.attemptsFailed}</td>` +
        `<td style="${cellStyle}">${bar(w.done, max)}</td></tr>`
      );
    })
    .join("");
  const empty = view.workers.length
    ? ""
    : `<tr><td colspan="7" style="${cellStyle};color:${GREY}">no worker yet: start one with <code>npx forklab worker --redis URL --queue ${escapeHtml(view.queue)}</code></td></tr>`;
  const head = ["worker (host:pid)", "status", "slots", "running", "done", "attempts failed", "share of done"]
    .map((h) => `<th style="${cellStyle};font-weight:bold">${h}</th>`)
    .join("");
  const html =
    `<div data-forklab="distributed-pool" style="font-family:sans-serif;font-size:13px">` +
    `<div style="margin-bottom:4px"><b>Pool on Redis</b> <code>${escapeHtml(view.address)}</code>, queue <code>${escapeHtml(view.queue)}</code> ` +
    `<span style="color:${GREY}">(${view.state})</span></div>` +
    `<div style="margin-bottom:4px">queued in Redis: <b>${view.queued}</b> &nbsp; running: <b>${view.running}</b> &nbsp; ` +
    `done: <b style="color:${GREEN}">${view.done}</b> &nbsp; failed: <b${view.failed ? ` style="color:${RED}"` : ""}>${view.failed}</b> &nbsp; ` +
    `retries: <b>${view.retries}</b></div>` +
    `<table style="border-collapse:collapse"><thead><tr>${head}</tr></thead><tbody>${rows}${empty}</tbody></table></div>`;
  return { "text/plain": text, "text/html": html };
}
