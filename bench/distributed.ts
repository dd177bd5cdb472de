/**
 * The distributed path side by side in one run, on this machine (Redis and the workers on
 * loopback):
 *
 * - tiny tasks through queues, ms per task: the tutorial's program (bench/distributed_managers.py:
 *   a master puts N numbers on a BaseManager task queue, one worker process takes each and puts
 *   `n * n` back) next to the same program on `new Queue({ redis, name })` (the worker function
 *   running on one `forklab worker`), and next to Pool({ redis }).map (chunked) and applyAsync one
 *   by one (one BullMQ job per task);
 * - the Redis path's overhead against the local Pool, ms per task: the same tiny task through
 *   `new Pool(1)` and through `new Pool({ redis, queue })` with one worker of one slot, by map with
 *   the default chunks and by applyAsync one task at a time;
 * - CPU-bound tasks, ms for the batch, with 2 forklab workers against 1 (the ratio is 1/speedup).
 *
 * Every row's median is over `repeats` runs. Needs python3 and redis-server.
 *
 * Run: npx tsc -p . && node dist/bench/distributed.js [repeats]
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Queue } from "../src/distributed/queue-classes";
import { Pool } from "../src/parent/pool";
import { reapWithParent } from "../src/parent/reaper";
import { median, runAlone, type Row } from "./stats";

const TINY = 2000;
const CPU_TASKS = 8;
const APPLIED = 200;
const ROOT = path.resolve(__dirname, "..", "..");
const FORKLAB_BIN = path.join(ROOT, "bin", "forklab.js");
const MANAGERS = path.join(ROOT, "bench", "distributed_managers.py");


async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function waitForLine(child: ChildProcess, stream: "stdout" | "stderr", pattern: RegExp): Promise<void> {
  let seen = "";
  return new Promise((resolve, reject) => {
    child[stream]!.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`${child.spawnargs.join(" ")} exited (${code}): ${seen}`)));
  });
}

/** A server or worker this benchmark started never outlives it, even when it is killed. */
function reaped(child: ChildProcess): ChildProcess {
  if (child.pid !== undefined) child.once("exit", reapWithParent(child.pid, false));
  return child;
}

async function startRedis(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = reaped(
    spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"], {
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  await waitForLine(child, "stdout", /Ready to accept connections/);
  child.stdout!.resume();
  return { url: `redis://127.0.0.1:${port}`, child };
}

async function startWorker(url: string, queue: string): Promise<ChildProcess> {
  const child = reaped(spawn(process.execPath, [FORKLAB_BIN, "worker", "--redis", url, "--queue", queue, "--accept-source"], { stdio: ["ignore", "ignore", "pipe"] }));
  await waitForLine(child, "stderr", /taking tasks/);
  return child;
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map((child) => (child.exitCode !== null ? undefined : new Promise<void>((resolve) => (child.once("exit", () => resolve()), child.kill("SIGTERM"))))),
  );
}

/** The tutorial's worker, on Queue({ redis }): take each n and put back its square, until null. */
async function queueWorker(taskSpec: { redis: string; name: string }, resultSpec: { redis: string; name: string }) {
  const { Queue } = require("forklab");
  const task = new Queue(taskSpec);
  const result = new Queue(resultSpec);
  for (;;) {
    const n = await task.get();
    if (n === null) break;
    await result.put(`${n} * ${n} = ${n * n}`);
  }
  await task.close();
  await result.close();
}

function busy(ms: number): number {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) x++;
  return x;
}

/** Milliseconds per task of `run`, which runs `count` tasks. */
async function perTask(count: number, run: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await run();
  return (performance.now() - t0) / count;
}

/** The tutorial's program, timed inside Python (its own start not counted), ms per task. */
function managersRun(): number {
  const out = spawnSync("python3", [MANAGERS, String(TINY), "master"], { encoding: "utf8" });
  if (out.status !== 0) throw new Error(`python3 ${MANAGERS} failed (${out.error?.message ?? `exit ${out.status}`}): ${out.stderr}`);
  return Number(out.stdout.trim()) / TINY;
}

export async function benchDistributed(repeats = 3): Promise<Row[]> {
  const dir = mkdtempSync(path.join(tmpdir(), "forklab-bench-distributed-"));
  const redis = await startRedis(dir);
  const children: ChildProcess[] = [redis.child];
  const local = new Pool(1);
  try {
    children.push(await startWorker(redis.url, "bench-1"));
    const pool = new Pool({ redis: redis.url, queue: "bench-1" });
    await pool.ready();
    const square = (n: number) => n * n;
    // Warm: each worker's child has loaded the target.
    await Promise.all([pool.map(square, [1, 2, 3]), local.map(square, [1, 2, 3])]);

    const items = Array.from({ length: TINY }, (_, i) => i);
    const few = items.slice(0, APPLIED);
    const t = { python: [] as number[], queues: [] as number[], mapped: [] as number[], applied: [] as number[], localMapped: [] as number[], localApplied: [] as number[] };
    // Interleaved: a slow patch of the machine hits every variant alike.
    for (let i = 0; i < repeats; i++) {
      t.python.push(managersRun());

      const task = new Queue<number | null>({ redis: redis.url, name: `bench-task-${i}` });
      const result = new Queue<string>({ redis: redis.url, name: `bench-result-${i}` });
      const worker = pool.apply(queueWorker, [task.options, result.options]);
      t.queues.push(
        await perTask(TINY, async () => {
          for (let n = 0; n < TINY; n++) await task.put(n);
          for (let n = 0; n < TINY; n++) await result.get({ timeout: 30 });
        }),
      );
      await task.put(null);
      await worker;
      await Promise.all([task.destroy(), result.destroy()]);

      t.localMapped.push(await perTask(TINY, () => local.map(square, items)));
      t.mapped.push(await perTask(TINY, () => pool.map(square, items)));
      t.localApplied.push(await perTask(few.length, () => Promise.all(few.map((n) => local.applyAsync(square, [n]).get()))));
      t.applied.push(await perTask(few.length, () => Promise.all(few.map((n) => pool.applyAsync(square, [n]).get()))));
    }

    const cpuOne: number[] = [];
    const cpuTwo: number[] = [];
    const cpuArgs = Array.from({ length: CPU_TASKS }, () => 250);
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      await pool.map(busy, cpuArgs, 1);
      cpuOne.push(performance.now() - t0);
    }
    children.push(await startWorker(redis.url, "bench-1"));
    await pool.map(square, [1, 2, 3, 4], 1);
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      await pool.map(busy, cpuArgs, 1);
      cpuTwo.push(performance.now() - t0);
    }
    pool.close();
    await pool.join();

    const anchor = "BaseManager master/worker (ms/task)";
    const row = (name: string, values: number[], anchorName: string, anchorValues: number[]): Row => ({
      name,
      anchor: anchorName,
      median_ms: median(values),
      ratio: median(values) / median(anchorValues),
    });
    const localMap = `local Pool(1).map, ${TINY} tiny tasks, default chunks (ms/task)`;
    const localApply = `local Pool(1).applyAsync, ${APPLIED} tiny tasks, one each (ms/task)`;
    const oneWorker = `DistributedPool, ${CPU_TASKS} CPU tasks of 250 ms, 1 worker (ms/batch)`;
    const rows = [
      row(anchor, t.python, anchor, t.python),
      row("Queue({ redis }) master/worker, the same program (ms/task)", t.queues, anchor, t.python),
      row(`DistributedPool.map, ${TINY} tiny tasks, default chunks (ms/task)`, t.mapped, anchor, t.python),
      row(`DistributedPool.applyAsync, ${APPLIED} tiny tasks, one job each (ms/task)`, t.applied, anchor, t.python),
      row(localMap, t.localMapped, localMap, t.localMapped),
      row(`Pool({ redis }).map, the same, 1 worker of 1 slot (ms/task)`, t.mapped, localMap, t.localMapped),
      row(localApply, t.localApplied, localApply, t.localApplied),
      row(`Pool({ redis }).applyAsync, the same, 1 worker of 1 slot (ms/task)`, t.applied, localApply, t.localApplied),
      row(oneWorker, cpuOne, oneWorker, cpuOne),
      row(`DistributedPool, ${CPU_TASKS} CPU tasks of 250 ms, 2 workers (ms/batch)`, cpuTwo, oneWorker, cpuOne),
    ];
    // Per task, the Redis path's cost over the local Pool's, in microseconds (the table shows ms).
    const overhead = (redisPath: number[], localPath: number[]) => ((median(redisPath) - median(localPath)) * 1000).toFixed(0);
    console.error(
      `distributed: per task, the Redis path costs ${overhead(t.mapped, t.localMapped)} us more than the local Pool by map ` +
        `(${(median(t.mapped) * 1000).toFixed(0)} vs ${(median(t.localMapped) * 1000).toFixed(1)} us), ` +
        `${overhead(t.applied, t.localApplied)} us more by applyAsync (${(median(t.applied) * 1000).toFixed(0)} vs ${(median(t.localApplied) * 1000).toFixed(0)} us)`,
    );
    return rows;
  } finally {
    await local.terminate();
    await stop(children.slice(1));
    await stop([redis.child]);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  runAlone("distributed: tiny tasks vs the tutorial's BaseManager master/worker; CPU tasks, 2 workers vs 1", () =>
    benchDistributed(Number(process.argv[2] ?? 3)),
  );
}
