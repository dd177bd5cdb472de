/**
 * Writer process to reader process through a queue (µs per small item and per 1 KiB item, timed
 * in the reader, so neither process's start counts), and a ping-pong round trip between this
 * process and a child: forklab's Queue, SimpleQueue and Pipe (created in this process, as Python's
 * parent creates them) next to Python's multiprocessing Queue, SimpleQueue and Pipe
 * (bench/queues.py, python3 on the PATH). Each figure is timed over the last n items (or round
 * trips) of a run of warm + n: the steady cost once both processes have run a while (V8 has
 * compiled the code on the path by then; Python's figures barely move with it). For Queue also
 * over a run of n alone, from its first item to its last ("cold": fresh processes), on both sides.
 * Each forklab row is anchored on its Python namesake measured in the same repeat; medians over
 * repeats. Its label says how the children's frames travel: on rings in shared memory (where the
 * addon is built) or on sockets; Queue's stream is also run with FORKLAB_QUEUE_TRANSPORT=socket,
 * side by side. The floor rows are the socket transport's: the same three processes making the
 * same syscalls per item with nothing else (queue-floor.ts), after the same warm-up, next to
 * Python's Queue: what the writer's write per put and the reader's write per ack cost alone. The
 * ping-pong floor is one write each way between this process and a child, nothing else, next to
 * Python's Pipe (its fastest round trip): what two wake-ups of Node's event loop cost alone.
 *
 * Run: npx tsc -p . && node dist/bench/queue.js [items=20000] [repeats=3] [warm_items=150000]
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { Process } from "../src/parent/process";
import { Queue, SimpleQueue } from "../src/ipc/queue";
import { Pipe } from "../src/ipc/pipe";
import { sharedMemory } from "../src/ipc/native";
import { floorPingPong, floorStream } from "./queue-floor";
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

/** The clock's two readings for a run of warm + n steps: over the last n, or with no warm-up from the first to the last. */
function window(n: number, warm: number): [number, number] {
  return warm > 0 ? [warm - 1, warm + n - 1] : [0, n - 1];
}

/** µs per step() over the window of warm + n steps: the same windows as bench/queues.py's timed(). */
async function timed(step: () => Promise<unknown>, n: number, warm: number): Promise<number> {
  const [start, end] = window(n, warm);
  let t0 = 0;
  for (let i = 0; i <= end; i++) {
    await step();
    if (i === start) t0 = performance.now();
  }
  return ((performance.now() - t0) * 1000) / (end - start);
}

async function stream(kind: Kind, n: number, warm: number, item: unknown): Promise<number> {
  const [w, r] = channel(kind);
  // The reader's loop is timed()'s, written out: a child gets its target as source, without this module.
  const reader = start(async (end: End, start: number, last: number) => {
    const get = end.get ? () => end.get!() : () => end.recv!();
    let t0 = 0;
    for (let i = 0; i <= last; i++) {
      await get();
      if (i === start) t0 = performance.now();
    }
    return ((performance.now() - t0) * 1000) / (last - start);
  }, [r, ...window(n, warm)]);
  const writer = start(async (end: End, n: number, item: unknown) => {
    const put = end.put ? (v: unknown) => end.put!(v) : (v: unknown) => end.send!(v);
    for (let i = 0; i < n; i++) await put(item);
  }, [w, warm + n, item]);
  await writer.join();
  const us = (await reader.result) as number;
  await reader.join();
  return us;
}

async function pingPong(kind: Kind, n: number, warm: number): Promise<number> {
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
  }, [...there, warm + n]);
  const us = await timed(async () => {
    await send(0);
    await recv();
  }, n, warm);
  await echo.join();
  return us;
}

function python(n: number, trips: number, warm: number, warmTrips: number): Record<string, number> {
  const args = [path.join(ROOT, "bench", "queues.py"), String(n), String(trips), String(warm), String(warmTrips)];
  const run = spawnSync("python3", args, { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`bench/queues.py failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, number>;
}

/** `run` with the children it starts sending their frames on their sockets, not on rings (see src/ipc/native). */
async function onSockets<T>(run: () => Promise<T>): Promise<T> {
  const before = process.env.FORKLAB_QUEUE_TRANSPORT;
  process.env.FORKLAB_QUEUE_TRANSPORT = "socket";
  try {
    return await run();
  } finally {
    if (before === undefined) delete process.env.FORKLAB_QUEUE_TRANSPORT;
    else process.env.FORKLAB_QUEUE_TRANSPORT = before;
  }
}

/** Round trips before the timed ones, as items before the timed items (measured: a fresh pair of processes is steady after about 8 000 round trips, 120 000 small items). */
const WARM_TRIPS = 10000;

export async function benchQueue(n = 20000, repeats = 3, warm = 150000): Promise<Row[]> {
  const trips = Math.min(n, 5000);
  // Where the addon is built, children's frames go on rings in shared memory; else on sockets.
  const rings = sharedMemory() !== undefined;
  const transport = rings ? "frames on rings" : "frames on sockets";
  const py: Record<string, number[]> = {};
  const ours: Record<string, number[]> = {};
  const add = (key: string, us: number) => (ours[key] ??= []).push(us);
  for (let r = 0; r < repeats; r++) {
    for (const [k, v] of Object.entries(python(n, trips, warm, WARM_TRIPS))) (py[k] ??= []).push(v);
    for (const [figure, bytes] of Object.entries(FLOOR_BYTES)) add(`floor ${figure}`, await floorStream(n, bytes, warm));
    add("floor ping-pong", await floorPingPong(trips, FLOOR_BYTES.small, WARM_TRIPS));
    for (const kind of KINDS) {
      const figures = {
        small: (warm: number) => stream(kind, n, warm, 1),
        "1KiB": (warm: number) => stream(kind, n, warm, new Uint8Array(1024).fill(120)),
        "ping-pong": (warm: number) => pingPong(kind, trips, warm),
      };
      for (const [figure, run] of Object.entries(figures)) {
        add(`${kind} ${figure}`, await run(figure === "ping-pong" ? WARM_TRIPS : warm));
        if (kind === "Queue") add(`${kind} ${figure} cold`, await run(0));
      }
    }
    // The same Queue with its frames on sockets: what the rings are worth.
    if (rings) {
      add("Queue small on sockets", await onSockets(() => stream("Queue", n, warm, 1)));
      add("Queue 1KiB on sockets", await onSockets(() => stream("Queue", n, warm, new Uint8Array(1024).fill(120))));
    }
  }
  // Rows in µs per item or per round trip (the Row field is named for ms; the unit is in the name).
  const rows: Row[] = [];
  /** The Python row under `label` and forklab's row beside it, for the figures stored under `key` on both sides. */
  const pair = (key: string, label: string) => {
    const anchor = `python ${label}`;
    const base = median(py[key]!);
    const us = median(ours[key]!);
    rows.push({ name: anchor, anchor, median_ms: base, ratio: 1 });
    rows.push({ name: `forklab ${label}, ${transport}`, anchor, median_ms: us, ratio: us / base });
    const sockets = ours[`${key} on sockets`];
    if (sockets) rows.push({ name: `forklab ${label}, with FORKLAB_QUEUE_TRANSPORT=socket`, anchor, median_ms: median(sockets), ratio: median(sockets) / base });
  };
  for (const figure of FIGURES) {
    const unit = figure === "ping-pong" ? "µs per round trip" : "µs per item";
    const count = figure === "ping-pong" ? `${trips} round trips` : `${n} items`;
    for (const kind of KINDS) pair(`${kind} ${figure}`, `${kind} ${figure} (${unit})`);
    pair(`Queue ${figure} cold`, `Queue ${figure}, cold: the first ${count} of fresh processes (${unit})`);
    const us = median(ours[`floor ${figure}`]!);
    if (figure === "ping-pong") {
      const name = `floor ping-pong: one write each way between two Node processes, nothing else (${unit})`;
      rows.push({ name, anchor: `python Pipe ${figure} (${unit})`, median_ms: us, ratio: us / median(py[`Pipe ${figure}`]!) });
    } else {
      const name = `floor ${figure}: a write per put, a write per ack, nothing else (${unit})`;
      rows.push({ name, anchor: `python Queue ${figure} (${unit})`, median_ms: us, ratio: us / median(py[`Queue ${figure}`]!) });
    }
  }
  return rows;
}

if (require.main === module) {
  const [n, repeats, warm] = process.argv.slice(2).map(Number);
  void benchQueue(n || undefined, repeats || undefined, Number.isInteger(warm) ? warm : undefined).then((rows) => {
    console.log(textTable(rows));
    process.exit(0);
  });
}
