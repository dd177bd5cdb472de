import { describe, expect, it } from "vitest";
import { Popen, run } from "../../src";
import { processTable } from "../support/processes";
import { js } from "./helpers";

/** Programs this test process started that still run, by command line. */
function myPrograms(name: string): number[] {
  return [...processTable()].filter(([, info]) => info.ppid === process.pid && info.cmdline === name).map(([pid]) => pid);
}

describe("subprocess options are checked before the program starts", () => {
  it("an input that the encoding cannot encode rejects, and cat never starts", async () => {
    await expect(run(["cat"], { encoding: "gbk", input: "hé" })).rejects.toThrow(
      'run(): input is a string and encoding is "gbk", which this runtime can decode but not encode',
    );
    expect(myPrograms("cat")).toEqual([]);
  });

  it("an unknown encoding is named", async () => {
    await expect(run(["cat"], { encoding: "klingon", input: "x" })).rejects.toThrow(
      'run(): option encoding must be an encoding label TextDecoder knows ("utf-8", "gbk", "shift_jis", "latin1", ...), got "klingon" (string)',
    );
    expect(myPrograms("cat")).toEqual([]);
  });

  it("an environment variable's name with = or NUL, or a value with NUL", async () => {
    expect(() => new Popen(js(""), { env: { "A=B": "1" } })).toThrow(
      'Popen(): option env has the name "A=B", which cannot be an environment variable: names are not empty and contain no "=" or NUL character',
    );
    await expect(run(js(""), { env: { "A\0": "1" } })).rejects.toThrow('run(): option env has the name "A\\u0000"');
    await expect(run(js(""), { env: { A: "1\u00002" } })).rejects.toThrow("run(): option env.A must be a string without NUL characters");
    await expect(run(js(""), { env: { X: 5 } as never })).rejects.toThrow("run(): option env.X must be a string (environment values are text; convert it with String()), got 5 (number)");
  });
});
