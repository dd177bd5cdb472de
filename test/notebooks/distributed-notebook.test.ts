/**
 * notebooks/06-distributed.ipynb executed through the forklab kernel: the Python master and worker
 * run and print what the tutorial shows; with redis-server, the same program runs on Redis with two
 * forklab workers, a killed worker's task runs again on the other, and nothing the notebook started
 * (Redis, workers, their children) outlives the run. Two cells run twice, as a learner runs a cell
 * again: the one that starts Redis and the workers reuses those of its first run, and the one that
 * kills a worker does it again. Without redis-server the notebook skips its live part and says
 * what to install.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runNotebook, type RunResult } from "../../kernel/runner/execute";
import { readNotebook, type CodeCell, type Output } from "../../kernel/runner/notebook";
import { environmentOf, processTable } from "../support/processes";
import { redisAvailable } from "../support/redis";

const NOTEBOOKS = resolve(__dirname, "../../notebooks");
const NOTEBOOK = join(NOTEBOOKS, "06-distributed.ipynb");
/** The cell that starts redis-server and two workers, and the one that kills the worker running a task: each run twice, as a learner runs a cell again. */
const START_CELL = "c06-07";
const KILL_CELL = "c06-13";

function outputText(output: Output): string {
  if (output.output_type === "stream") return output.text;
  if (output.output_type === "error") return `${output.ename}: ${output.evalue}`;
  return String(output.data["text/plain"] ?? "");
}

function processesWith(marker: string): string[] {
  return [...processTable()].filter(([pid]) => environmentOf(pid).includes(marker)).map(([pid, { cmdline }]) => `${pid} ${cmdline}`);
}

describe("notebook 06-distributed", () => {
  let result: RunResult;
  let lines: string[];
  let left: string[];
  const withRedis = redisAvailable("the live part of notebook 06");

  beforeAll(async () => {
    const marker = `FORKLAB_NB06_RUN=${randomUUID()}`;
    const [key, value] = marker.split("=");
    const notebook = readNotebook(NOTEBOOK);
    for (const id of [START_CELL, KILL_CELL]) {
      const at = notebook.cells.findIndex((c) => c.id === id);
      expect(at, `cell ${id}`).toBeGreaterThan(0);
      notebook.cells.splice(at + 1, 0, { ...notebook.cells[at]!, id: `${id}-again` });
    }
    const dir = mkdtempSync(join(tmpdir(), "forklab-nb06-"));
    try {
      const copy = join(dir, "06-distributed.ipynb");
      writeFileSync(copy, JSON.stringify(notebook));
      // In the course's folder, as the notebook itself runs (scripts/, the forklab package).
      result = await runNotebook(copy, { cwd: NOTEBOOKS, env: { ...process.env, [key!]: value } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    left = processesWith(marker);
    lines = result.notebook.cells.flatMap((c) => (c.cell_type === "code" ? (c as CodeCell).outputs.flatMap((o) => outputText(o).split("\n")) : []));
  });

  it("runs every cell without an error, and leaves no process behind", () => {
    expect(result.errors).toEqual([]);
    expect(lines.filter((line) => /Error/.test(line) && !/DistributedTaskError/.test(line))).toEqual([]);
    expect(left).toEqual([]);
  });

  it("the Python master and worker print what the tutorial shows", () => {
    const text = lines.join("\n");
    expect(text).toMatch(/Connect to server 127\.0\.0\.1\.\.\./);
    expect(lines.filter((l) => /^run task \d+ \* \d+\.\.\.$/.test(l)).length).toBeGreaterThanOrEqual(10);
    expect(lines.filter((l) => /^Put task \d+\.\.\.$/.test(l)).length).toBeGreaterThanOrEqual(10);
    const results = lines.filter((l) => /^Result: \d+ \* \d+ = \d+$/.test(l));
    expect(results.length).toBeGreaterThanOrEqual(10);
    for (const line of results) {
      const [, a, b, c] = line.match(/^Result: (\d+) \* (\d+) = (\d+)$/)!;
      expect(Number(a) * Number(b)).toBe(Number(c));
    }
    expect(text).toContain("master exit.");
  });

  it.skipIf(!withRedis)("run again, the cell that starts Redis and two workers reuses those of its first run and starts nothing", () => {
    const cell = (id: string): string[] => {
      const found = result.notebook.cells.find((c) => c.id === id) as CodeCell;
      return found.outputs.flatMap((o) => outputText(o).split("\n")).filter((l) => l !== "");
    };
    const first = cell(START_CELL);
    const again = cell(`${START_CELL}-again`);
    const redisPid = first.map((l) => l.match(/^redis-server (\d+) listens on redis:\/\/127\.0\.0\.1:\d+$/)?.[1]).find(Boolean);
    const workerPids = first.map((l) => l.match(/^forklab worker .*:(\d+): taking tasks of queue "squares"/)?.[1]).filter(Boolean);
    expect(redisPid, first.join("\n")).toBeDefined();
    expect(workerPids, first.join("\n")).toHaveLength(2);
    expect(again).toEqual([
      expect.stringMatching(new RegExp(`^redis-server ${redisPid} of an earlier run of this cell still listens on redis://127\\.0\\.0\\.1:\\d+: reused$`)),
      `forklab workers ${workerPids.join(" and ")} of an earlier run: reused`,
    ]);
  });

  it.skipIf(!withRedis)("on Redis: two workers, the tutorial's program one to one, the Pool's picture, a killed worker's task run again elsewhere, each time the cell runs", () => {
    const workers = lines.filter((l) => /^forklab worker .*:\d+: taking tasks of queue "squares"/.test(l));
    expect(workers.length).toBe(4); // two, then one that replaces each killed worker
    // Twenty results computed on the workers: the queue program and the Pool's map.
    expect(lines.filter((l) => /^Result: \d+ \* \d+ = \d+$/.test(l)).length, lines.join("\n")).toBe(20);
    expect(lines.filter((l) => /^\d+ \* \d+ = \d+ \(on pid \d+\)$/.test(l))).toHaveLength(10);
    expect(lines.filter((l) => l === "worker exit.").length).toBe(2);
    const killed = lines.filter((l) => /^the task started on worker pid \d+: kill -9 \d+$/.test(l)).map((l) => Number(l.match(/pid (\d+)/)![1]));
    const again = lines.filter((l) => /^12 \* 12 = 144, run again by worker pid \d+$/.test(l)).map((l) => Number(l.match(/pid (\d+)$/)![1]));
    expect(killed, lines.join("\n")).toHaveLength(2);
    expect(again, lines.join("\n")).toHaveLength(2);
    // Each run kills a worker of its own and gets its answer from another one.
    expect(killed[1]).not.toBe(killed[0]);
    for (let i = 0; i < 2; i++) expect(again[i]).not.toBe(killed[i]);
    expect(lines.filter((l) => l === "retries: 1")).toHaveLength(2);
    // The picture: text and HTML, one row per worker host:pid.
    const pictures = result.notebook.cells.flatMap((c) =>
      c.cell_type === "code" ? (c as CodeCell).outputs.filter((o): o is Extract<Output, { data: unknown }> => "data" in o && String(o.data["text/plain"]).startsWith("Pool on Redis")) : [],
    );
    expect(pictures.length).toBeGreaterThan(0);
    const html = String(pictures.at(-1)!.data["text/html"]);
    expect(html).toMatch(/^<div data-forklab="distributed-pool" style=/);
    expect(html).toContain("worker (host:pid)");
    expect(html).not.toMatch(/<script|<style|<svg|var\(--|inherit|currentcolor/i);
    expect(lines).toContain("stopped 2 workers and redis-server");
  });

  it.skipIf(withRedis)("without redis-server it says what to install and skips the live part", () => {
    expect(lines.join("\n")).toContain("redis-server is not installed");
  });
});
