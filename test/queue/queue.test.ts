import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as lib from "../../dist/src/index.js";
import { isGone, putOneAndStay, setEnv, waitFor } from "../support/processes";
const { spawn, Queue, JoinableQueue, SimpleQueue, Pipe, Empty, Full, activeChildren } = lib;
type Q<T> = InstanceType<typeof Queue<T>>;

const quiet = { output: "none" as const };

afterAll(() => {
  for (const p of activeChildren()) p.kill();
});

describe("Queue in one process", () => {
  it("is FIFO, copies items, and says Empty and Full", async () => {
    const q = new Queue<{ n: number }>(2);
    const item = { n: 1 };
    await q.put(item);
    item.n = 99;
    await q.putNowait({ n: 2 });
    expect(await q.full()).toBe(true);
    await expect(q.putNowait({ n: 3 })).rejects.toBeInstanceOf(Full);
    await expect(q.put({ n: 3 }, { timeout: 0.05 })).rejects.toThrow(/no room within 0.05 s \(maxsize 2\)/);
    expect(await q.get()).toEqual({ n: 1 });
    expect(await q.get()).toEqual({ n: 2 });
    const empty = await q.getNowait().catch((e: unknown) => e);
    expect(empty).toBeInstanceOf(Empty);
    expect((empty as Error).name).toBe("Empty");
    await expect(q.get({ timeout: 0.05 })).rejects.toThrow(/no item arrived within 0.05 s/);
    expect(await q.empty()).toBe(true);
  });

  it("checks its arguments and refuses use after close()", async () => {
    expect(() => new Queue(-1)).toThrow(/new Queue\(\): option maxsize must be a whole number >= 0 \(0: no limit\), got -1 \(number\)/);
    const q = new Queue();
    await expect(q.get({ timeout: -1 })).rejects.toThrow(/option timeout must be a number of seconds >= 0/);
    // The tutorial's q.get(True), written as it is: the error says how it is written here.
    await expect(q.get(true as never)).rejects.toThrow(/^Queue\.get\(\): the options are one object \{ block\?, timeout\? \} \(timeout in seconds\), got true \(boolean\)\. Python's get\(True\) is get\(\) here, get\(False\) is get\(\{ block: false \}\)/);
    await expect(q.put("A", true as never)).rejects.toThrow(/Python's put\(item, True\) is put\(item\) here, put\(item, False\) is put\(item, \{ block: false \}\), and put\(item, True, 5\) is put\(item, \{ timeout: 5 \}\)/);
    await expect(q.put(() => 1)).rejects.toThrow(/item is a function: it cannot be sent through a Queue/);
    // A misspelt option would otherwise be ignored: an unbounded queue, a get() that never times out.
    expect(() => new Queue({ maxSize: 1 } as never)).toThrow(/^new Queue\(\): unknown option maxSize; the options are maxsize/);
    expect(() => new SimpleQueue(5 as never)).toThrow(/^new SimpleQueue\(\) takes no arguments \(it has no maxsize\), got 5 \(number\)/);
    await expect(q.get({ timout: 0.1 } as never)).rejects.toThrow(/^Queue\.get\(\): unknown option timout; the options are block and timeout \(seconds\)/);
    // Structured clone would keep a class instance's fields and drop its methods: refused, as spawn refuses it.
    class Point {
      constructor(readonly x: number) {}
      norm() {
        return Math.abs(this.x);
      }
    }
    await expect(q.put({ at: [new Point(3)] })).rejects.toThrow(/^item\.at\[0\] is an instance of class Point: .* without its class and its methods \(norm\)/);
    await expect(q.put({ inner: new Queue(), at: new Point(1) })).rejects.toThrow(/^item\.at is an instance of class Point/);
    expect(await q.qsize()).toBe(0);
    q.close();
    await expect(q.put(1)).rejects.toThrow(/Queue.put\(\): this Queue was closed in this process .* by close\(\)/);
  });

  it("a blocked put enters when a get makes room, in order", async () => {
    const q = new Queue<number>(1);
    await q.put(1);
    const second = q.put(2);
    const third = q.put(3);
    expect(await q.get()).toBe(1);
    await second;
    expect(await q.get()).toBe(2);
    await third;
    expect(await q.get()).toBe(3);
  });
});

// Where the addon is built (npm run build, with a C compiler), connections carry their frames on
// rings in shared memory; with FORKLAB_QUEUE_TRANSPORT=socket (read by each child at its first
// connection), on their sockets. FORKLAB_REQUIRE_RINGS=1 or FORKLAB_REQUIRE_JUPYTER=1 (CI sets
// it) makes a build without the addon a failure rather than a run on sockets alone.
// The module instance the library itself uses (Node's require, as index.js requires it).
const { connectionTransports } = require("../../dist/src/ipc/server.js") as typeof import("../../dist/src/ipc/server.js");
const ringsBuilt = existsSync(require.resolve("../../dist/src/ipc/native/index.js").replace(/index\.js$/, "shm.node"));
const ringsRequired = process.env.FORKLAB_REQUIRE_RINGS === "1" || process.env.FORKLAB_REQUIRE_JUPYTER === "1";

it.skipIf(!ringsBuilt && !ringsRequired)("npm run build made the shared-memory addon (dist/src/ipc/native/shm.node)", () => {
  expect(ringsBuilt).toBe(true);
});

describe.each(ringsBuilt ? (["rings", "socket"] as const) : (["socket"] as const))("Queue between processes, frames on %s", (transport) => {
  let restore = () => {};
  beforeAll(() => {
    if (transport === "socket") restore = setEnv("FORKLAB_QUEUE_TRANSPORT", "socket");
  });
  afterAll(() => restore());

  it("each child's connection uses the transport asked for", async () => {
    const q = new Queue<number>();
    const child = spawn(putOneAndStay, [q], quiet);
    expect(await q.get()).toBe(1);
    expect(connectionTransports().find((c) => c.pid === child.pid)?.transport).toBe(transport);
    child.kill();
    await child.join();
  });

  it("a child's bytes are taken at put(), whatever the array does after, even a view into a larger buffer", async () => {
    const q = new Queue<Uint8Array | Buffer>();
    const writer = spawn(async (q: Q<Uint8Array | Buffer>) => {
      const bytes = new Uint8Array([1, 2, 3]);
      const put = q.put(bytes);
      bytes[0] = 99;
      await put;
      // A view into the middle of a larger buffer: only its own bytes cross.
      const view = Buffer.from(new Uint8Array([7, 8, 9, 10, 11]).buffer, 1, 3);
      const second = q.put(view);
      view.fill(0);
      await second;
    }, [q], quiet);
    await writer.join();
    expect(await q.get()).toEqual(new Uint8Array([1, 2, 3]));
    const view = await q.get();
    expect(Buffer.isBuffer(view)).toBe(true);
    expect([...view]).toEqual([8, 9, 10]);
  });

  it("items larger than what a consumer is sent ahead (1 MiB) reach a child whole and in order, between small ones", async () => {
    const q = new Queue<Uint8Array | number>();
    const reader = spawn(async (q: Q<Uint8Array | number>) => {
      const got: string[] = [];
      for (let i = 0; i < 6; i++) {
        const item = await q.get();
        got.push(typeof item === "number" ? `n${item}` : `${item.length}:${item[0]}:${item[item.length - 1]}:${item.every((b) => b === item[0])}`);
      }
      return got;
    }, [q], quiet);
    const big = (fill: number) => new Uint8Array(3 << 20).fill(fill);
    for (const item of [1, big(5), 2, big(6), big(7), 3]) await q.put(item);
    expect(await reader.result).toEqual(["n1", `${3 << 20}:5:5:true`, "n2", `${3 << 20}:6:6:true`, `${3 << 20}:7:7:true`, "n3"]);
    await reader.join();
    // The reader's last ack may still be on its way (its socket is not its exit): wait for it.
    await expect.poll(() => q.qsize(), { timeout: 30_000 }).toBe(0);
  });

  it("the seed's writer and reader: a child puts, another child gets, by a typed parameter", async () => {
    const q = new Queue<string>();
    const writer = spawn(async (q: Q<string>) => {
      for (const value of ["A", "B", "C"]) await q.put(value);
    }, [q], quiet);
    const reader = spawn(async (q: Q<string>) => {
      const got: string[] = [];
      for (let i = 0; i < 3; i++) got.push(await q.get());
      return got;
    }, [q], quiet);
    await writer.join();
    expect(await reader.result).toEqual(["A", "B", "C"]);
    const snap = await q.snapshot();
    expect(snap.participants.find((p) => p.pid === writer.pid)?.puts).toBe(3);
    expect(snap.participants.find((p) => p.pid === reader.pid)?.gets).toBe(3);
    // Each side in its own order, on the owner's one clock.
    expect(snap.events.filter((e) => e.op === "put").map((e) => [e.pid, e.item])).toEqual(["'A'", "'B'", "'C'"].map((i) => [writer.pid, i]));
    expect(snap.events.filter((e) => e.op === "get").map((e) => [e.pid, e.item])).toEqual(["'A'", "'B'", "'C'"].map((i) => [reader.pid, i]));
    const times = snap.events.map((e) => e.t);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it("maxsize applies backpressure across processes: a child's put waits until the parent gets", async () => {
    const q = new Queue<number>(1);
    const progress = new Queue<number>();
    const producer = spawn(async (q: Q<number>, progress: Q<number>) => {
      for (let i = 0; i < 3; i++) {
        await q.put(i);
        await progress.put(i);
      }
    }, [q, progress], quiet);
    expect(await progress.get()).toBe(0);
    // The second put cannot enter until an item leaves.
    await expect(progress.get({ timeout: 0.3 })).rejects.toBeInstanceOf(Empty);
    expect(await q.qsize()).toBe(1);
    expect(await q.get()).toBe(0);
    expect(await progress.get()).toBe(1);
    expect(await q.get()).toBe(1);
    expect(await q.get()).toBe(2);
    await producer.join();
  });

  it("timeouts and getNowait in a child reject with Empty and Full, as themselves", async () => {
    const q = new Queue<number>(1);
    const p = spawn(async (q: Q<number>) => {
      const names: string[] = [];
      await q.getNowait().catch((e: Error) => names.push(`${e.name}: ${e.message}`));
      await q.get({ timeout: 0.05 }).catch((e: Error) => names.push(e.name));
      await q.put(1);
      await q.putNowait(2).catch((e: Error) => names.push(e.name));
      await q.put(2, { timeout: 0.05 }).catch((e: Error) => names.push(e.name));
      await q.getNowait(); // throws Empty? no: 1 is there
      throw await q.getNowait().catch((e: Error) => e);
    }, [q], quiet);
    const error = await p.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Empty);
    await p.join();
  });

  it("a killed consumer gives back the item on its way to it; the rest stays for the others", async () => {
    const q = new Queue<string>();
    const consumer = spawn(async (q: Q<string>) => {
      console.log("waiting");
      await q.get();
      console.log("never");
    }, [q], { output: "none" });
    await waitFor("the consumer to wait", async () => (await q.snapshot()).participants.length > 1 || consumer.stdout.includes("waiting"), 30_000);
    consumer.kill();
    await consumer.join();
    await q.put("kept");
    expect(await q.get()).toBe("kept");
  });

  it("a killed producer loses nothing it had put", async () => {
    const q = new Queue<number>();
    const producer = spawn(async (q: Q<number>) => {
      for (let i = 0; i < 1000; i++) await q.put(i);
      console.log("done");
      await new Promise(() => setInterval(() => {}, 1000));
    }, [q], { output: "none" });
    await waitFor("the producer's puts", () => producer.stdout.includes("done"), 60_000);
    producer.kill();
    await producer.join();
    const got: number[] = [];
    for (let i = 0; i < 1000; i++) got.push(await q.get());
    expect(got).toEqual([...Array(1000).keys()]);
    expect(await q.qsize()).toBe(0);
  });

  it("a producer that kills itself the moment its first put resolves loses nothing", async () => {
    const q = new Queue<string>();
    const producer = spawn(async (q: Q<string>) => {
      await q.put("first and last");
      process.kill(process.pid, "SIGKILL");
    }, [q], quiet);
    await producer.join();
    expect(producer.exitCode).toBe(-9);
    expect(await q.get({ timeout: 30 })).toBe("first and last");
  });

  it("a queue passed on to a grandchild still reaches its owner", async () => {
    const q = new Queue<string>();
    const lib = require.resolve("../../dist/src/index.js");
    const child = spawn(async (q: Q<string>, lib: string) => {
      const { spawn } = require(lib);
      const grandchild = spawn(async (q: Q<string>) => q.put(`from grandchild ${process.pid}`), [q], { output: "none" });
      await grandchild.join();
      return grandchild.pid;
    }, [q, lib], quiet);
    const pid = await child.result;
    expect(await q.get()).toBe(`from grandchild ${pid}`);
    await child.join();
    expect(isGone(pid)).toBe(true);
  });

  it("JoinableQueue.join() resolves once a child marked every item done; SimpleQueue and queues inside items", async () => {
    const jobs = new JoinableQueue<number>();
    const results = new SimpleQueue<number>();
    const worker = spawn(async (jobs: InstanceType<typeof JoinableQueue<number>>, out: { results: InstanceType<typeof SimpleQueue<number>> }) => {
      for (;;) {
        const n = await jobs.get();
        await out.results.put(n * n);
        await jobs.taskDone();
      }
    }, [jobs, { results }], quiet);
    for (const n of [1, 2, 3]) await jobs.put(n);
    await jobs.join();
    expect(await results.empty()).toBe(false);
    const squares = [await results.get(), await results.get(), await results.get()];
    expect(squares).toEqual([1, 4, 9]);
    await expect(jobs.taskDone()).rejects.toThrow(/taskDone\(\) called too many times/);
    worker.kill();
    await worker.join();
  });

  it("Pipe: send and recv both ways with a child, poll, and EOFError after close", async () => {
    const [here, there] = Pipe<string>();
    const p = spawn(async (conn: InstanceType<typeof lib.Connection<string>>) => {
      const got = await conn.recv();
      await conn.send(got.toUpperCase());
      conn.close();
    }, [there], quiet);
    expect(await here.poll()).toBe(false);
    await here.send("ping");
    expect(await here.poll(null)).toBe(true);
    expect(await here.recv()).toBe("PING");
    await p.join();
    await expect(here.recv()).rejects.toThrow(/other end of the pipe was closed/);
  });
});

describe("the owner's socket", () => {
  const server = require.resolve("../../dist/src/ipc/server.js");
  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    it(`is removed, with its directory, when its owner is ended by ${signal}`, async () => {
      const report = new Queue<string>();
      const lib = require.resolve("../../dist/src/index.js");
      const owner = spawn(async (report: Q<string>, lib: string, server: string) => {
        const { spawn, Queue } = require(lib);
        // Its own queue, sent to its own child: its socket starts.
        const mine = new Queue();
        const child = spawn(async (q: Q<number>) => q.put(1), [mine], { output: "none" });
        await mine.get();
        await child.join();
        await report.put(require(server).ownerSocketPath());
        await new Promise(() => setInterval(() => {}, 1000));
      }, [report, lib, server], quiet);
      const socket = await report.get();
      const dir = require("node:path").dirname(socket);
      expect(existsSync(socket)).toBe(true);
      if (signal === "SIGKILL") owner.kill();
      else owner.terminate();
      await owner.join();
      // No exit handler runs on these signals: what outlives the owner removes it.
      await waitFor(`${dir} to be removed after its owner's ${signal}`, () => !existsSync(dir), 30_000);
    }, 60_000);
  }
});
