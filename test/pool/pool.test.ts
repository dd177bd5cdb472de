import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { isGone, waitFor } from "../support/processes";
// The built library: the child runtime is compiled JS started by path.
import * as lib from "../../dist/src/index.js";
const { Pool, AbortError, BrokenPoolError, TimeoutError, WorkerLostError, TargetError } = lib;

type PoolT = InstanceType<typeof Pool>;
const pools: PoolT[] = [];
function pool(processes?: number, options?: ConstructorParameters<typeof Pool>[1]): PoolT {
  const p = new Pool(processes, options);
  pools.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.terminate()));
});

/** What the pool writes to this process's stdout while `body` runs: task output, tagged by pid. */
function captureStdout(): { text(): string; stop(): void } {
  const original = process.stdout.write.bind(process.stdout);
  let text = "";
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    text += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
    return original(chunk as string, ...(rest as []));
  }) as typeof process.stdout.write;
  return { text: () => text, stop: () => void (process.stdout.write = original) };
}

/** Wait until a task printed `marker` and return the pid of the worker that printed it. */
async function printedBy(output: { text(): string }, marker: string): Promise<number> {
  await waitFor(`a task to print ${marker}`, () => output.text().includes(marker), 60_000);
  const line = output.text().split("\n").find((l) => l.includes(marker))!;
  return Number(/^\[(\d+)\]/.exec(line)![1]);
}

const forever = (marker: string) => {
  console.log(marker);
  return new Promise(() => setInterval(() => {}, 1000));
};

describe("Pool: results", () => {
  it("applies, maps, starmaps and imaps with results in order, on worker processes", async () => {
    const p = pool(2);
    expect(await p.apply((a: number, b: number) => a + b, [2, 3])).toBe(5);
    expect(await p.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
    expect(await p.starmap((a: number, b: number) => a * b, [[2, 3], [4, 5]])).toEqual([6, 20]);
    const out: number[] = [];
    for await (const r of p.imap((x: number) => x + 1, [1, 2, 3])) out.push(r);
    expect(out).toEqual([2, 3, 4]);
    const unordered: number[] = [];
    for await (const r of p.imapUnordered((x: number) => x + 1, new Set([1, 2, 3]))) unordered.push(r);
    expect(unordered.sort()).toEqual([2, 3, 4]);
    const pids = await p.map(() => process.pid, [1, 2, 3, 4], 1);
    expect(pids.every((pid) => pid !== process.pid)).toBe(true);
    const r = p.applyAsync(() => "x");
    await r.wait();
    expect(r.ready()).toBe(true);
    expect(r.successful()).toBe(true);
    expect(await r.get()).toBe("x");
  });

  it("map's result list is a packed array: passed on to another process, it serializes as densely as its input", async () => {
    const p = pool(2);
    const input = Array.from({ length: 1000 }, (_, i) => i);
    const out = await p.map((x: number) => x, input, 100);
    expect(out).toEqual(input);
    expect(v8.serialize(out).length).toBe(v8.serialize(input).length);
  });

  it("numbers cross as columns and come back as structured clone gives them; anything else crosses as it was", async () => {
    const p = pool(2);
    const same = (a: unknown[], b: unknown[]) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
    const numbers = [-0, 0, NaN, Infinity, -Infinity, 1.5, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, 2 ** 53 + 2, Number.MIN_VALUE, ...Array.from({ length: 60 }, (_, i) => i - 30)];
    // What the task sees, and what it returns, both exact (an Int32Array would make -0 into 0).
    expect(same(await p.map((x: number) => x, numbers), numbers)).toBe(true);
    expect(await p.map((x: number) => (Object.is(x, -0) ? "-0" : typeof x), numbers.slice(0, 40))).toEqual(["-0", ...Array(39).fill("number")]);
    expect(same(await Promise.all(numbers.map((x) => p.applyAsync((y: number) => y, [x]).get())), numbers)).toBe(true);
    // A hole, a boxed number, a bigint, a string among numbers: the whole list goes as it was.
    const ints = Array.from({ length: 50 }, (_, i) => i);
    const sparse: unknown[] = [...ints];
    delete sparse[7];
    const describe = (x: unknown) => (x === undefined ? "undefined" : typeof x === "object" ? `object ${String(x)}` : `${typeof x} ${String(x)}`);
    for (const odd of [undefined, Object(3), 5n, "6"]) {
      const items = [...ints, odd];
      expect(await p.map(describe, items)).toEqual(structuredClone(items).map(describe));
    }
    expect(await p.map(describe, sparse)).toEqual(ints.map((x) => (x === 7 ? "undefined" : `number ${x}`)));
    // Results that are not all numbers come back as they are.
    expect(await p.map((x: number) => (x === 49 ? undefined : x % 10 ? x : String(x)), ints)).toEqual(ints.map((x) => (x === 49 ? undefined : x % 10 ? x : String(x))));
    // Argument lists of another length, or not plain arrays, are not taken as one number each.
    expect(await Promise.all(ints.map((x) => p.applyAsync((...a: number[]) => a.length, x === 3 ? [x, x] : x === 4 ? [] : [x]).get()))).toEqual(ints.map((x) => (x === 3 ? 2 : x === 4 ? 0 : 1)));
    const results = ints.map((x) => p.applyAsync((y: number) => y, x === 9 ? new Proxy([9], {}) : [x]).get().then((v) => v, (e: Error) => e));
    const settled = await Promise.all(results);
    expect(settled[9]).toBeInstanceOf(TypeError);
    expect((settled[9] as Error).message).toMatch(/args is a Proxy: it cannot be sent to a pool worker/);
    expect(settled.filter((_, i) => i !== 9)).toEqual(ints.filter((x) => x !== 9));
  });

  it("runs module targets and calls callback / errorCallback", async () => {
    const p = pool(1);
    const tasks = { module: require.resolve("../process/fixtures/tasks.js"), export: "add" };
    expect(await p.apply(tasks, [2, 40])).toBe(42);
    const got: unknown[] = [];
    await p.applyAsync((x: number) => x * 3, [3], { callback: (v) => got.push(v) }).get();
    await p.applyAsync(() => { throw new Error("no"); }, [], { errorCallback: (e) => got.push((e as Error).message) }).wait();
    expect(got).toEqual([9, "no"]);
  });

  it("a throwing task rejects with its own class and properties; the pool goes on", async () => {
    const p = pool(1);
    const error = await p
      .apply(() => {
        throw Object.assign(new RangeError("out of range"), { code: "E_RANGE", detail: { n: 3 } });
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect(error).toMatchObject({ message: "out of range", code: "E_RANGE", detail: { n: 3 } });
    expect(String((error as Error).cause)).toMatch(/child process \d+/);
    expect(await p.apply(() => 1)).toBe(1);
    // In a map, each item keeps its own outcome; the map fails with the first error.
    await expect(p.map((x: number) => { if (x === 2) throw new TypeError(`bad ${x}`); return x; }, [1, 2, 3])).rejects.toThrow(TypeError);
  });

  it("a map-like call's failed task says which by `index`, its item's index in the input; an error's own index stays", async () => {
    const p = pool(2);
    const throwAt = (x: number) => {
      if (x === 5) throw new RangeError(`bad ${x}`);
      return x;
    };
    const items = Array.from({ length: 8 }, (_, i) => i);
    // Chunks of 3: the failing task is the third of the second chunk, named by its place in the input.
    await expect(p.map(throwAt, items, 3)).rejects.toMatchObject({ name: "RangeError", message: "bad 5", index: 5 });
    const throwAtSum = (x: number, y: number) => {
      if (x + y === 5) throw new RangeError(`bad ${x + y}`);
      return x + y;
    };
    await expect(p.starmap(throwAtSum, [[0, 1], [2, 3], [4, 5]])).rejects.toMatchObject({ message: "bad 5", index: 1 });
    const consume = async (iterator: AsyncIterable<number>) => {
      for await (const value of iterator) void value;
    };
    await expect(consume(p.imap(throwAt, items, 2))).rejects.toMatchObject({ message: "bad 5", index: 5 });
    await expect(consume(p.imapUnordered(throwAt, items))).rejects.toMatchObject({ message: "bad 5", index: 5 });
    // A property the task gave its error is the task's, not overwritten.
    const own = () => {
      throw Object.assign(new Error("own"), { index: "mine" });
    };
    await expect(p.map(own, [1])).rejects.toMatchObject({ index: "mine" });
    // An apply is not a map: its error is the task's as it was.
    expect(Object.hasOwn(await p.apply(() => { throw new Error("apply"); }).catch((e: Error) => e), "index")).toBe(false);
  });

  it("a task whose arguments cannot be cloned fails with an error naming where; the others run", async () => {
    const p = pool(1);
    const [bad, good] = [p.applyAsync((x: unknown) => x, [{ handler: () => 1 }]), p.applyAsync((x: number) => x, [2])];
    await expect(bad.get()).rejects.toThrow(/args\[0\]\.handler/);
    expect(await good.get()).toBe(2);
  });

  it("a map-like call's item that cannot be cloned is named by its place in the input and its call; an apply's by its arguments", async () => {
    const p = pool(1);
    const fn = (x: unknown) => x;
    const tail = ": it cannot be sent to a pool worker; functions cannot be sent to another process; pass data instead, or define the function inside the target";
    await expect(p.map(fn, [1, () => 2])).rejects.toMatchObject({ message: `iterable[1] (task 1 of ${p.name}.map()) is a function${tail}`, index: 1 });
    // In a later chunk, and deep in an item.
    await expect(p.map(fn, [1, 2, 3, { on: { done() {} } }], 2)).rejects.toMatchObject({
      message: `iterable[3].on.done (task 3 of ${p.name}.map()) is a function${tail}`,
      index: 3,
    });
    await expect(p.starmap((a: unknown, b: unknown) => [a, b], [[1, 2], [3, () => 4]])).rejects.toMatchObject({
      message: `iterable[1][1] (task 1 of ${p.name}.starmap()) is a function${tail}`,
      index: 1,
    });
    const consume = async (iterator: AsyncIterable<unknown>) => {
      for await (const value of iterator) void value;
    };
    await expect(consume(p.imap(fn, [1, Symbol("s")]))).rejects.toThrow(new RegExp(`^iterable\\[1\\] \\(task 1 of ${p.name}\\.imap\\(\\)\\) is a symbol`));
    await expect(consume(p.imapUnordered(fn, [() => 1]))).rejects.toThrow(`iterable[0] (task 0 of ${p.name}.imapUnordered()) is a function`);
    // applyAsync keeps its own wording: the argument list it was given.
    await expect(p.apply((a: unknown, b: unknown) => [a, b], [1, () => 2])).rejects.toThrow(`args[1] is a function${tail}`);
    expect(await p.map(fn, [1, 2])).toEqual([1, 2]);
  });

  it("checks targets and options before anything starts", () => {
    const p = pool(1);
    const outer = 5;
    expect(() => p.applyAsync(() => outer)).toThrow(TargetError);
    expect(() => new Pool(0)).toThrow(/processes must be a whole number >= 1/);
    // Python's Pool(processes=1, ...) habit: the call as it is meant, from the keys and values given.
    const meant = (call: string) =>
      `new Pool(): the process count is the first argument and the options the second, not one object as Python's keyword arguments: did you mean ${call}?`;
    expect(() => new Pool({ processes: 1, taskTimeout: 0.2 } as never)).toThrow(meant("new Pool(1, { taskTimeout: 0.2 })"));
    expect(() => new Pool({ processes: 2 } as never)).toThrow(meant("new Pool(2)"));
    const setup = () => {};
    expect(() => new Pool({ processes: 3, initializer: setup, initargs: ["a", 1], env: { ...process.env } } as never)).toThrow(
      meant('new Pool(3, { initializer: setup, initargs: ["a", 1], env: ... })'),
    );
    // Options without a count are not that habit: the count's own message.
    expect(() => new Pool({ taskTimeout: 1 } as never)).toThrow(/processes must be a whole number >= 1 .* got an object with keys \[taskTimeout\]/);
    expect(() => new Pool(2, { taskTimeout: -1 })).toThrow(/option taskTimeout must be a number of seconds/);
    expect(() => new Pool(2, { maxTasksPerChild: 1.5 })).toThrow(/option maxTasksPerChild/);
    expect(() => new Pool(2, { nope: 1 } as never)).toThrow(/unknown option nope/);
    expect(() => p.map((x: number) => x, [1], 0)).toThrow(/option chunksize must be a whole number/);
    expect(() => p.applyAsync((x: number) => x, 3 as never)).toThrow(/args must be an array/);
    // Named by the call that was made: map(), not the mapAsync() under it.
    expect(() => p.map((x: number) => x, 3 as never)).toThrow(/^map\(\): iterable must be/);
    expect(() => p.starmap((x: number) => x, 3 as never)).toThrow(/^starmap\(\): iterable must be/);
    expect(() => p.mapAsync((x: number) => x, 3 as never)).toThrow(/^mapAsync\(\): iterable must be/);
    expect(() => new Pool(1, { cwd: "/no/such/folder" })).toThrow(/\/no\/such\/folder/);
  });

  it("refuses a task using a notebook variable with a fix that works for a pool (apply or starmap, not spawn)", () => {
    const p = pool(1);
    // What tslab compiles `(n) => n * limit` to, where `limit` is an earlier cell's variable.
    const closure = (0, eval)("((n) => n * exports.limit)");
    let message = "";
    try {
      p.map(closure, [1, 2]);
    } catch (e) {
      expect(e).toBeInstanceOf(TargetError);
      message = (e as Error).message;
    }
    expect(message).toContain("  - limit: a variable from another notebook cell; pass it as an argument (add a parameter and call pool.apply(fn, [limit])");
    expect(message).toContain("pool.apply(fn, [limit])");
    expect(message).toContain("pool.starmap(fn, items.map((item) => [item, limit]))");
    expect(message).not.toContain("spawn(");
  });

  it("a long batch is answered while the next one, sent with it, still runs", async () => {
    const p = pool(1);
    // Tiny batches first: the worker is then sent several batches at once, in one write.
    await p.map((x: number) => x, Array.from({ length: 100 }, (_, i) => i));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forklab-pool-answered-"));
    const flag = path.join(dir, "first");
    const task = ([file, k]: [string, number]) => {
      const fs = require("node:fs");
      if (k === 0) {
        // Long enough to be answered at once (a worker holds answers up to 1 ms for company).
        const until = performance.now() + 5;
        while (performance.now() < until);
        return "first";
      }
      // Synchronous: the worker cannot send anything while this runs; only the parent's flag, set
      // when it has the first answer, ends it (the bound only keeps a failing test from hanging).
      const until = Date.now() + 15_000;
      while (!fs.existsSync(file)) if (Date.now() > until) return "the first answer waited for this batch";
      return "second";
    };
    const results: string[] = [];
    try {
      for await (const value of p.imap(task, [[flag, 0], [flag, 1]] as [string, number][], 1)) {
        results.push(value);
        if (value === "first") fs.writeFileSync(flag, "");
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(results).toEqual(["first", "second"]);
  }, 60_000);

  it("a worker that ran tiny tasks does not take a new function's batches into its pipe ahead of the others", async () => {
    const p = pool(2);
    // Tiny tasks first: each worker learns that a batch of *that* function takes microseconds.
    await p.map((x: number) => x, Array.from({ length: 1000 }, (_, i) => i));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forklab-pool-estimate-"));
    const started = path.join(dir, "third started");
    const task = ([file, k]: [string, number]) => {
      const fs = require("node:fs");
      if (k === 2) {
        fs.writeFileSync(file, "");
        return "third";
      }
      if (k === 1) return "second";
      // The first runs until the third has started: on another worker, unless the third was
      // queued behind it on this one (the bound only keeps a failing test from hanging).
      const until = Date.now() + 15_000;
      while (!fs.existsSync(file)) if (Date.now() > until) return "the third waited behind the first";
      return "first";
    };
    try {
      expect(await p.map(task, [0, 1, 2].map((k) => [started, k] as [string, number]), 1)).toEqual(["first", "second", "third"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("close() makes new submissions fail with a clear error; join() waits for the tasks", async () => {
    const p = pool(2);
    const r = p.applyAsync(async () => 7);
    await expect(p.join()).rejects.toThrow(/call pool.close\(\)/);
    p.close();
    expect(() => p.applyAsync(() => 1)).toThrow(/Pool not running: .* was closed/);
    await p.join();
    expect(await r.get()).toBe(7);
  });
});

describe("Pool: workers that die never hang a task", () => {
  it("a worker killed from outside mid-task rejects exactly that task with WorkerLostError; it is replaced", async () => {
    const p = pool(2);
    const output = captureStdout();
    try {
      const held = p.applyAsync(forever, ["held-task"]);
      const other = p.applyAsync(async () => "other");
      const pid = await printedBy(output, "held-task");
      expect(await other.get()).toBe("other");
      process.kill(pid, "SIGKILL");
      const error = await held.get().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkerLostError);
      expect(error).toMatchObject({ pid, signal: "SIGKILL", taskIndex: 0 });
      expect((error as Error).message).toMatch(new RegExp(`Worker pid ${pid} was killed by SIGKILL while running task 0`));
      const pids = await p.map(() => process.pid, [1, 2, 3, 4], 1);
      expect(pids).not.toContain(pid);
    } finally {
      output.stop();
    }
  });

  it("a task that kills its worker at once, on a fresh pool, rejects with WorkerLostError (it is not run again)", async () => {
    const p = pool(1);
    const error = await p.apply(() => process.kill(process.pid, "SIGKILL")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerLostError);
    expect(error).toMatchObject({ signal: "SIGKILL", taskIndex: 0 });
    expect(await p.apply(() => "still usable")).toBe("still usable");
  });

  it("a worker calling process.exit mid-map rejects the map with its exit code, task index and stderr", async () => {
    const p = pool(2);
    const error = await p
      .map((x: number) => {
        if (x === 3) {
          process.stderr.write("about to leave\n");
          process.exit(7);
        }
        return x;
      }, [0, 1, 2, 3, 4, 5], 1)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerLostError);
    expect(error).toMatchObject({ exitCode: 7, signal: null, taskIndex: 3 });
    expect((error as { stderr: string }).stderr).toContain("about to leave");
    expect(await p.map((x: number) => x + 1, [1, 2])).toEqual([2, 3]);
  });

  it("a worker that writes garbage to fd 3 fails the tasks it held (a whole chunk) with a clear error, and is replaced", async () => {
    const p = pool(1);
    // A record whose bytes do not deserialize, written behind the runtime's back.
    const garbage = () => {
      require("node:fs").writeSync(3, Buffer.from([4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]));
      return process.pid;
    };
    const corrupt = p.applyAsync(garbage);
    const after = p.applyAsync(() => process.pid);
    const error = await corrupt.get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerLostError);
    expect(error).toMatchObject({ taskIndex: 0, signal: "SIGKILL" });
    expect((error as Error).message).toMatch(/held task 0 when it sent bytes the pool could not read/);
    expect((error as Error).message).toMatch(/could not be deserialized.*fd 3 belongs to forklab/is);
    const pid = (error as { pid: number }).pid;
    // The task that was not on that worker yet runs on its replacement.
    expect(await after.get()).not.toBe(pid);
    await waitFor(`the worker ${pid} that sent garbage to exit`, () => isGone(pid), 30_000);
    // In a chunk, the tasks before the garbage ran, but their answers came after it: all fail.
    const chunk = (x: number) => {
      if (x === 1) require("node:fs").writeSync(3, Buffer.from([4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]));
      return x;
    };
    const mapped = await p.map(chunk, [0, 1, 2], 3).catch((e: unknown) => e);
    expect(mapped).toBeInstanceOf(WorkerLostError);
    expect(mapped).toMatchObject({ taskIndex: 0 });
    expect(await p.map((x: number) => x * 2, [1, 2, 3], 1)).toEqual([2, 4, 6]);
  });

  it("taskTimeout ends a task that runs too long with TimeoutError and replaces its worker", async () => {
    const p = pool(1, { taskTimeout: 0.3 });
    const before = await p.apply(() => process.pid);
    const error = await p.apply(() => new Promise(() => setInterval(() => {}, 1000))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toMatch(/ran longer than taskTimeout \(0.3 s\)/);
    const after = await p.apply(() => process.pid);
    expect(after).not.toBe(before);
    await waitFor(`the timed-out worker ${before} to exit`, () => isGone(before), 30_000);
  });

  it("get(timeout) rejects with TimeoutError while the task goes on", async () => {
    const p = pool(1);
    const flag = path.join(os.tmpdir(), `forklab-pool-go-${process.pid}`);
    const r = p.applyAsync(async (file: string) => {
      const fs = require("node:fs");
      while (!fs.existsSync(file)) await new Promise((s) => setTimeout(s, 5));
      return "finished";
    }, [flag]);
    await expect(r.get(0.05)).rejects.toBeInstanceOf(TimeoutError);
    expect(r.ready()).toBe(false);
    fs.writeFileSync(flag, "");
    try {
      expect(await r.get()).toBe("finished");
    } finally {
      fs.rmSync(flag);
    }
  });

  it("a signal aborts a waiting task without touching a worker, and a running one by replacing its worker", async () => {
    const p = pool(1);
    const output = captureStdout();
    try {
      const running = new AbortController();
      const waiting = new AbortController();
      const a = p.applyAsync(forever, ["aborted-task"], { signal: running.signal });
      const b = p.applyAsync(() => "never", [], { signal: waiting.signal });
      const pid = await printedBy(output, "aborted-task");
      waiting.abort();
      await expect(b.get()).rejects.toBeInstanceOf(AbortError);
      expect(isGone(pid)).toBe(false);
      running.abort(new Error("enough"));
      const error = await a.get().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AbortError);
      expect(((error as Error).cause as Error).message).toBe("enough");
      await waitFor(`worker ${pid} to end`, () => isGone(pid), 30_000);
      expect(await p.apply(() => "after")).toBe("after");
    } finally {
      output.stop();
    }
  });

  it("terminate() during map rejects it at once and leaves no worker behind", async () => {
    const p = new Pool(2);
    const output = captureStdout();
    try {
      const mapped = p.map(forever, ["t0", "t1", "t2"], 1);
      const pids = [await printedBy(output, "t0"), await printedBy(output, "t1")];
      const rejected = expect(mapped).rejects.toThrow(/terminated/);
      await p.terminate();
      await rejected;
      for (const pid of pids) expect(isGone(pid)).toBe(true);
      expect(() => p.applyAsync(() => 1)).toThrow(/Pool not running/);
    } finally {
      output.stop();
    }
  });
});

describe("Pool: in a script", () => {
  it("keeps the script alive while it awaits join() or terminate(), and lets an idle pool's script end", () => {
    const lib = require.resolve("../../dist/src/index.js");
    const script = `const { Pool } = require(${JSON.stringify(lib)});
      (async () => {
        const a = new Pool(1); await a.apply(() => 1); await a.terminate(); console.log("terminated");
        const b = new Pool(1); await b.apply(() => 1); b.close(); await b.join(); console.log("joined");
        const c = new Pool(1); console.log(await c.apply(() => "idle pool left open"));
      })();`;
    const run = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 60_000 });
    expect(run.stdout).toBe("terminated\njoined\nidle pool left open\n");
    expect(run.status).toBe(0);
  });
});

describe("Pool: workers", () => {
  it("maxTasksPerChild replaces a worker after that many tasks", async () => {
    const p = pool(1, { maxTasksPerChild: 2 });
    const pids = await p.map(() => process.pid, [1, 2, 3, 4, 5, 6], 1);
    expect(new Set(pids).size).toBe(3);
    expect(pids[0]).toBe(pids[1]);
    expect(pids[2]).toBe(pids[3]);
    expect(pids[1]).not.toBe(pids[2]);
    await waitFor("the recycled workers to exit", () => isGone(pids[0]!) && isGone(pids[2]!), 30_000);
  });

  it("initializer(...initargs) runs once in each worker before its first task", async () => {
    const p = pool(2, {
      initializer: (value: number) => {
        (globalThis as { seed?: number; runs?: number }).seed = value;
        (globalThis as { runs?: number }).runs = ((globalThis as { runs?: number }).runs ?? 0) + 1;
      },
      initargs: [42],
    });
    const seen = await p.map(() => [(globalThis as { seed?: number }).seed, (globalThis as { runs?: number }).runs], [1, 2, 3, 4, 5, 6], 1);
    expect(seen.every(([seed, runs]) => seed === 42 && runs === 1)).toBe(true);
  });

  it("an initializer that throws breaks the pool with BrokenPoolError instead of respawning forever", async () => {
    const p = pool(2, { initializer: () => { throw new Error("no database"); } });
    const error = await p.apply(() => 1).catch((e: unknown) => e);
    expect(String(error)).toMatch(/initializer of Pool-\d+ threw .*no database/);
    expect(() => p.applyAsync(() => 1)).toThrow(BrokenPoolError);
  });

  it("runs at most `processes` tasks at once, and that many in parallel", async () => {
    const p = pool(3);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forklab-pool-barrier-"));
    try {
      // The first three tasks wait for each other: the map ends only if three run at the same time.
      const spans = await p.starmap(async (i: number, barrier: string) => {
        const fs = require("node:fs");
        const start = performance.timeOrigin + performance.now();
        if (i < 3) {
          fs.writeFileSync(`${barrier}/${i}`, "");
          while (fs.readdirSync(barrier).length < 3) await new Promise((r) => setTimeout(r, 5));
        } else await new Promise((r) => setTimeout(r, 5));
        return [start, performance.timeOrigin + performance.now(), process.pid];
      }, Array.from({ length: 12 }, (_, i) => [i, dir]), 1);
      const events = spans.flatMap(([s, e]) => [[s!, 1], [e!, -1]]).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
      let running = 0;
      let most = 0;
      for (const [, delta] of events) most = Math.max(most, (running += delta!));
      expect(most).toBe(3);
      // One task at a time per worker: a worker's spans never overlap.
      for (const pid of new Set(spans.map((s) => s[2]))) {
        const mine = spans.filter((s) => s[2] === pid).sort((a, b) => a[0]! - b[0]!);
        for (let i = 1; i < mine.length; i++) expect(mine[i]![0]!).toBeGreaterThanOrEqual(mine[i - 1]![1]!);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Pool: many tasks, lazy input", () => {
  it("100k tiny tasks complete exactly once each (applyAsync, map, imapUnordered)", async () => {
    const p = pool(2);
    const n = 100_000;
    const results = Array.from({ length: 20_000 }, (_, i) => p.applyAsync((x: number) => x * 2, [i]));
    const applied = await Promise.all(results.map((r) => r.get()));
    expect(applied.every((v, i) => v === i * 2)).toBe(true);
    const mapped = await p.map((x: number) => x + 1, Array.from({ length: n }, (_, i) => i));
    expect(mapped.length).toBe(n);
    expect(mapped.every((v, i) => v === i + 1)).toBe(true);
    const seen = new Uint8Array(n);
    for await (const i of p.imapUnordered((x: number) => x, Array.from({ length: n }, (_, i) => i), 50)) seen[i as number]!++;
    expect(seen.every((count) => count === 1)).toBe(true);
    const stats = p.stats();
    expect(stats.done).toBe(20_000 + 2 * n);
    expect(stats.failed).toBe(0);
    // 22 008 batches (20k applies, 8 map chunks, 2 000 imap chunks): the 20 000 finished last are
    // remembered and listed in submission order; 2 008 applies, among the first to finish, are forgotten.
    expect(stats.forgottenChunks).toBe(2008);
    expect(stats.tasks.length).toBe(20_000 - 2008 + 2 * n);
    expect(stats.tasks.every((t) => t.outcome === "ok")).toBe(true);
    expect(stats.tasks.every((t, i) => i === 0 || t.batch >= stats.tasks[i - 1]!.batch)).toBe(true);
  });

  it("applyAsync calls in a row stay tasks of their own: submission order, one row each, one failure each, and across awaits", async () => {
    const p = pool(1);
    // One worker runs tasks in the order given out: a counter in it shows that order.
    const step = (label: string) => {
      const g = globalThis as { ran?: number };
      g.ran = (g.ran ?? 0) + 1;
      return `${label}${g.ran}`;
    };
    // Another function (its own source), counting on the same counter.
    const other = (text: string) => {
      const g = globalThis as { ran?: number };
      g.ran = (g.ran ?? 0) + 1;
      return `${text}${g.ran}`;
    };
    const first = p.applyAsync((x: number) => x, [0]);
    await first.get();
    const labels = ["f", "f", "f", "g", "f", "f", "g", "g", "f"];
    const results = labels.map((label, i) =>
      label === "f" ? p.applyAsync(step, [`f${i}:`]) : p.applyAsync(other, [`g${i}:`]),
    );
    expect(await Promise.all(results.map((r) => r.get()))).toEqual(labels.map((label, i) => `${label}${i}:${i + 1}`));
    // A task that throws in the middle fails alone.
    const mixed = Array.from({ length: 50 }, (_, i) => p.applyAsync((x: number) => {
      if (x === 20) throw new RangeError("twenty");
      return x;
    }, [i]));
    const settled = await Promise.all(mixed.map((r) => r.get().catch((e: Error) => e)));
    expect(settled[20]).toBeInstanceOf(RangeError);
    expect(settled.filter((_, i) => i !== 20)).toEqual(Array.from({ length: 49 }, (_, i) => (i < 20 ? i : i + 1)));
    // Calls separated by awaits in one tick: some join a run the workers already took in full.
    const spaced: Promise<number>[] = [];
    for (let i = 0; i < 300; i++) {
      spaced.push(p.applyAsync((x: number) => x * 3, [i]).get());
      if (i % 7 === 0) await null;
    }
    expect(await Promise.all(spaced)).toEqual(Array.from({ length: 300 }, (_, i) => i * 3));
    const stats = p.stats();
    const applies = stats.tasks.filter((t) => t.batch > 0).slice(-300);
    expect(applies.map((t) => t.index)).toEqual(Array.from({ length: 300 }, (_, i) => 60 + i));
    expect(new Set(applies.map((t) => t.batch)).size).toBe(300);
    expect(applies.every((t) => t.waitMs !== undefined && t.waitMs >= 0)).toBe(true);
    expect(stats.failed).toBe(1);
  });

  it("a pool keeps no result of a finished run of applies alive once its caller lets go of it", async () => {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const p = pool(2);
    let results: InstanceType<typeof lib.AsyncResult>[] | undefined = Array.from({ length: 100 }, (_, i) => p.applyAsync((x: number) => x, [i]));
    await Promise.all(results.map((r) => r.get()));
    const watched = new WeakRef(results[50]!);
    results = undefined;
    // The WeakRef holds its target until the current job ends: collect in a later turn.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(watched.deref()).toBeUndefined();
  });

  it("terminate() during a run of applies rejects every result not finished, and none stays pending", async () => {
    const p = pool(2);
    await p.apply((x: number) => x, [0]);
    const results = Array.from({ length: 2000 }, (_, i) => p.applyAsync((x: number) => x, [i]));
    const settled = Promise.all(results.map((r) => r.get().then(() => "ok", (e: unknown) => (e instanceof AbortError ? "aborted" : String(e)))));
    await p.terminate();
    const outcomes = await settled;
    expect(outcomes.every((o) => o === "ok" || o === "aborted")).toBe(true);
    expect(outcomes).toContain("aborted");
    expect(results.every((r) => r.ready())).toBe(true);
  });

  it("imap pulls a million-item async input only as workers free up", async () => {
    const p = pool(2);
    const total = 1_000_000;
    let pulled = 0;
    let consumed = 0;
    let mostAhead = 0;
    async function* numbers() {
      for (let i = 0; i < total; i++) {
        pulled++;
        mostAhead = Math.max(mostAhead, pulled - consumed);
        yield i;
      }
    }
    let sum = 0;
    for await (const v of p.imap((x: number) => x % 7, numbers(), 2000)) {
      consumed++;
      sum += v as number;
    }
    expect(consumed).toBe(total);
    let expected = 0;
    for (let i = 0; i < total; i++) expected += i % 7;
    expect(sum).toBe(expected);
    // Never more than a few chunks per worker ahead of the consumer, out of a million.
    expect(mostAhead).toBeLessThanOrEqual(2 * (2 * 2000 + 1024) + 2000);
  });
});
