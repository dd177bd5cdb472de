/**
 * A pool on tiny tasks (x => 2 * x) and on CPU-bound ones, side by side in one run: forklab's Pool(2)
 * against Python's multiprocessing.Pool(2) and ProcessPoolExecutor(2) (bench/pool.py), npm
 * workerpool in process mode and tinypool's child_process runtime. Medians over repeats.
 *
 * - applyAsync: 20k tasks, one call each, then all results (Python's apply_async, executor.submit);
 * - map: 100k items, the default chunksize (Python's; ProcessPoolExecutor's default is 1);
 * - imap: 20k items, chunksize 1;
 * - speedup: 40 tasks of about 50 ms on 2 workers against 1.
 *
 * Rounds alternate: Python, forklab, workerpool, tinypool, then again (see measure()).
 *
 * Run: npx tsc -p . && node dist/bench/pool.js [repeats]
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { Pool } from "../src/parent/pool";
import { median, runAlone, type Row } from "./stats";

const ROOT = path.resolve(__dirname, "..", "..");
const double = (x: number) => 2 * x;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function busy(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x += Math.sqrt(i);
  return x;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Loop count for about `ms` of busy() on this machine, now. */
function calibrate(ms = 50): number {
  for (let n = 1_000_000; ; n *= 2) {
    const t0 = performance.now();
    busy(n);
    const took = performance.now() - t0;
    if (took > 20) return Math.round((n * ms) / took);
  }
}

type Runs = Record<string, number[]>;

/** Append each list of `more` to the list of the same key in `into`. */
function gather(into: Runs, more: Runs): void {
  for (const [key, values] of Object.entries(more)) (into[key] ??= []).push(...values);
}

/** One round of each tiny-task figure on a warm forklab Pool(2). */
async function forklabTiny(pool: Pool): Promise<Runs> {
  return {
    apply: [await timed(() => Promise.all(range(20_000).map((i) => pool.applyAsync(double, [i]).get())))],
    map: [await timed(() => pool.map(double, range(100_000)))],
    imap: [
      await timed(async () => {
        for await (const _ of pool.imap(double, range(20_000), 1)) void _;
      }),
    ],
  };
}

/** One round of 40 CPU-bound tasks on each of two warm forklab pools, of 1 and 2 workers. */
async function forklabCpu(one: Pool, two: Pool, n: number): Promise<Runs> {
  return { cpu1: [await timed(() => one.map(busy, Array(40).fill(n), 1))], cpu2: [await timed(() => two.map(busy, Array(40).fill(n), 1))] };
}

/** npm workerpool with process workers, warm; `round()` is one applyAsync-shaped round. */
async function workerpoolPool(): Promise<{ round: () => Promise<number>; end: () => Promise<unknown> }> {
  const workerpool = require("workerpool") as typeof import("workerpool");
  const pool = workerpool.pool(path.join(ROOT, "bench", "pool-workers", "workerpool-double.js"), { workerType: "process", minWorkers: 2, maxWorkers: 2 });
  await Promise.all(range(100).map((i) => pool.exec("double", [i])));
  return { round: () => timed(() => Promise.all(range(20_000).map((i) => pool.exec("double", [i])))), end: async () => void (await pool.terminate()) };
}

/** tinypool's child_process runtime, warm; `round()` as for workerpool. */
async function tinypoolPool(): Promise<{ round: () => Promise<number>; end: () => Promise<unknown> }> {
  const { Tinypool } = require("tinypool") as typeof import("tinypool");
  const pool = new Tinypool({ filename: path.join(ROOT, "bench", "pool-workers", "tinypool-double.js"), runtime: "child_process", minThreads: 2, maxThreads: 2 });
  await Promise.all(range(100).map((i) => pool.run(i)));
  return { round: () => timed(() => Promise.all(range(20_000).map((i) => pool.run(i)))), end: () => pool.destroy() };
}

/** bench/pool.py for `repeats` rounds of the given parts (its pools are started and warmed outside the timing). */
function python(repeats: number, ...parts: string[]): Runs {
  const run = spawnSync("python3", [path.join(ROOT, "bench", "pool.py"), String(repeats), ...parts], { encoding: "utf8", maxBuffer: 1 << 20 });
  if (run.status !== 0) throw new Error(`bench/pool.py failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as Runs;
}

/**
 * Every figure in rounds: one round of Python, forklab, workerpool and tinypool after another, so
 * that a loaded moment of the machine hits all of them alike. Pools start before the timing (no
 * figure holds a process start).
 */
async function measure(repeats: number): Promise<{ py: Runs; fl: Runs; wp: number[]; tp: number[] }> {
  const py: Runs = {};
  const fl: Runs = {};
  const wp: number[] = [];
  const tp: number[] = [];
  const pool = new Pool(2);
  await pool.map(double, range(1000));
  const others = [await workerpoolPool(), await tinypoolPool()] as const;
  try {
    for (let r = 0; r < repeats; r++) {
      gather(py, python(1, "tiny"));
      gather(fl, await forklabTiny(pool));
      wp.push(await others[0].round());
      tp.push(await others[1].round());
    }
  } finally {
    await pool.terminate();
    for (const other of others) await other.end();
  }
  gather(py, python(1, "executor_map"));
  const n = calibrate();
  const one = new Pool(1);
  const two = new Pool(2);
  try {
    await Promise.all([one.map(double, range(10)), two.map(double, range(10))]);
    for (let r = 0; r < Math.max(1, repeats >> 1); r++) {
      gather(py, python(1, "cpu"));
      gather(fl, await forklabCpu(one, two, n));
    }
  } finally {
    await Promise.all([one.terminate(), two.terminate()]);
  }
  return { py, fl, wp, tp };
}

export async function benchPool(repeats = 5): Promise<Row[]> {
  const { py, fl, wp, tp } = await measure(repeats);
  const rows: Row[] = [];
  const add = (name: string, values: number[], anchor: string, anchorValues: number[]) =>
    rows.push({ name, anchor, median_ms: median(values), ratio: median(values) / median(anchorValues) });
  const pyApply = "Python Pool.apply_async x20k";
  add(pyApply, py.pool_apply_async!, pyApply, py.pool_apply_async!);
  add("Python ProcessPoolExecutor.submit x20k", py.executor_submit!, pyApply, py.pool_apply_async!);
  add("forklab applyAsync x20k", fl.apply!, pyApply, py.pool_apply_async!);
  add("workerpool (process) exec x20k", wp, "forklab applyAsync x20k", fl.apply!);
  add("tinypool (child_process) run x20k", tp, "forklab applyAsync x20k", fl.apply!);
  const pyMap = "Python Pool.map 100k";
  add(pyMap, py.pool_map!, pyMap, py.pool_map!);
  add("Python ProcessPoolExecutor.map 100k (chunksize 1)", py.executor_map!, pyMap, py.pool_map!);
  add("forklab map 100k", fl.map!, pyMap, py.pool_map!);
  const pyImap = "Python Pool.imap 20k chunksize 1";
  add(pyImap, py.pool_imap1!, pyImap, py.pool_imap1!);
  add("forklab imap 20k chunksize 1", fl.imap!, pyImap, py.pool_imap1!);
  // Speedup rows: the ratio is 2 workers' time over 1 worker's, i.e. 1 / speedup.
  add("Python 40 x 50 ms on 1 worker", py.cpu1!, "Python 40 x 50 ms on 1 worker", py.cpu1!);
  add("Python 40 x 50 ms on 2 workers", py.cpu2!, "Python 40 x 50 ms on 1 worker", py.cpu1!);
  add("forklab 40 x 50 ms on 1 worker", fl.cpu1!, "forklab 40 x 50 ms on 1 worker", fl.cpu1!);
  add("forklab 40 x 50 ms on 2 workers", fl.cpu2!, "forklab 40 x 50 ms on 1 worker", fl.cpu1!);
  const rate = (n: number, values: number[]) => `${Math.round((n / median(values)) * 1000).toLocaleString("en")}/s`;
  const speedup = (one: number[], two: number[]) => median(one) / median(two);
  // Each goal as a factor of its anchor: how many times Python's rate (or speedup), how many times
  // faster than workerpool and tinypool.
  const times = (anchor: number[], ours: number[]) => `${(median(anchor) / median(ours)).toFixed(2)}x`;
  process.stderr.write(
    `pool: applyAsync ${rate(20_000, fl.apply!)} (Python ${rate(20_000, py.pool_apply_async!)}, workerpool ${rate(20_000, wp)}, tinypool ${rate(20_000, tp)}); ` +
      `map ${rate(100_000, fl.map!)} (Python ${rate(100_000, py.pool_map!)}); imap ${rate(20_000, fl.imap!)} (Python ${rate(20_000, py.pool_imap1!)}); ` +
      `speedup ${speedup(fl.cpu1!, fl.cpu2!).toFixed(2)}x (Python ${speedup(py.cpu1!, py.cpu2!).toFixed(2)}x)\n` +
      `pool, against the goals: applyAsync ${times(py.pool_apply_async!, fl.apply!)} Python's rate (goal >= 10x); ` +
      `map ${times(py.pool_map!, fl.map!)} (goal >= 1x); imap chunksize 1 ${times(py.pool_imap1!, fl.imap!)} (goal >= 5x); ` +
      `speedup ${(speedup(fl.cpu1!, fl.cpu2!) / speedup(py.cpu1!, py.cpu2!)).toFixed(2)}x Python's (goal >= 0.95x); ` +
      `applyAsync ${times(wp, fl.apply!)} workerpool's rate and ${times(tp, fl.apply!)} tinypool's (goal > 1x). ` +
      `No figure holds a process start (the pools are started and warmed first), so NODE_EXTRA_CA_CERTS ` +
      `(${process.env.NODE_EXTRA_CA_CERTS ? "set" : "unset"} in this run) reaches them only through the machine's load.\n`,
  );
  return rows;
}

if (require.main === module) runAlone("pool: tiny and CPU-bound tasks on 2 workers, medians", () => benchPool(Number(process.argv[2] ?? 5)));
