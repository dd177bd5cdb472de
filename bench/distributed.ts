/**
 * The distributed path against the tutorial's BaseManager master/worker, side by side in one run,
 * on this machine (Redis and the workers on loopback):
 *
 * - tiny tasks through queues, ms per task: the tutorial's program (a master puts N numbers on a
 *   BaseManager task queue, one worker process takes each and puts `n * n` back) next to the same
 *   program on RedisQueue (the worker function running on one `forklab worker`), and next to
 *   DistributedPool.map (chunked) and applyAsync one by one (one BullMQ job per task);
 * - CPU-bound tasks, ms for the batch, with 2 forklab workers against 1 (the ratio is 1/speedup).
 *
 * Every row's median is over `repeats` runs. Needs python3 and redis-server.
 *
 * Run: npx tsc -p . && node dist/bench/distributed.js [repeats]
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { DistributedPool } from "../src/parent/distributed/pool";
import { Queue } from "../src/distributed/queue-classes";
import { median, runAlone, type Row } from "./stats";

const TINY = 2000;
const CPU_TASKS = 8;
const FORKLAB_BIN = path.join(__dirname, "..", "..", "bin", "forklab.js");

const PYTHON = `
import queue, subprocess, sys, time
from multiprocessing.managers import BaseManager

N = int(sys.argv[1])
task_queue = queue.Queue()
result_queue = queue.Queue()

class QueueManager(BaseManager):
    pass

if sys.argv[2] == "master":
    QueueManager.register('get_task_queue', callable=lambda: task_queue)
    QueueManager.register('get_result_queue', callable=lambda: result_queue)
    manager = QueueManager(address=('127.0.0.1', 0), authkey=b'abc')
    manager.start()
    task = manager.get_task_queue()
    result = manager.get_result_queue()
    worker = subprocess.Popen([sys.executable, __file__, str(N), "worker", str(manager.address[1])], stdout=subprocess.PIPE)
    worker.stdout.readline()  # connected
    t0 = time.perf_counter()
    for n in range(N):
        task.put(n)
    for n in range(N):
        result.get(timeout=30)
    elapsed = time.perf_counter() - t0
    task.put(None)
    worker.wait()
    manager.shutdown()
    print(elapsed * 1000)
else:
    QueueManager.register('get_task_queue')
    QueueManager.register('get_result_queue')
    m = QueueManager(address=('127.0.0.1', int(sys.argv[3])), authkey=b'abc')
    m.connect()
    task = m.get_task_queue()
    result = m.get_result_queue()
    print("connected", flush=True)
    while True:
        n = task.get()
        if n is None:
            break
        result.put('%d * %d = %d' % (n, n, n * n))
`;

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

async function startRedis(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  await waitForLine(child, "stdout", /Ready to accept connections/);
  child.stdout!.resume();
  return { url: `redis://127.0.0.1:${port}`, child };
}

async function startWorker(url: string, queue: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [FORKLAB_BIN, "worker", "--redis", url, "--queue", queue, "--accept-source"], { stdio: ["ignore", "ignore", "pipe"] });
  await waitForLine(child, "stderr", /taking tasks/);
  return child;
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map((child) => (child.exitCode !== null ? undefined : new Promise<void>((resolve) => (child.once("exit", () => resolve()), child.kill("SIGTERM"))))),
  );
}

/** The tutorial's worker, on RedisQueue: take each n and put back its square, until null. */
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

export async function benchDistributed(repeats = 3): Promise<Row[]> {
  const dir = mkdtempSync(path.join(tmpdir(), "forklab-bench-distributed-"));
  const script = path.join(dir, "managers.py");
  writeFileSync(script, PYTHON);
  const redis = await startRedis(dir);
  const children: ChildProcess[] = [redis.child];
  try {
    const python: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const out = spawnSync("python3", [script, String(TINY), "master"], { encoding: "utf8" });
      if (out.status !== 0) throw new Error(`python3 managers benchmark failed: ${out.stderr}`);
      python.push(Number(out.stdout.trim()) / TINY);
    }

    const one = await startWorker(redis.url, "bench-1");
    children.push(one);
    const pool = new DistributedPool({ redis: redis.url, queue: "bench-1" });
    await pool.ready();
    const square = (n: number) => n * n;
    await pool.map(square, [1, 2, 3]); // warm: the worker's child has loaded the target

    const queues: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const task = new Queue<number | null>({ redis: redis.url, name: `bench-task-${i}` });
      const result = new Queue<string>({ redis: redis.url, name: `bench-result-${i}` });
      const worker = pool.apply(queueWorker, [task.options, result.options]);
      const t0 = performance.now();
      for (let n = 0; n < TINY; n++) await task.put(n);
      for (let n = 0; n < TINY; n++) await result.get({ timeout: 30 });
      queues.push((performance.now() - t0) / TINY);
      await task.put(null);
      await worker;
      await Promise.all([task.destroy(), result.destroy()]);
    }

    const mapped: number[] = [];
    const applied: number[] = [];
    const items = Array.from({ length: TINY }, (_, i) => i);
    for (let i = 0; i < repeats; i++) {
      let t0 = performance.now();
      await pool.map(square, items);
      mapped.push((performance.now() - t0) / TINY);
      const few = items.slice(0, 200);
      t0 = performance.now();
      await Promise.all(few.map((n) => pool.applyAsync(square, [n]).get()));
      applied.push((performance.now() - t0) / few.length);
    }

    const cpuOne: number[] = [];
    const cpuTwo: number[] = [];
    const cpuArgs = Array.from({ length: CPU_TASKS }, () => 250);
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      await pool.map(busy, cpuArgs, 1);
      cpuOne.push(performance.now() - t0);
    }
    const two = await startWorker(redis.url, "bench-1");
    children.push(two);
    await pool.map(square, [1, 2, 3, 4], 1);
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      await pool.map(busy, cpuArgs, 1);
      cpuTwo.push(performance.now() - t0);
    }
    pool.close();
    await pool.join();

    const anchor = "BaseManager master/worker (ms/task)";
    const base = median(python);
    const row = (name: string, values: number[], anchorName: string, anchorMedian: number): Row => ({
      name,
      anchor: anchorName,
      median_ms: median(values),
      ratio: median(values) / anchorMedian,
    });
    const oneWorker = `DistributedPool, ${CPU_TASKS} CPU tasks of 250 ms, 1 worker (ms/batch)`;
    return [
      row(anchor, python, anchor, base),
      row("RedisQueue master/worker, the same program (ms/task)", queues, anchor, base),
      row(`DistributedPool.map, ${TINY} tiny tasks, default chunks (ms/task)`, mapped, anchor, base),
      row("DistributedPool.applyAsync, 200 tiny tasks, one job each (ms/task)", applied, anchor, base),
      row(oneWorker, cpuOne, oneWorker, median(cpuOne)),
      row(`DistributedPool, ${CPU_TASKS} CPU tasks of 250 ms, 2 workers (ms/batch)`, cpuTwo, oneWorker, median(cpuOne)),
    ];
  } finally {
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
