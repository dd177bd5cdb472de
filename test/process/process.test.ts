import { afterAll, describe, expect, it } from "vitest";
import * as path from "node:path";
import { waitFor } from "../support/processes";
import { LIB } from "./helpers";
// The built library: the child runtime is compiled JS started by path.
import * as lib from "../../dist/src/index.js";
const { spawn, Process, ProcessError, TargetError, activeChildren, currentProcess, parentProcess, cpuCount, setStartMethod } = lib;

const quiet = { output: "none" as const };
const forever = function forever() {
  console.log("ready");
  return new Promise(() => setInterval(() => {}, 1000));
};

afterAll(() => {
  for (const p of activeChildren()) p.kill();
});

describe("spawn and results", () => {
  it("runs a function in another process and returns its value by structured clone", async () => {
    const p = spawn(
      (n: number, m: Map<string, number>, s: Set<number>, d: Date, b: bigint, u: Uint8Array) => ({
        pid: process.pid,
        n: n + 1,
        m: new Map([...m].map(([k, v]) => [k, v * 2])),
        s: new Set([...s, 4]),
        year: d.getUTCFullYear(),
        b: b * 2n,
        u: u.map((x) => x + 1),
        e: new TypeError("carried"),
      }),
      [1, new Map([["a", 1]]), new Set([3]), new Date(Date.UTC(2020, 0, 1)), 21n, new Uint8Array([1, 2])],
      quiet,
    );
    const r = await p.result;
    expect(r.pid).toBe(p.pid);
    expect(r.pid).not.toBe(process.pid);
    expect(r.n).toBe(2);
    expect(r.m).toEqual(new Map([["a", 2]]));
    expect(r.s).toEqual(new Set([3, 4]));
    expect(r.year).toBe(2020);
    expect(r.b).toBe(42n);
    expect(Array.from(r.u)).toEqual([2, 3]);
    expect(r.e).toBeInstanceOf(Error);
    expect(r.e.message).toBe("carried");
    await p.join();
    expect(p.exitCode).toBe(0);
    expect(p.isAlive()).toBe(false);
  });

  it("mirrors Python: new Process({ target, args, name }).start(), join(), exitCode", async () => {
    const p = new Process({ target: (name: string) => `Run child process ${name} (${process.pid})...`, args: ["test"], name: "worker", ...quiet });
    expect(p.pid).toBeUndefined();
    expect(p.exitCode).toBeNull();
    expect(p.isAlive()).toBe(false);
    p.start();
    expect(p.isAlive()).toBe(true);
    expect(typeof p.pid).toBe("number");
    await p.join();
    expect(p.exitCode).toBe(0);
    expect(await p.result).toBe(`Run child process test (${p.pid})...`);
    expect(p.name).toBe("worker");
    expect(() => p.start()).toThrow(/already started.*create a new one/);
  });

  it("names processes as Python does and gives each child its identity", async () => {
    const p = spawn(
      (libPath: string) => {
        const f = require(libPath);
        return { me: f.currentProcess().name, parent: f.parentProcess().pid, parentName: f.parentProcess().name };
      },
      [LIB],
      quiet,
    );
    expect(p.name).toMatch(/^Process-\d+$/);
    const r = await p.result;
    expect(r).toEqual({ me: p.name, parent: process.pid, parentName: "MainProcess" });
    expect(currentProcess().name).toBe("MainProcess");
    expect(parentProcess()).toBeNull();
    expect(cpuCount()).toBeGreaterThan(0);
  });

  it("lets a child start its own child (named Process-N:1)", async () => {
    const p = spawn(
      async (libPath: string) => {
        const f = require(libPath);
        const q = f.spawn(() => process.ppid, [], { output: "none" });
        return { name: q.name, ppid: await q.result, me: process.pid };
      },
      [LIB],
      quiet,
    );
    const r = await p.result;
    expect(r.name).toMatch(/^Process-\d+:1$/);
    expect(r.ppid).toBe(r.me);
  });

  it("runs a module export, TypeScript or JavaScript, resolved from the current directory", async () => {
    const ts = spawn<string>({ module: "./test/process/fixtures/tasks.ts", export: "longTimeTask" }, ["t", 1], quiet);
    const js = spawn<number>({ module: "./test/process/fixtures/tasks.js", export: "add" }, [2, 3], quiet);
    const def = spawn<number>({ module: path.resolve(__dirname, "fixtures/tasks.ts") }, [], quiet);
    expect(await ts.result).toBe(`t done in ${ts.pid}`);
    expect(await js.result).toBe(5);
    expect(await def.result).toBe(def.pid);
  });

  it("fails before starting when the module is missing, and in the child when the export is", async () => {
    const before = activeChildren().length;
    expect(() => spawn({ module: "./nope/tasks.ts", export: "x" })).toThrow(/Module "\.\/nope\/tasks\.ts" not found.*relative to the current directory/);
    expect(activeChildren().length).toBe(before);
    const p = spawn({ module: "./test/process/fixtures/tasks.ts", export: "missing" }, [], quiet);
    await expect(p.result).rejects.toThrow(/no exported function "missing".*"longTimeTask", "square"/);
  });

  it("keeps stdout and stderr, attributable to the child", async () => {
    const p = spawn(() => {
      console.log(`out from ${process.pid}`);
      console.error("err line");
    }, [], quiet);
    await p.join();
    expect(p.stdout).toBe(`out from ${p.pid}\n`);
    expect(p.stderr).toBe("err line\n");
    expect(p.snapshot().tail).toEqual(
      expect.arrayContaining([
        { stream: "stdout", text: `out from ${p.pid}` },
        { stream: "stderr", text: "err line" },
      ]),
    );
  });

  it("lists running children in activeChildren()", async () => {
    const p = spawn(forever, [], quiet);
    expect(activeChildren()).toContain(p);
    p.kill();
    await p.join();
    expect(activeChildren()).not.toContain(p);
  });

  it("stops waiting after join(timeout) while the child still runs", async () => {
    const p = spawn(forever, [], quiet);
    await p.join(0.001);
    expect(p.isAlive()).toBe(true);
    expect(p.exitCode).toBeNull();
    p.kill();
    await p.join();
  });

  it("refuses Python's 'fork' start method, saying why and what is nearest", () => {
    expect(() => setStartMethod("fork" as never)).toThrow(/takes "spawn" or "warm", got "fork"; Node cannot fork\(\) a running process .*"warm" keeps one booted, nearest to "forkserver"/);
    expect(() => setStartMethod("threads" as never)).toThrow(/^setStartMethod\(\) takes "spawn" or "warm", got "threads"$/);
  });

  it("starts from a warm spare with the 'warm' start method", async () => {
    setStartMethod("warm");
    try {
      const results = [];
      for (let i = 0; i < 3; i++) {
        const p = spawn((x: number) => ({ x, pid: process.pid }), [i], quiet);
        results.push({ p, r: await p.result });
        await p.join();
        expect(p.exitCode).toBe(0);
      }
      expect(results.map(({ r }) => r.x)).toEqual([0, 1, 2]);
      expect(new Set(results.map(({ r }) => r.pid)).size).toBe(3);
      for (const { p, r } of results) expect(r.pid).toBe(p.pid);
    } finally {
      setStartMethod("spawn");
    }
  });
});

describe("faults", () => {
  it("gives the child's frames in the target as line:column of the target's own text, which its error carries", async () => {
    const oneLine = (x: number) => { throw new RangeError(`one ${x}`); };
    function third(n: number) {
      const m = n + 1;
      if (m > 0) throw new TypeError("third");
    }
    for (const target of [oneLine, third]) {
      const text = target.toString();
      const lines = text.split("\n");
      const line = lines.findIndex((l) => l.includes("throw new")) + 1;
      const column = lines[line - 1]!.indexOf("new ") + 1;
      const p = spawn(target, [1], quiet);
      const error = (await p.result.catch((e: unknown) => e)) as Error & { cause: lib.RemoteTraceback };
      await p.join();
      expect(error.cause.stack).toContain(`(<target>:${line}:${column})`);
      expect(error.cause.targetSource).toBe(text);
    }
  });

  it("gives the causes an error had in the child their stacks in the target too, and the target's text", async () => {
    function chained() {
      const inner = new TypeError("inner");
      throw new RangeError("outer", { cause: inner });
    }
    const text = chained.toString();
    const p = spawn(chained, [], quiet);
    type Traced = Error & { cause: lib.RemoteTraceback & { cause: Error & { cause: lib.RemoteTraceback } } };
    const error = (await p.result.catch((e: unknown) => e)) as Traced;
    await p.join();
    const inner = error.cause.cause;
    expect(inner).toBeInstanceOf(TypeError);
    expect(inner.message).toBe("inner");
    // The inner error's own stack, as the child saw it: at the target's line 2, no runtime frames.
    const column = text.split("\n")[1]!.indexOf("new ") + 1;
    expect(inner.cause.stack).toContain(`(<target>:2:${column})`);
    expect(inner.cause.stack).not.toMatch(/[\\/]dist[\\/]src[\\/]child[\\/]/);
    expect(inner.cause.pid).toBe(p.pid);
    expect(inner.cause.targetSource).toBe(text);
  });

  it("brings back a child's error: name, message, own properties, the child's stack as cause", async () => {
    const p = spawn(function failing(code: string) {
      class QuotaError extends Error {
        override name = "QuotaError";
      }
      const e = new QuotaError("over quota") as Error & { code?: string; limit?: number };
      e.code = code;
      e.limit = 3;
      throw e;
    }, ["E_QUOTA"], quiet);
    const error = (await p.result.catch((e: unknown) => e)) as Error & { code: string; limit: number; cause: Error & { pid: number } };
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("QuotaError");
    expect(error.message).toBe("over quota");
    expect(error.code).toBe("E_QUOTA");
    expect(error.limit).toBe(3);
    expect(error.cause.name).toBe("RemoteTraceback");
    expect(error.cause.pid).toBe(p.pid);
    expect(error.cause.stack).toContain("at failing");
    expect(error.cause.stack).toContain(`child process ${p.pid}`);
    await p.join();
    expect(p.exitCode).toBe(1);
    expect(p.stderr).toContain(`Process ${p.name}:`);
    expect(p.stderr).toContain("QuotaError: over quota");
  });

  it("keeps built-in error classes", async () => {
    const p = spawn(() => {
      throw new RangeError("too far");
    }, [], quiet);
    await expect(p.result).rejects.toBeInstanceOf(RangeError);
  });

  it("reports a child that exits with code 3", async () => {
    const p = spawn(() => {
      console.error("giving up");
      process.exit(3);
    }, [], quiet);
    await p.join();
    expect(p.exitCode).toBe(3);
    expect(p.signal).toBeNull();
    const error = await p.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessError);
    expect((error as Error).message).toMatch(new RegExp(`${p.name} \\(pid ${p.pid}\\) exited with code 3 before its target returned`));
    expect((error as Error).message).toContain("giving up");
  });

  it("reports SIGKILL as exitCode -9", async () => {
    const p = spawn(forever, [], quiet);
    p.kill();
    await p.join();
    expect(p.exitCode).toBe(-9);
    expect(p.signal).toBe("SIGKILL");
    await expect(p.result).rejects.toThrow(/killed by SIGKILL \(exitCode -9\) after kill\(\)/);
  });

  it("terminate() sends SIGTERM (exitCode -15), then SIGKILL when it is ignored", async () => {
    const p = spawn(forever, [], quiet);
    await waitFor(`${p.name} to print "ready"`, () => p.stdout.includes("ready"), 30_000);
    p.terminate();
    await p.join();
    expect(p.exitCode).toBe(-15);

    // The grace must outlast the child's turn to run its handler and print, on a loaded machine.
    const stubborn = spawn(() => {
      process.on("SIGTERM", () => console.log("ignored SIGTERM"));
      console.log("ready");
      return new Promise(() => setInterval(() => {}, 1000));
    }, [], { ...quiet, killGrace: 1 });
    await waitFor(`${stubborn.name} to print "ready"`, () => stubborn.stdout.includes("ready"), 30_000);
    stubborn.terminate();
    await stubborn.join();
    expect(stubborn.exitCode).toBe(-9);
    expect(stubborn.stdout).toContain("ignored SIGTERM");
  });

  it("refuses arguments that cannot be cloned, before starting, saying where they sit", () => {
    const before = activeChildren().length;
    expect(() => spawn((a: unknown, b: unknown) => [a, b], [1, { handler() {} }], quiet)).toThrow(
      /^args\[1\]\.handler is a function: it cannot be sent to Process-\d+; functions cannot be sent/,
    );
    expect(() => spawn((m: unknown) => m, [new Map([["k", Symbol("s")]])], quiet)).toThrow(/args\[0\]\.get\("k"\) is a symbol/);
    expect(() => spawn((x: unknown) => x, [[Promise.resolve(1)]], quiet)).toThrow(/args\[0\]\[0\] is a Promise/);
    expect(activeChildren().length).toBe(before);
  });

  it("reports a result that cannot be cloned", async () => {
    const p = spawn(() => ({ ok: 1, f: () => 1 }), [], quiet);
    await expect(p.result).rejects.toThrow(/result\.f is a function: it cannot be sent back to the parent/);
  });

  it("refuses a function that uses notebook variables or imports (as tslab compiles them)", () => {
    const before = activeChildren().length;
    // What tslab's transpiler produces for a cell function using an earlier cell's `K` and `import { join } from "path"`.
    const closure = (0, eval)("(function work(a) { return exports.K + (0, path_1.join)(a, 'x') + os_1.default.cpus().length; })");
    let error: unknown;
    try {
      spawn(closure, [1], quiet);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TargetError);
    const message = (error as Error).message;
    // `exports.K + ...`: read as a value, nothing else known (no kernel here): data, passed as an argument.
    expect(message).toContain("  - K: a variable from another notebook cell; pass it as an argument (add a parameter and call spawn(fn, [K])), or compute it inside the function\n");
    expect(message).toContain('join: imported by the notebook cell (compiled as path_1.join); require it inside the function: const { join } = require("path")');
    expect(message).toContain('const os = require("os")');
    expect(message).toContain('{ module: "./tasks.ts", export: "work" }');
    expect((error as { names: string[] }).names).toEqual(["K", "join", "os_1"]);
    const outer = (0, eval)("(() => helper(1))");
    expect(() => spawn(outer, [], quiet)).toThrow(
      /helper: a function defined outside the target; a function cannot be passed as an argument, so define it inside the target function, or in a module file that the target requires \(const \{ helper \} = require\("\.\/helpers"\)\)/,
    );
    expect(() => spawn(Math.max, [], quiet)).toThrow(/built-in or bound function/);
    expect(activeChildren().length).toBe(before);
  });

  it("says for each name what it is, as the source shows it, and only the fix that works for that", () => {
    const messageOf = (source: string): string => {
      try {
        spawn((0, eval)(source), [], quiet);
      } catch (e) {
        expect(e).toBeInstanceOf(TargetError);
        return (e as Error).message;
      }
      throw new Error("spawn() accepted the target");
    };
    const lines = (message: string) => message.split("\n").filter((l) => l.startsWith("  - "));
    // As tslab compiles a later cell's use of an earlier cell's function, class, object, namespace import.
    expect(lines(messageOf("(() => exports.helper(1) + new exports.Point().x + exports.cfg.size + exports.fs.existsSync('/'))"))).toEqual([
      '  - helper: a function from another notebook cell; a function cannot be passed as an argument, so define it inside the target function, or in a module file that the target requires (const { helper } = require("./helpers"))',
      '  - Point: a class from another notebook cell; a class cannot be passed as an argument, so define it inside the target function, or in a module file that the target requires (const { Point } = require("./helpers"))',
      // A member read: an object or a module, the source cannot tell which.
      "  - cfg: a variable from another notebook cell; pass it as an argument (add a parameter and call spawn(fn, [cfg])), or compute it inside the function; if it is a module (import * as cfg), require it inside the function instead",
      // Named as a built-in module: that module.
      '  - fs: the module "node:fs" from another notebook cell; require it inside the function: const fs = require("node:fs")',
    ]);
    // A script's (or the same cell's) `import * as fs from "node:fs"` stays a bare name.
    expect(lines(messageOf("(() => fs.readFileSync('/etc/hostname', 'utf8') + greeting)"))).toEqual([
      '  - fs: the module "node:fs"; require it inside the function: const fs = require("node:fs")',
      "  - greeting: defined outside the function; pass it as an argument (add a parameter and call spawn(fn, [greeting])), or compute it inside the function",
    ]);
  });

  it("accepts functions that only use globals, their own names and require()", async () => {
    const p = spawn(
      (0, eval)(`(async function fib(n, { depth } = { depth: 0 }) {
        const os = require("os");
        let [a, b] = [0, 1];
        for (let i = 0; i < n; i++) [a, b] = [b, a + b];
        try { JSON.parse("{"); } catch (e) { if (!(e instanceof SyntaxError)) throw e; }
        await new Promise((r) => setTimeout(r, 1));
        return { a, cpus: os.cpus().length > 0, depth, hasBuffer: typeof Buffer, maybe: typeof notDefinedAnywhere };
      })`),
      [10],
      quiet,
    );
    expect(await p.result).toEqual({ a: 55, cpus: true, depth: 0, hasBuffer: "function", maybe: "undefined" });
  });

  it("does not let a daemon process start children, as Python", async () => {
    const p = spawn(
      (libPath: string) => require(libPath).spawn(() => 1, [], { output: "none" }).result,
      [LIB],
      { ...quiet, daemon: true },
    );
    await expect(p.result).rejects.toThrow(/is a daemon process, and daemon processes cannot start children/);
  });

  it("names a working directory that does not exist, for either start method", () => {
    for (const startMethod of ["spawn", "warm"] as const) {
      const p = new Process({ target: () => 1, cwd: "/no/such/dir", name: "lost", startMethod, ...quiet });
      expect(() => p.start()).toThrow(/Cannot run lost: its working directory "\/no\/such\/dir" does not exist\.\s+Create it first, or pass an existing cwd/);
      expect(p.isAlive()).toBe(false);
    }
  });

  it("fails the task when a handle in its arguments or result cannot be revived on the other side", async () => {
    const protocol = path.resolve(__dirname, "../../dist/src/protocol/index.js");
    const { registerHandleKind, makeHandleable } = require(protocol) as typeof import("../../dist/src/protocol/index.js");
    registerHandleKind("test-parent-only", (state) => state);
    const parentOnly = {};
    makeHandleable(parentOnly, () => ({ kind: "test-parent-only", module: "", state: 1 }));
    const p = spawn((x: unknown) => x, [parentOnly], quiet);
    await expect(p.result).rejects.toThrow(/^A handle of kind "test-parent-only" arrived but no reviver is registered/);
    await p.join();
    expect(p.exitCode).toBe(1);

    const q = spawn(
      (protocolPath: string) => {
        const { registerHandleKind, makeHandleable } = require(protocolPath);
        registerHandleKind("test-child-only", (state: unknown) => state);
        const childOnly = {};
        makeHandleable(childOnly, () => ({ kind: "test-child-only", module: "", state: 2 }));
        return childOnly;
      },
      [protocol],
      quiet,
    );
    await expect(q.result).rejects.toThrow(/^A handle of kind "test-child-only" arrived but no reviver is registered/);
  });

  it("checks its arguments", () => {
    expect(() => spawn((x: unknown) => x, "nope" as never, quiet)).toThrow(/args must be an array/);
    expect(() => spawn(42 as never)).toThrow(/target must be a function or \{ module/);
    return expect(new Process({ target: () => 1 }).join()).rejects.toThrow(/was not started: call start\(\) before join\(\)/);
  });
});
