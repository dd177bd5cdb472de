import { describe, expect, it } from "vitest";
import * as lib from "../../dist/src/index.js";
const { renderPoolTimeline, Pool } = lib;

const snapshot: lib.PoolSnapshot = {
  name: "Pool-1",
  processes: 2,
  state: "running",
  now: 1500,
  workers: [
    { index: 0, pid: 101, start: 0 },
    { index: 1, pid: 102, start: 0, end: 900, ended: "was killed by SIGKILL" },
    { index: 2, pid: 103, start: 900 },
  ],
  bars: [
    { worker: 0, label: "0", start: 10, end: 600, state: "ok", tasks: 1, failures: 0 },
    { worker: 1, label: "1", start: 12, end: 900, state: "lost", tasks: 1, failures: 1 },
    { worker: 0, label: "2", start: 600, end: 1200, state: "error", tasks: 1, failures: 1 },
    { worker: 2, label: "3", start: 950, state: "running", tasks: 1, failures: 0 },
  ],
  omittedBars: 0,
  done: 1,
  failed: 2,
  cancelled: 0,
  running: 1,
  waiting: 3,
  throughput: 0.67,
};

describe("the pool timeline", () => {
  it("draws one row per worker pid, one labelled bar per task, waiting tasks, an axis and progress", () => {
    const bundle = renderPoolTimeline(snapshot);
    const html = bundle["text/html"] as string;
    expect(html).toMatch(/^<div data-forklab="pool"/);
    for (const pid of [101, 102, 103]) expect(html).toContain(`pid ${pid}`);
    expect(html).toContain("was killed by SIGKILL");
    for (const title of ["task 0 on pid 101: done", "task 1 on pid 102: worker lost", "task 2 on pid 101: raised", "task 3 on pid 103: running"]) {
      expect(html).toContain(`title="${title}`);
    }
    expect(html).toContain("3 tasks");
    expect(html).toMatch(/>0 ms</);
    expect(html).toContain("1 done, 2 failed, 1 running, 3 waiting");
    expect(bundle["text/plain"]).toContain("Pool-1 (2 processes, running): 1 done, 2 failed, 1 running, 3 waiting");
    expect(bundle["text/plain"]).toContain("pid 101: 0 2!");
    // Its key names the marks shown, and only those.
    expect(bundle["text/plain"].split("\n").at(-1)).toBe("  (tasks by their index in their call, in the order each worker ran them; … running; ! raised; ✗ worker lost)");
  });

  it("says in its text form what a range of task indexes is", () => {
    const chunks = { ...snapshot, bars: [{ worker: 0, label: "0-3", start: 10, end: 600, state: "ok" as const, tasks: 4, failures: 0 }] };
    expect(renderPoolTimeline(chunks)["text/plain"]).toMatch(/\(tasks by their index in their call, in the order each worker ran them; 0-3: a chunk of 4 tasks\)$/);
  });

  it("uses only what JupyterLab keeps in untrusted output: inline styles, plain colours", () => {
    const html = renderPoolTimeline(snapshot)["text/html"] as string;
    expect(html).not.toMatch(/<svg|<style|<script|var\(--|hsl\(|calc\(|display:\s*(flex|grid)/i);
    const colours = [...html.matchAll(/(?:background|color|border(?:-top|-left|-right)?):\s*([^;"]+)/g)].map((m) => m[1]!.trim());
    for (const c of colours) expect(c).toMatch(/^(#[0-9a-f]{6}|none|\d+px solid #[0-9a-f]{6})$/i);
  });

  it("is what a pool shows, live, and its text when inspected", async () => {
    const pool = new Pool(1);
    try {
      await pool.map((x: number) => x, [1, 2, 3], 1);
      const bundle = (pool as unknown as Record<symbol, () => lib.MimeBundle>)[Symbol.for("Jupyter.display")]!();
      expect(bundle["text/html"]).toContain('data-forklab="pool"');
      // One worker is "1 process", in the text and in the picture's header.
      expect(bundle["text/plain"]).toMatch(/Pool-\d+ \(1 process, running\): 3 done/);
      expect(bundle["text/html"]).toContain(">1 process, running</span>");
      expect(require("node:util").inspect(pool)).toMatch(/pid \d+: 0 1 2/);
    } finally {
      await pool.terminate();
    }
  });
});
