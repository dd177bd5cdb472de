import { describe, expect, it } from "vitest";
import { renderDistributedPool, type DistributedPoolView } from "../../dist/src/render/distributed-pool.js";

const view = (workers: DistributedPoolView["workers"], counts: Partial<DistributedPoolView> = {}): DistributedPoolView => ({
  queue: "squares",
  address: "127.0.0.1:6379",
  state: "closed",
  queued: 0,
  running: 0,
  done: 1,
  failed: 0,
  retries: 1,
  workers,
  ...counts,
});

describe("the distributed Pool's picture", () => {
  it("counts tasks in its headline and attempts in a worker's row, and says which in text and HTML alike", () => {
    const { "text/plain": text, "text/html": html } = renderDistributedPool(
      view([
        { id: "vm:10", concurrency: 1, running: 0, done: 0, attemptsFailed: 1, alive: false },
        { id: "vm:11", concurrency: 2, running: 0, done: 1, attemptsFailed: 0, alive: true },
      ]),
    );
    expect(text).toBe(
      [
        'Pool on Redis 127.0.0.1:6379, queue "squares" (closed): 0 queued, 0 running, 1 done, 0 failed, 1 retry',
        "  vm:10, 1 slot: 0 running, 0 done, 1 attempt failed (gone)",
        "  vm:11, 2 slots: 0 running, 1 done, 0 attempts failed",
      ].join("\n"),
    );
    expect(html).toMatch(/^<div data-forklab="distributed-pool" style=/);
    expect(html).toContain(">attempts failed</th>");
    expect(html).toContain("failed: <b>0</b>");
    expect(html).toContain("retries: <b>1</b>");
    expect(html).not.toMatch(/<script|<style|<svg|var\(--|inherit|currentcolor/i);
  });

  it("a task that failed for good after lost attempts: the headline's one failure, the rows' attempts", () => {
    const workers = [1, 2, 3].map((i) => ({ id: `vm:${i}`, concurrency: 1, running: 0, done: 0, attemptsFailed: 1, alive: false }));
    const { "text/plain": text } = renderDistributedPool(view(workers, { done: 0, failed: 1, retries: 2 }));
    expect(text.split("\n")[0]).toMatch(/: 0 queued, 0 running, 0 done, 1 failed, 2 retries$/);
    expect(text.split("\n").slice(1)).toEqual(workers.map((w) => `  ${w.id}, 1 slot: 0 running, 0 done, 1 attempt failed (gone)`));
  });
});
