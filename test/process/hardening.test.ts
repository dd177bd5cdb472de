import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { isGone, processTable, waitFor } from "../support/processes";
// The built library: the child runtime is compiled JS started by path.
import * as lib from "../../dist/src/index.js";
// Through Node's require, as the library loads it: the same module instance, the same spares.
const { spareBooted } = require("../../dist/src/parent/process/child-handle.js") as typeof import("../../dist/src/parent/process/child-handle.js");
const { spawn, Process, activeChildren, setStartMethod } = lib;

const quiet = { output: "none" as const };

afterAll(() => {
  for (const p of activeChildren()) p.kill();
});

/** The child runtimes this test process started that are alive now (spares included). */
function childRuntimes(): number[] {
  return [...processTable()].filter(([, info]) => info.ppid === process.pid && info.cmdline.includes("child/main.js")).map(([pid]) => pid);
}

/** A target that starts `sleep` (not through forklab) and prints its pid, then waits. */
const withGrandchild = function withGrandchild() {
  const { spawn } = require("node:child_process");
  const sleep = spawn("sleep", ["1000"], { stdio: "ignore" });
  console.log(`grandchild ${sleep.pid}`);
  return new Promise(() => setInterval(() => {}, 1000));
};

async function grandchildOf(p: lib.Process): Promise<number> {
  await waitFor(`${p.name} to print its grandchild's pid`, () => /grandchild \d+/.test(p.stdout), 30_000);
  return Number(/grandchild (\d+)/.exec(p.stdout)![1]);
}

describe("terminate() and kill() reach the child's whole process group", () => {
  for (const how of ["terminate", "kill"] as const) {
    it(`${how}() ends a program the child started`, async () => {
      const p = spawn(withGrandchild, [], quiet);
      const sleep = await grandchildOf(p);
      expect(isGone(sleep)).toBe(false);
      p[how]();
      await p.join();
      await waitFor(`sleep ${sleep} to end after ${how}()`, () => isGone(sleep), 30_000);
    });
  }
});

describe("warm spares", () => {
  afterEach(() => setStartMethod("spawn"));

  it("keeps at most one spare, for the options of the last start", async () => {
    setStartMethod("warm");
    let last: { cwd: string; env: NodeJS.ProcessEnv; execArgv: string[] } | undefined;
    for (let i = 0; i < 5; i++) {
      const env = { ...process.env, FORKLAB_SPARE_TEST: String(i) };
      const p = spawn(() => 1, [], { ...quiet, env });
      await p.join();
      last = { cwd: process.cwd(), env, execArgv: [] };
    }
    await spareBooted(last!);
    expect(activeChildren()).toEqual([]);
    expect(childRuntimes()).toHaveLength(1);
  });
});

describe("Process options are validated before anything starts", () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["name", { name: 7 }, 'Process(): option name must be a string (e.g. "worker-1"), got 7 (number)'],
    ["daemon", { daemon: "no" }, 'Process(): option daemon must be true or false, got "no" (string)'],
    ["env values", { env: { X: 5 } }, "Process(): option env.X must be a string (environment values are text; convert it with String()), got 5 (number)"],
    ["env names", { env: { "A=B": "1" } }, 'Process(): option env has the name "A=B", which cannot be an environment variable'],
    ["env NUL", { env: { A: "x\0y" } }, "Process(): option env.A must be a string without NUL characters"],
    ["output", { output: "bogus" }, 'Process(): option output must be one of "display", "forward", "none", got "bogus" (string)'],
    ["startMethod", { startMethod: "fork" }, 'Process(): option startMethod must be one of "spawn", "warm", got "fork" (string)'],
    ["killGrace", { killGrace: NaN }, "Process(): option killGrace must be a number of seconds >= 0 (as in Python; e.g. 2.5), or null for none, got NaN (number)"],
    ["killGraceMs (renamed)", { killGraceMs: 50 }, "Process(): unknown option killGraceMs; it is now killGrace (in seconds"],
    ["outputLimit", { outputLimit: -5 }, "Process(): option outputLimit must be a whole number of characters >= 0 (e.g. 100_000), got -5 (number)"],
    ["execArgv", { execArgv: ["--inspect", 3] }, "Process(): option execArgv must be an array of strings"],
    ["cwd", { cwd: 5 }, "Process(): option cwd must be a directory path (a non-empty string), got 5 (number)"],
    ["unknown", { nmae: "x" }, "Process(): unknown option nmae; known options: target, args, name"],
  ];
  for (const [what, options, message] of cases) {
    it(what, () => {
      const before = new Set(childRuntimes());
      expect(() => spawn(() => 1, [], options as never)).toThrow(TypeError);
      expect(() => spawn(() => 1, [], options as never)).toThrow(message);
      expect(() => new Process({ target: () => 1, ...options } as never)).toThrow(message);
      // No child started: every one alive now was alive before (one of an earlier test may have ended since).
      expect(childRuntimes().filter((pid) => !before.has(pid))).toEqual([]);
    });
  }

  it("a refused spawn does not use up a process number", async () => {
    const first = spawn(() => 1, [], quiet);
    expect(() => spawn(() => 1, [], { name: 7 } as never)).toThrow(TypeError);
    expect(() => spawn((f: unknown) => f, [() => 1], quiet)).toThrow(/cannot be sent/);
    expect(() => spawn(() => 1, [], { ...quiet, cwd: "/no/such/dir" })).toThrow(/does not exist/);
    const second = spawn(() => 2, [], quiet);
    const number = (p: lib.Process) => Number(p.name.split("-")[1]);
    expect(number(second)).toBe(number(first) + 1);
    await Promise.all([first.join(), second.join()]);
  });
});

describe("join(timeout) and killGrace take seconds", () => {
  afterEach(() => vi.useRealTimers());

  it("join(1) waits one second, not one millisecond", async () => {
    const p = spawn(() => new Promise(() => setInterval(() => {}, 1000)), [], quiet);
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    let returned = false;
    const joined = p.join(1).then(() => (returned = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(returned).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await joined;
    expect(returned).toBe(true);
    expect(p.isAlive()).toBe(true);
    vi.useRealTimers();
    p.kill();
    await p.join();
  });

  it("a join(timeout) beyond 2^31-1 ms waits as asked", async () => {
    const p = spawn(() => {
      console.log("ready");
      return new Promise(() => setInterval(() => {}, 1000));
    }, [], quiet);
    // 100 years: as milliseconds past a Node timer's limit too, so neither reading fires early.
    const joined = p.join(100 * 365 * 24 * 3600);
    await waitFor(`${p.name} to print "ready"`, () => p.stdout.includes("ready"), 30_000);
    expect(p.isAlive()).toBe(true);
    p.kill();
    await joined;
    expect(p.exitCode).toBe(-9);
  });

  it("join() rejects a bad timeout, naming it", async () => {
    const p = spawn(() => 1, [], quiet);
    await expect(p.join(-1)).rejects.toThrow("join(): option timeout must be a number of seconds >= 0");
    await p.join();
  });
});
