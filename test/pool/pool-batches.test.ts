import { describe, expect, it } from "vitest";
import type { DoneMessage, ErrorRecord, Message, TasksMessage } from "../../dist/src/protocol/messages.js";
import { argumentColumn, numberColumn } from "../../dist/src/protocol/number-column.js";
import { batchParts, compactDone, compactTasks, eachAnswer, packDone, packRuns, packTasks } from "../../dist/src/protocol/pool-batches.js";

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

  it("numbers go as a typed column only when every entry is a primitive number; Int32Array only when none is lost", () => {
    const ints = Array.from({ length: 40 }, (_, i) => i - 20);
    expect(numberColumn(ints)).toBeInstanceOf(Int32Array);
    for (const exotic of [-0, 0.5, NaN, 2 ** 31, -(2 ** 31) - 1, Infinity]) {
      const column = numberColumn([...ints, exotic])!;
      expect(column).toBeInstanceOf(Float64Array);
      expect(Object.is(column[40], exotic)).toBe(true);
    }
    const holey: unknown[] = [...ints];
    delete holey[3];
    for (const list of [holey, [...ints, undefined], [...ints, Object(1)], [...ints, 1n], [...ints, "1"], [...ints, null]]) expect(numberColumn(list)).toBeUndefined();
    // Short lists go as they are.
    expect(numberColumn([1, 2, 3])).toBeUndefined();
    const lists = ints.map((x) => [x]);
    expect([...argumentColumn(lists)!]).toEqual(ints);
    for (const odd of [[1, 2], [], new Proxy([1], {}), [Object(1)], "1", [undefined]]) expect(argumentColumn([...lists, odd])).toBeUndefined();
  });

  it("compacted messages give back the same batches, values and times, and leave the original as it was", () => {
    const items = Array.from({ length: 64 }, (_, i) => [i]);
    const packed = packTasks([tasks(1, items.slice(0, 40)), tasks(2, items.slice(40))]);
    const wire = structuredClone(compactTasks(packed));
    expect(wire.items).toEqual([]);
    expect([...wire.nums!]).toEqual(items.map(([x]) => x));
    expect(batchParts(wire)).toEqual(batchParts(packed));
    expect(packed.items).toEqual(items);
    // Items that are not all numbers: only the protocol's own lists become columns.
    const mixed = packTasks([tasks(1, [["a"]]), tasks(2, [[1]])]);
    expect(compactTasks(mixed).items).toEqual([["a"], [1]]);
    const answers: DoneMessage[] = Array.from({ length: 40 }, (_, k) => ({ t: "done", id: k + 1, values: [k * 2], at: [k + 0.5, k + 0.75] }));
    answers[5] = { t: "done", id: 6, values: [-0, 10], at: [5.5, 5.75] };
    const done = packDone(answers);
    const unpacked: DoneMessage[] = [];
    eachAnswer(structuredClone(compactDone(done)), (id, values, errors, start, end) =>
      unpacked.push({ t: "done", id, values, ...(errors ? { errors } : {}), at: [start, end] }),
    );
    expect(unpacked).toEqual(answers);
    expect(Object.is(unpacked[5]!.values[0], -0)).toBe(true);
    // With an error among them, the values go as they were.
    expect(compactDone({ ...done, errors: [[0, record("x")]] }).nums).toBeUndefined();
  });
});
