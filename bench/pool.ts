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

async function forklab(repeats: number): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = { apply: [], map: [], imap: [], cpu1: [], cpu2: [] };
  const pool = new Pool(2);
  await pool.map(double, range(1000));
  for (let r = 0; r < repeats; r++) {
    out.apply!.push(await timed(() => Promise.all(range(20_000).map((i) => pool.applyAsync(double, [i]).get()))));
    out.map!.push(await timed(() => pool.map(double, range(100_000))));
    out.imap!.push(await timed(async () => {
      for await (const _ of pool.imap(double, range(20_000), 1)) void _;
    }));
  }
  await pool.terminate();
  const n = calibrate();
  for (const [workers, key] of [[1, "cpu1"], [2, "cpu2"]] as const) {
    const p = new Pool(workers);
    await p.map(double, range(10));
    for (let r = 0; r < Math.max(1, repeats >> 1); r++) out[key]!.push(await timed(() => p.map(busy, Array(40).fill(n), 1)));
    await p.terminate();
  }
  return out;
}

async function workerpoolRuns(repeats: number): Promise<Record<string, number[]>> {
  const workerpool = require("workerpool") as typeof import("workerpool");
  const pool = workerpool.pool(path.join(ROOT, "bench", "pool-workers", "workerpool-double.js"), { workerType: "process", minWorkers: 2, maxWorkers: 2 });
  await Promise.all(range(100).map((i) => pool.exec("double", [i])));
  const apply: number[] = [];
  for (let r = 0; r < repeats; r++) apply.push(await timed(() => Promise.all(range(20_000).map((i) => pool.exec("double", [i])))));
  await pool.terminate();
  return { apply };
}

async function tinypoolRuns(repeats: number): Promise<Record<string, number[]>> {
  const { Tinypool } = require("tinypool") as typeof import("tinypool");
  const pool = new Tinypool({ filename: path.join(ROOT, "bench", "pool-workers", "tinypool-double.js"), runtime: "child_process", minThreads: 2, maxThreads: 2 });
  await Promise.all(range(100).map((i) => pool.run(i)));
  const apply: number[] = [];
  for (let r = 0; r < repeats; r++) apply.push(await timed(() => Promise.all(range(20_000).map((i) => pool.run(i)))));
  await pool.destroy();
  return { apply };
}

function python(repeats: number): Record<string, number[]> {
  const run = spawnSync("python3", [path.join(ROOT, "bench", "pool.py"), String(repeats)], { encoding: "utf8", maxBuffer: 1 << 20 });
  if (run.status !== 0) throw new Error(`bench/pool.py failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, number[]>;
}

export async function benchPool(repeats = 5): Promise<Row[]> {
  const py = python(repeats);
  const fl = await forklab(repeats);
  const wp = await workerpoolRuns(repeats);
  const tp = await tinypoolRuns(repeats);
  const rows: Row[] = [];
  const add = (name: string, values: number[], anchor: string, anchorValues: number[]) =>
    rows.push({ name, anchor, median_ms: median(values), ratio: median(values) / median(anchorValues) });
  const pyApply = "Python Pool.apply_async x20k";
  add(pyApply, py.pool_apply_async!, pyApply, py.pool_apply_async!);
  add("Python ProcessPoolExecutor.submit x20k", py.executor_submit!, pyApply, py.pool_apply_async!);
  add("forklab applyAsync x20k", fl.apply!, pyApply, py.pool_apply_async!);
  add("workerpool (process) exec x20k", wp.apply!, "forklab applyAsync x20k", fl.apply!);
  add("tinypool (child_process) run x20k", tp.apply!, "forklab applyAsync x20k", fl.apply!);
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
  const speedup = (one: number[], two: number[]) => (median(one) / median(two)).toFixed(2);
  process.stderr.write(
    `pool: applyAsync ${rate(20_000, fl.apply!)} (Python ${rate(20_000, py.pool_apply_async!)}, workerpool ${rate(20_000, wp.apply!)}, tinypool ${rate(20_000, tp.apply!)}); ` +
      `map ${rate(100_000, fl.map!)} (Python ${rate(100_000, py.pool_map!)}); imap ${rate(20_000, fl.imap!)} (Python ${rate(20_000, py.pool_imap1!)}); ` +
      `speedup ${speedup(fl.cpu1!, fl.cpu2!)}x (Python ${speedup(py.cpu1!, py.cpu2!)}x)\n`,
  );
  return rows;
}

if (require.main === module) runAlone("pool: tiny and CPU-bound tasks on 2 workers, medians", () => benchPool(Number(process.argv[2] ?? 5)));
