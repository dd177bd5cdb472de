import { describe, expect, it } from "vitest";
import { Outstanding } from "../../src/ipc/outstanding";

const entry = (seq: number) => ({ seq });
const seqs = (outstanding: Outstanding<{ seq: number }>) => outstanding.values().map((e) => e.seq);

describe("Outstanding", () => {
  it("takes entries in the order they were sent, and any one by its sequence number", () => {
    const outstanding = new Outstanding<{ seq: number }>();
    for (const seq of [3, 4, 9, 5, 6]) outstanding.add(entry(seq));
    expect(outstanding.take(3)?.seq).toBe(3);
    expect(outstanding.take(5)?.seq).toBe(5);
    expect(outstanding.size).toBe(3);
    expect(seqs(outstanding)).toEqual([4, 9, 6]);
    expect(outstanding.take(5)).toBeUndefined();
    expect(outstanding.take(42)).toBeUndefined();
    expect(outstanding.take(4)?.seq).toBe(4);
    expect(outstanding.take(9)?.seq).toBe(9);
    outstanding.add(entry(10));
    expect(seqs(outstanding)).toEqual([6, 10]);
    expect(outstanding.take(6)?.seq).toBe(6);
    expect(outstanding.take(10)?.seq).toBe(10);
    expect(outstanding.size).toBe(0);
    expect(seqs(outstanding)).toEqual([]);
  });

  it("keeps what is left in order over a long stream taken at its head, with a hole now and then", () => {
    const outstanding = new Outstanding<{ seq: number }>();
    let next = 1;
    const left: number[] = [];
    for (let round = 0; round < 5000; round++) {
      for (let i = 0; i < 3; i++) outstanding.add(entry(next++));
      // Each round takes its first and third entries, and leaves the second for later.
      expect(outstanding.take(next - 3)?.seq).toBe(next - 3);
      expect(outstanding.take(next - 1)?.seq).toBe(next - 1);
      left.push(next - 2);
    }
    expect(outstanding.size).toBe(5000);
    expect(seqs(outstanding)).toEqual(left);
    for (const seq of left) expect(outstanding.take(seq)?.seq).toBe(seq);
    expect(outstanding.size).toBe(0);
  });

  it("some() tests what is here, not what was taken", () => {
    const outstanding = new Outstanding<{ seq: number }>();
    for (const seq of [1, 2, 3]) outstanding.add(entry(seq));
    outstanding.take(2);
    expect(outstanding.some((e) => e.seq === 3)).toBe(true);
    expect(outstanding.some((e) => e.seq === 2)).toBe(false);
    outstanding.take(1);
    expect(outstanding.some((e) => e.seq < 3)).toBe(false);
  });

  it("is empty after clear()", () => {
    const outstanding = new Outstanding<{ seq: number }>();
    outstanding.add(entry(1));
    outstanding.add(entry(2));
    outstanding.clear();
    expect(outstanding.size).toBe(0);
    expect(outstanding.take(1)).toBeUndefined();
    expect(seqs(outstanding)).toEqual([]);
  });
});
