/**
 * notebooks/03-pool.ipynb executed through the forklab kernel, with assertions on what it shows:
 * the tutorial's lines tagged with worker pids, at most 4 tasks at once, task 4 starting after
 * another task ended and on that task's worker, the timeline; and no worker left behind after the
 * run, or after an interrupted cell.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CellTimeoutError } from "../../kernel/runner/errors";
import { runNotebook, type RunResult } from "../../kernel/runner/execute";
import type { CodeCell, Notebook, Output } from "../../kernel/runner/notebook";
import { environmentOf, isGone, processTable } from "../support/processes";

const NOTEBOOK = resolve(__dirname, "../../notebooks/03-pool.ipynb");

function marked(): { env: NodeJS.ProcessEnv; alive: () => number[] } {
  const [key, value] = [`FORKLAB_POOL_RUN`, randomUUID()];
  return {
    env: { ...process.env, [key]: value },
    alive: () => [...processTable().keys()].filter((pid) => environmentOf(pid).includes(`${key}=${value}`)),
  };
}

const code = (notebook: Notebook, id: string): CodeCell => {
  const found = notebook.cells.find((c) => c.id === id);
  if (found?.cell_type !== "code") throw new Error(`no code cell ${id}`);
  return found;
};
const streamText = (c: CodeCell) =>
  c.outputs.flatMap((o) => (o.output_type === "stream" ? [Array.isArray(o.text) ? o.text.join("") : o.text] : [])).join("");
const bundles = (c: CodeCell) => c.outputs.filter((o): o is Extract<Output, { data: unknown }> => "data" in o);

describe("notebooks/03-pool.ipynb through the kernel", () => {
  let run: RunResult;
  let left: number[];

  it("runs, and leaves no process behind", async () => {
    const { env, alive } = marked();
    run = await runNotebook(NOTEBOOK, { env });
    left = alive();
    expect(run.errors).toEqual([]);
    expect(left).toEqual([]);
  });

  it("prints the tutorial's lines, tagged with the pid of the worker that printed them", () => {
    const lines = streamText(code(run.notebook, "pool-cell")).split("\n");
    const tagged = lines.filter((l) => /^\[\d+\] /.test(l));
    expect(tagged).toHaveLength(10);
    for (const line of tagged) {
      const [, tag, printed] = /^\[(\d+)\] (?:Run task \d \((\d+)\)\.\.\.|Task \d runs \d+\.\d\d seconds\.)$/.exec(line) ?? [];
      expect(tag, line).toBeDefined();
      if (printed) expect(printed).toBe(tag);
    }
    expect(lines.indexOf("Waiting for all subprocesses done...")).toBeLessThan(lines.findIndex((l) => l.includes("Task ")));
    expect(lines.filter(Boolean).at(-1)).toBe("All subprocesses done.");
  });

  it("runs at most 4 tasks at once, and task 4 starts after another ended, on that task's worker", () => {
    const lines = streamText(code(run.notebook, "pool-cell")).split("\n").filter((l) => /^\[\d+\] /.test(l));
    let running = 0;
    let most = 0;
    /** Workers free when a line is printed: their task ended and they took no other yet. */
    const free = new Set<string>();
    let task4Pid: string | undefined;
    let task4Free: string[] = [];
    for (const line of lines) {
      const [, pid] = /^\[(\d+)\]/.exec(line)!;
      if (/Run task (\d)/.test(line)) {
        running++;
        if (line.includes("Run task 4")) {
          task4Pid = pid;
          task4Free = [...free];
        }
        free.delete(pid!);
      } else {
        running--;
        free.add(pid!);
      }
      most = Math.max(most, running);
    }
    expect(most).toBe(4);
    expect(task4Free.length, "a task had ended before task 4 started").toBeGreaterThan(0);
    expect(task4Free).toContain(task4Pid);
  });

  it("shows the timeline: one row per worker pid, task 4 on the worker that ran another task", () => {
    const pool = bundles(code(run.notebook, "pool-cell"));
    expect(pool).toHaveLength(1);
    const html = String(pool[0]!.data["text/html"]);
    const text = String(pool[0]!.data["text/plain"]);
    expect(html).toMatch(/^<div data-forklab="pool"/);
    expect(text).toMatch(/^Pool-\d+ \(4 processes, joined\): 5 done, 0 running, 0 waiting/);
    const rows = [...text.matchAll(/pid (\d+) \(exited\): ([\d ]+)/g)].map(([, pid, tasks]) => ({ pid, tasks: tasks!.trim().split(" ") }));
    expect(rows).toHaveLength(4);
    const twice = rows.find((r) => r.tasks.length === 2);
    expect(twice?.tasks[1]).toBe("4");
    expect(html).toContain(`task 4 on pid ${twice!.pid}: done`);
    const lines = streamText(code(run.notebook, "pool-cell"));
    expect(lines).toContain(`[${twice!.pid}] Run task 4 (${twice!.pid})...`);
  });

  it("shows what the later sections promise: Pool(5) runs all at once, a killed worker rejects its task, imap stays lazy", () => {
    // Pool(5) starts five workers for five tasks; whether all five run before the first ends
    // depends on how fast five Node processes boot on a busy machine, so only the outcome is checked.
    const pool5 = streamText(code(run.notebook, "pool5-cell"));
    for (let i = 0; i < 5; i++) {
      expect(pool5).toMatch(new RegExp(`Run task ${i} \\(\\d+\\)`));
      expect(pool5).toMatch(new RegExp(`Task ${i} runs \\d+\\.\\d+ seconds`));
    }
    expect(streamText(code(run.notebook, "close-join-cell"))).toMatch(/still running: call pool\.close\(\)[\s\S]*Pool not running/);
    expect(streamText(code(run.notebook, "map-cell"))).toMatch(/speedup \d+\.\d\dx/);
    expect(streamText(code(run.notebook, "killed-cell"))).toMatch(/^WorkerLostError: Worker pid \d+ was killed by SIGKILL while running task 0\nthe pool goes on, on pid \d+\n$/);
    const [, pulled] = /items pulled from the input: (\d+) of 1000000/.exec(streamText(code(run.notebook, "imap-cell")))!;
    // As the prose says: ahead of the loop by up to about a thousand items per worker (2 here).
    expect(Number(pulled)).toBeGreaterThanOrEqual(5);
    expect(Number(pulled)).toBeLessThanOrEqual(2 * 1100);
  });
});

describe("a pool in an interrupted cell", () => {
  const dir = mkdtempSync(join(tmpdir(), "forklab-pool-nb-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("ends with the cell: its tasks are aborted and its workers exit", async () => {
    const file = join(dir, "interrupted.ipynb");
    const source = [
      'import { Pool } from "forklab";',
      "const pool = new Pool(2);",
      "console.log(`workers ${JSON.stringify(await pool.map(() => process.pid, [1, 2], 1))}`);",
      'pool.map(() => new Promise(() => setInterval(() => {}, 1000)), [1, 2], 1).catch((e) => console.log(`map ended: ${e.name}`));',
      "await new Promise(() => {});",
    ].join("\n");
    writeFileSync(
      file,
      JSON.stringify({
        cells: [{ cell_type: "code", id: "cell", metadata: {}, execution_count: null, outputs: [], source }],
        metadata: { kernelspec: { name: "forklab", display_name: "TypeScript (forklab)", language: "typescript" } },
        nbformat: 4,
        nbformat_minor: 5,
      }),
    );
    const { env, alive } = marked();
    // The deadline is the interrupt; long enough for a loaded machine to boot the kernel's workers.
    const error = await runNotebook(file, { env, cellTimeoutMs: 40_000 }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(CellTimeoutError);
    const cell = code((error as CellTimeoutError).notebook!, "cell");
    const text = streamText(cell);
    expect(text, "the cell's output before the interrupt").toMatch(/workers \[/);
    const pids = JSON.parse(/workers (\[.*\])/.exec(text)![1]!) as number[];
    expect(text).toContain("map ended: AbortError");
    for (const pid of pids) expect(isGone(pid), `worker ${pid}`).toBe(true);
    expect(alive()).toEqual([]);
  });
});
