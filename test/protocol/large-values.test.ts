import { afterAll, describe, expect, it } from "vitest";
import * as lib from "../../dist/src/index.js";
const { spawn, activeChildren } = lib;

const quiet = { output: "none" as const };

afterAll(() => {
  for (const p of activeChildren()) p.kill();
});

describe("large values between processes", () => {
  it("brings back a 24 MB result whole, across many socket reads", async () => {
    const p = spawn((n: number) => new Uint8Array(n).map((_, i) => i % 251), [24 * 2 ** 20], quiet);
    const value = await p.result;
    expect(value.length).toBe(24 * 2 ** 20);
    expect(value[0]).toBe(0);
    expect(value[251 * 1000 + 5]).toBe(5);
    await p.join();
    expect(p.exitCode).toBe(0);
  });

  it("fails a result over the cap in the child, as that task's error naming size and cap", async () => {
    const p = spawn((n: number) => "z".repeat(n), [5000], { ...quiet, env: { ...process.env, FORKLAB_MAX_RECORD_BYTES: "4096" } });
    await expect(p.result).rejects.toThrow(/A message of 4\.9 KiB \(\d+ bytes\) is larger than the cap of 4\.0 KiB \(4096 bytes\)/);
  });

  it("refuses arguments over the cap before any process starts", () => {
    const before = activeChildren().length;
    const previous = process.env.FORKLAB_MAX_RECORD_BYTES;
    process.env.FORKLAB_MAX_RECORD_BYTES = "4096";
    try {
      expect(() => spawn((s: string) => s.length, ["a".repeat(10_000)], quiet)).toThrow(
        /A message of 9\.\d KiB \(\d+ bytes\) is larger than the cap of 4\.0 KiB \(4096 bytes\).*FORKLAB_MAX_RECORD_BYTES/,
      );
    } finally {
      if (previous === undefined) delete process.env.FORKLAB_MAX_RECORD_BYTES;
      else process.env.FORKLAB_MAX_RECORD_BYTES = previous;
    }
    expect(activeChildren().length).toBe(before);
  });
});
