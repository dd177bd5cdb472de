import { describe, expect, it } from "vitest";
import type { DoneMessage, ErrorRecord, Message, TasksMessage } from "../../dist/src/protocol/messages.js";
import { batchParts, eachAnswer, packDone, packRuns, packTasks } from "../../dist/src/protocol/pool-batches.js";

const tasks = (id: number, items: unknown[]): TasksMessage => ({ t: "tasks", id, fid: 1, items, star: true });
const record = (message: string): ErrorRecord => ({ name: "Error", message, props: {}, pid: 1, isError: true });

describe("pool batches packed into one message", () => {
  it("packs batches of one tick into one tasks message whose parts give back each batch", () => {
    const packed = packTasks([tasks(4, [[1]]), tasks(7, [[2], [3]]), tasks(8, [])]);
    expect(packed).toMatchObject({ id: 4, ids: [4, 7, 8], ends: [1, 3, 3], items: [[1], [2], [3]] });
    expect(batchParts(packed)).toEqual([{ id: 4, from: 0, to: 1 }, { id: 7, from: 1, to: 3 }, { id: 8, from: 3, to: 3 }]);
    // One item each (applies): no ends at all.
    expect(packTasks([tasks(1, [[1]]), tasks(2, [[2]])]).ends).toBeUndefined();
  });

  it("unpacks answers with their own values, errors (by their own positions) and times", () => {
    const answers: DoneMessage[] = [
      { t: "done", id: 3, values: [10, undefined], errors: [[1, record("b")]], at: [1, 2] },
      { t: "done", id: 5, values: [30], at: [2, 3] },
      { t: "done", id: 6, values: [undefined, 50], errors: [[0, record("d")]], at: [3, 4] },
    ];
    const packed = packDone(answers);
    expect(packed.errors!.map(([at]) => at)).toEqual([1, 3]);
    const unpacked: DoneMessage[] = [];
    eachAnswer(structuredClone(packed), (id, values, errors, start, end) =>
      unpacked.push({ t: "done", id, values, ...(errors ? { errors } : {}), at: [start, end] }),
    );
    expect(unpacked).toEqual(answers);
  });

  it("merges only neighbours with the same key, keeping everything else in its place", () => {
    const out: Message = { t: "out", id: 1, i: 0, s: "stdout", text: "x" };
    const messages: Message[] = [tasks(1, [1]), tasks(2, [2]), out, tasks(3, [3]), { ...tasks(4, [4]), fid: 2 }];
    const packed = packRuns<TasksMessage>(messages, (m) => (m.t === "tasks" ? String(m.fid) : undefined), packTasks);
    expect(packed.map((m) => (m.t === "tasks" ? (m.ids ?? [m.id]) : m.t))).toEqual([[1, 2], "out", [3], [4]]);
  });
});
