/**
 * Writer process to reader process through a queue: µs per small item, µs per 1 KiB item, and a
 * ping-pong round trip, forklab's Queue (owned by this process, as Python's parent creates its
 * Queue) next to Python's multiprocessing Queue, SimpleQueue and Pipe (python3 on the PATH).
 * Medians over repeats; one row per measure, anchored on Python's Queue.
 *
 * Run: npx tsc -p . && node dist/bench/queue.js [items=20000] [repeats=3]
 */
import { spawnSync } from "node:child_process";
import { Process } from "../src/parent/process";
import { Queue } from "../src/ipc/queue";
import { median, textTable, type Row } from "./stats";

type Q = Queue<unknown>;

async function forklabStream(n: number, item: unknown): Promise<number> {
  const q = new Queue();
  const reader = new Process({
    target: async (q: Q, n: number) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await q.get();
      return performance.now() - t0;
    },
    args: [q, n],
    output: "none",
  }).start();
  const writer = new Process({
    target: async (q: Q, n: number, item: unknown) => {
      for (let i = 0; i < n; i++) await q.put(item);
    },
    args: [q, n, item],
    output: "none",
  }).start();
  const t0 = performance.now();
  await writer.join();
  await reader.join();
  void t0;
  return ((await reader.result) as number) * 1000 / n;
}

async function forklabPingPong(n: number): Promise<number> {
  const ping = new Queue();
  const pong = new Queue();
  const echo = new Process({
    target: async (ping: Q, pong: Q, n: number) => {
      for (let i = 0; i < n; i++) await pong.put(await ping.get());
    },
    args: [ping, pong, n],
    output: "none",
  }).start();
  await ping.put(0);
  await pong.get();
  const t0 = performance.now();
  for (let i = 1; i < n; i++) {
    await ping.put(i);
    await pong.get();
  }
  const us = ((performance.now() - t0) * 1000) / (n - 1);
  await echo.join();
  return us;
}

const PYTHON = `
import json, multiprocessing as mp, sys, time
def reader(q, n, out):
    t0 = time.perf_counter()
    for _ in range(n): q.get()
    out.put((time.perf_counter() - t0) * 1e6 / n)
def writer(q, n, item):
    for _ in range(n): q.put(item)
def pipe_reader(c, n, out):
    t0 = time.perf_counter()
    for _ in range(n): c.recv()
    out.put((time.perf_counter() - t0) * 1e6 / n)
def pipe_writer(c, n, item):
    for _ in range(n): c.send(item)
def echo(a, b, n):
    for _ in range(n): b.put(a.get())
def stream(kind, n, item):
    out = mp.SimpleQueue()
    if kind == "Pipe":
        r, w = mp.Pipe(False)
        ps = [mp.Process(target=pipe_reader, args=(r, n, out)), mp.Process(target=pipe_writer, args=(w, n, item))]
    else:
        q = mp.Queue() if kind == "Queue" else mp.SimpleQueue()
        ps = [mp.Process(target=reader, args=(q, n, out)), mp.Process(target=writer, args=(q, n, item))]
    for p in ps: p.start()
    v = out.get()
    for p in ps: p.join()
    return v
def pingpong(n):
    a, b = mp.Queue(), mp.Queue()
    p = mp.Process(target=echo, args=(a, b, n)); p.start()
    a.put(0); b.get()
    t0 = time.perf_counter()
    for i in range(1, n): a.put(i); b.get()
    v = (time.perf_counter() - t0) * 1e6 / (n - 1)
    p.join(); return v
if __name__ == "__main__":
    n = int(sys.argv[1])
    r = {}
    for kind in ("Queue", "SimpleQueue", "Pipe"):
        r[kind + " small"] = stream(kind, n, 1)
        r[kind + " 1KiB"] = stream(kind, n, b"x" * 1024)
    r["Queue ping-pong"] = pingpong(min(n, 5000))
    print(json.dumps(r))
`;

export async function benchQueue(n = 20000, repeats = 3): Promise<Row[]> {
  const py: Record<string, number[]> = {};
  const ours: Record<string, number[]> = { small: [], "1KiB": [], "ping-pong": [] };
  for (let r = 0; r < repeats; r++) {
    const out = spawnSync("python3", ["-c", PYTHON, String(n)], { encoding: "utf8" });
    if (out.status === 0) for (const [k, v] of Object.entries(JSON.parse(out.stdout) as Record<string, number>)) (py[k] ??= []).push(v);
    ours.small!.push(await forklabStream(n, 1));
    ours["1KiB"]!.push(await forklabStream(n, new Uint8Array(1024).fill(120)));
    ours["ping-pong"]!.push(await forklabPingPong(Math.min(n, 5000)));
  }
  // Rows in µs per item (the Row field is named for ms; the unit is said in the name).
  const rows: Row[] = [];
  const add = (name: string, anchor: string, values: number[]) =>
    rows.push({ name: `${name} (µs per item)`, anchor: `${anchor} (µs per item)`, median_ms: median(values), ratio: median(values) / median(py[anchor] ?? values) });
  for (const size of ["small", "1KiB"]) {
    for (const kind of ["Queue", "SimpleQueue", "Pipe"]) if (py[`${kind} ${size}`]) add(`python ${kind} ${size}`, `Queue ${size}`, py[`${kind} ${size}`]!);
    add(`forklab Queue ${size}`, `Queue ${size}`, ours[size]!);
  }
  if (py["Queue ping-pong"]) add("python Queue ping-pong", "Queue ping-pong", py["Queue ping-pong"]);
  add("forklab Queue ping-pong", "Queue ping-pong", ours["ping-pong"]!);
  return rows;
}

if (require.main === module) {
  const [n, repeats] = process.argv.slice(2).map(Number);
  void benchQueue(n || undefined, repeats || undefined).then((rows) => console.log(textTable(rows)));
}
