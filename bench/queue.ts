/**
 * Writer process to reader process through a queue (µs per small item and per 1 KiB item, timed
 * in the reader from its first item to its last, so neither process's start counts), and a
 * ping-pong round trip between this process and a child: forklab's Queue, SimpleQueue and Pipe
 * (created in this process, as Python's parent creates them) next to Python's multiprocessing
 * Queue, SimpleQueue and Pipe (bench/queues.py, python3 on the PATH). Each forklab row is anchored
 * on its Python namesake measured in the same repeat; medians over repeats. The floor rows are
 * the same three processes making the same syscalls per item with nothing else (queue-floor.ts),
 * next to Python's Queue: what the writer's write per put and the reader's write per ack cost alone.
 *
 * Run: npx tsc -p . && node dist/bench/queue.js [items=20000] [repeats=3]
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { Process } from "../src/parent/process";
import { Queue, SimpleQueue } from "../src/ipc/queue";
import { Pipe } from "../src/ipc/pipe";
import { floorStream } from "./queue-floor";
import { median, textTable, type Row } from "./stats";

const ROOT = path.resolve(__dirname, "..", "..");
const KINDS = ["Queue", "SimpleQueue", "Pipe"] as const;
type Kind = (typeof KINDS)[number];
const FIGURES = ["small", "1KiB", "ping-pong"] as const;
/** Bytes on the wire per item: a frame's header (22) and the item (a number's 8 bytes, or 1 KiB). */
const FLOOR_BYTES = { small: 30, "1KiB": 1046 } as const;

/** What the children get: something with put/get or send/recv. */
type End = { put?(v: unknown): Promise<void>; get?(): Promise<unknown>; send?(v: unknown): Promise<void>; recv?(): Promise<unknown> };

/** [writer's end, reader's end] of a fresh channel of `kind`. */
function channel(kind: Kind): [unknown, unknown] {
  if (kind === "Pipe") {
    const [r, w] = Pipe(false);
    return [w, r];
  }
  const q = kind === "Queue" ? new Queue() : new SimpleQueue();
  return [q, q];
}

function start(target: (...args: never[]) => unknown, args: unknown[]): Process {
  return new Process({ target: target as never, args, output: "none" }).start();
}

async function stream(kind: Kind, n: number, item: unknown): Promise<number> {
  const [w, r] = channel(kind);
  const reader = start(async (end: End, n: number) => {
    const get = end.get ? () => end.get!() : () => end.recv!();
    await get();
    const t0 = performance.now();
    for (let i = 1; i < n; i++) await get();
    return ((performance.now() - t0) * 1000) / (n - 1);
  }, [r, n]);
  const writer = start(async (end: End, n: number, item: unknown) => {
    const put = end.put ? (v: unknown) => end.put!(v) : (v: unknown) => end.send!(v);
    for (let i = 0; i < n; i++) await put(item);
  }, [w, n, item]);
  await writer.join();
  const us = (await reader.result) as number;
  await reader.join();
  return us;
}

async function pingPong(kind: Kind, n: number): Promise<number> {
  let there: unknown[];
  let send: (v: number) => Promise<void>;
  let recv: () => Promise<unknown>;
  if (kind === "Pipe") {
    const [here, far] = Pipe<number>();
    there = [far, far];
    send = (v) => here.send(v);
    recv = () => here.recv();
  } else {
    const make = () => (kind === "Queue" ? new Queue<number>() : new SimpleQueue<number>());
    const [a, b] = [make(), make()];
    there = [a, b];
    send = (v) => a.put(v);
    recv = () => b.get();
  }
  const echo = start(async (from: End, to: End, n: number) => {
    const get = from.get ? () => from.get!() : () => from.recv!();
    const put = to.put ? (v: unknown) => to.put!(v) : (v: unknown) => to.send!(v);
    for (let i = 0; i < n; i++) await put(await get());
  }, [...there, n]);
  await send(0);
  await recv();
  const t0 = performance.now();
  for (let i = 1; i < n; i++) {
    await send(i);
    await recv();
  }
  const us = ((performance.now() - t0) * 1000) / (n - 1);
  await echo.join();
  return us;
}

function python(n: number, trips: number): Record<string, number> {
  const run = spawnSync("python3", [path.join(ROOT, "bench", "queues.py"), String(n), String(trips)], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`bench/queues.py failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, number>;
}

export async function benchQueue(n = 20000, repeats = 3): Promise<Row[]> {
  const trips = Math.min(n, 5000);
  const py: Record<string, number[]> = {};
  const ours: Record<string, number[]> = {};
  for (let r = 0; r < repeats; r++) {
    for (const [k, v] of Object.entries(python(n, trips))) (py[k] ??= []).push(v);
    for (const [figure, bytes] of Object.entries(FLOOR_BYTES)) (ours[`floor ${figure}`] ??= []).push(await floorStream(n, bytes));
    for (const kind of KINDS) {
      (ours[`${kind} small`] ??= []).push(await stream(kind, n, 1));
      (ours[`${kind} 1KiB`] ??= []).push(await stream(kind, n, new Uint8Array(1024).fill(120)));
      (ours[`${kind} ping-pong`] ??= []).push(await pingPong(kind, trips));
    }
  }
  // Rows in µs per item or per round trip (the Row field is named for ms; the unit is in the name).
  const rows: Row[] = [];
  for (const figure of FIGURES) {
    const unit = figure === "ping-pong" ? "µs per round trip" : "µs per item";
    for (const kind of KINDS) {
      const key = `${kind} ${figure}`;
      const anchor = `python ${key} (${unit})`;
      const base = median(py[key]!);
      rows.push({ name: anchor, anchor, median_ms: base, ratio: 1 });
      rows.push({ name: `forklab ${key} (${unit})`, anchor, median_ms: median(ours[key]!), ratio: median(ours[key]!) / base });
    }
    const floor = ours[`floor ${figure}`];
    if (floor) {
      const anchor = `python Queue ${figure} (${unit})`;
      const us = median(floor);
      rows.push({ name: `floor ${figure}: a write per put, a write per ack, nothing else (${unit})`, anchor, median_ms: us, ratio: us / median(py[`Queue ${figure}`]!) });
    }
  }
  return rows;
}

if (require.main === module) {
  const [n, repeats] = process.argv.slice(2).map(Number);
  void benchQueue(n || undefined, repeats || undefined).then((rows) => {
    console.log(textTable(rows));
    process.exit(0);
  });
}
