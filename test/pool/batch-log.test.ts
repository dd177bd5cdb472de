import { describe, expect, it } from "vitest";
import { BatchLog, type LoggedBatch } from "../../dist/src/parent/pool/batch-log.js";

const batch = (id: number, more: Partial<LoggedBatch> = {}): LoggedBatch => ({
  id, worker: 0, pid: 4242, firstIndex: id * 10, tasks: 10, queuedAt: 1, startedAt: 2, endedAt: 3, state: "ok", failures: 0, ...more,
});

describe("the log of finished batches", () => {
  it("gives back what it recorded, unknown values included", () => {
    const log = new BatchLog(4);
    log.record(batch(1));
    log.record(batch(2, { worker: undefined, pid: undefined, startedAt: undefined, state: "aborted", failures: 10 }));
    expect(log.size).toBe(2);
    expect(log.at(0)).toEqual(batch(1));
    expect(log.at(1)).toEqual(batch(2, { worker: undefined, pid: undefined, startedAt: undefined, state: "aborted", failures: 10 }));
  });

  it("keeps the most recent `capacity` batches, oldest first, and counts the others as dropped", () => {
    const log = new BatchLog(3);
    for (let id = 1; id <= 7; id++) log.record(batch(id));
    expect(log.size).toBe(3);
    expect(log.dropped).toBe(4);
    expect(log.last(10).map((b) => b.id)).toEqual([5, 6, 7]);
    expect(log.last(2).map((b) => b.id)).toEqual([6, 7]);
  });
});
