import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as lib from "../../dist/src/index.js";
import { waitFor } from "../support/processes";
const { spawn, Queue, Pipe, Pool, EOFError, activeChildren } = lib;
type Q<T> = InstanceType<typeof Queue<T>>;
type Conn<T> = InstanceType<typeof lib.Connection<T>>;

const quiet = { output: "none" as const };

afterAll(() => {
  for (const p of activeChildren()) p.kill();
});

describe("delivery between processes", () => {
  it("numbers, strings, booleans, null, undefined and bytes come out of a child as structured clone gives them", async () => {
    const q = new Queue<unknown>();
    const back = new Queue<unknown>();
    const bytes = new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4);
    const items: unknown[] = [-0, NaN, 1.5, "héllo 🙂", "lone \ud800", true, false, null, undefined, bytes, Buffer.from("buf"), { n: 1 }];
    const echo = spawn(async (q: Q<unknown>, back: Q<unknown>, n: number) => {
      for (let i = 0; i < n; i++) {
        const v = await q.get();
        await back.put([v, Object.prototype.toString.call(v), v instanceof Uint8Array ? [v.byteOffset, v.buffer.byteLength, v.constructor.name] : null]);
      }
    }, [q, back, items.length], quiet);
    for (const item of items) await q.put(item);
    for (const item of items) {
      const [v, tag, view] = (await back.get()) as [unknown, string, [number, number, string] | null];
      expect(v).toEqual(item);
      expect(Object.is(v, item) || typeof item === "object").toBe(true);
      expect(tag).toBe(Object.prototype.toString.call(item));
      // A Uint8Array view comes out as a copy of its own bytes only; a Buffer as a Buffer.
      if (item instanceof Buffer) expect(view?.[2]).toBe("Buffer");
      else if (item instanceof Uint8Array) expect(view).toEqual([0, item.byteLength, "Uint8Array"]);
    }
    await echo.join();
  });

  it("numbers a child puts in one go, more than its ring holds, each come out as it was put (unbounded and with maxsize)", async () => {
    // A child writes each number's bytes where the next one's go: every put must have copied them first.
    const n = 60_000;
    for (const maxsize of [0, 50_000]) {
      const q = new Queue<number>(maxsize);
      const producer = spawn(async (q: Q<number>, n: number) => {
        const puts: Promise<void>[] = [];
        for (let i = 0; i < n; i++) puts.push(q.put(i * 1.5));
        await Promise.all(puts);
      }, [q, n], quiet);
      const got: number[] = [];
      for (let i = 0; i < n; i++) got.push(await q.get());
      await producer.join();
      expect(producer.exitCode).toBe(0);
      expect(got).toEqual(Array.from({ length: n }, (_, i) => i * 1.5));
    }
  }, 120_000);

  it("a consumer waiting in get() holds no timer and no immediate, only its sockets, until an item comes", async () => {
    const q = new Queue<string>();
    const report = new Queue<string[]>();
    const consumer = spawn(async (q: Q<string>, report: Q<string[]>) => {
      // A first item opens the consumer's window; the wait looked at is the second get().
      await q.get();
      const second = q.get();
      // After the get() has started waiting: what keeps this process alive now (this callback's
      // own immediate is over by then).
      setImmediate(() => void report.put(process.getActiveResourcesInfo()));
      return second;
    }, [q, report], quiet);
    await q.put("first");
    const resources = await report.get();
    await q.put("second");
    expect(await consumer.result).toBe("second");
    // Waiting polls nothing: no Timeout, no Immediate; the sockets (to the owner, to the parent) remain.
    expect(resources.filter((kind) => kind === "Timeout" || kind === "Immediate")).toEqual([]);
    expect(resources.length).toBeGreaterThan(0);
  });

  it("a queue that comes home inside an item is the owner's own queue again", async () => {
    const q = new Queue<number>();
    const carrier = new Queue<Q<number>>();
    const child = spawn(async (q: Q<number>, carrier: Q<Q<number>>) => {
      await carrier.put(q);
    }, [q, carrier], quiet);
    const back = await carrier.get();
    await child.join();
    await back.put(5);
    expect(await q.getNowait()).toBe(5);
    expect(back.ownerPid).toBe(process.pid);
  });

  it("a queue passed to Pool(2) tasks: each task puts into it, the parent gets every item", async () => {
    const q = new Queue<[number, number]>();
    const pool = new Pool(2);
    try {
      const pids = await Promise.all(
        [0, 1, 2, 3, 4, 5].map((i) =>
          pool
            .applyAsync(async (q: Q<[number, number]>, i: number) => {
              await q.put([i, process.pid]);
              return process.pid;
            }, [q, i])
            .get(),
        ),
      );
      const got: [number, number][] = [];
      for (let i = 0; i < 6; i++) got.push(await q.get());
      expect(got.map(([i]) => i).sort()).toEqual([0, 1, 2, 3, 4, 5]);
      for (const [i, pid] of got) expect(pid).toBe(pids[i]);
      expect(new Set(pids).size).toBeLessThanOrEqual(2);
      expect(await q.qsize()).toBe(0);
    } finally {
      pool.terminate();
      await pool.join();
    }
  });

  it("a pipe end whose holder's process ended reads EOF, naming that process, without close()", async () => {
    const [here, there] = Pipe<string>();
    const child = spawn(async (conn: Conn<string>) => {
      await conn.send("last words");
      // Ends without conn.close().
    }, [there], quiet);
    expect(await here.recv()).toBe("last words");
    await child.join();
    const error = await here.recv().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EOFError);
    expect((error as Error).message).toContain(`the process that held the other end of the pipe (pid ${child.pid}) ended`);
    expect(await here.poll()).toBe(true);
  });

  it("a child reading a pipe until EOF sees it after the items, when the writer closes, and when the writer's process ends", async () => {
    const readAll = async (conn: Conn<string>) => {
      const got: string[] = [];
      try {
        for (;;) got.push(await conn.recv());
      } catch (error) {
        return [got, (error as Error).message];
      }
    };
    const [here, there] = Pipe<string>();
    const reader = spawn(readAll, [there], quiet);
    for (const word of ["a", "b", "c"]) await here.send(word);
    // Whether the reader has read them yet or not: its window is open, and its next recv() waits
    // without telling the owner, which must send it the end all the same.
    here.close();
    expect(await reader.result).toEqual([["a", "b", "c"], expect.stringContaining("the other end of the pipe was closed")]);

    const [readEnd, writeEnd] = Pipe<string>(false);
    const writer = spawn(async (conn: Conn<string>) => {
      for (const word of ["x", "y"]) await conn.send(word);
    }, [writeEnd], quiet);
    const otherReader = spawn(readAll, [readEnd], quiet);
    expect(await otherReader.result).toEqual([["x", "y"], expect.stringContaining(`(pid ${writer.pid}) ended`)]);
    await writer.join();
    await reader.join();
    await otherReader.join();
  }, 60_000);

  it("a get() that timed out in one child leaves the next item to a child still waiting", async () => {
    const q = new Queue<string>();
    const gaveUp = spawn(async (q: Q<string>) => {
      await q.get({ timeout: 0.2 }).catch(() => {});
      // Answered after the owner has read all this child sent before (one socket, in order).
      await q.qsize();
      console.log("gave up");
      // Stays alive without getting again.
      await new Promise(() => setInterval(() => {}, 1000));
    }, [q], quiet);
    await waitFor("the first child's get() to time out", () => gaveUp.stdout.includes("gave up"), 60_000);
    const waiting = spawn(async (q: Q<string>) => {
      const item = q.get();
      await q.qsize();
      console.log("waiting");
      return item;
    }, [q], quiet);
    await waitFor("the second child to wait", () => waiting.stdout.includes("waiting"), 60_000);
    await q.put("x");
    expect(await waiting.result).toBe("x");
    // The child's ack travels on the queue's socket, its result on its own channel: the ack may
    // reach this process after the result, and qsize() counts the item until it has.
    await expect.poll(() => q.qsize(), { timeout: 30_000 }).toBe(0);
    gaveUp.kill();
    await gaveUp.join();
  }, 60_000);

  it("a pipe end sent to two children shows no EOF when the first ends before the second has it", async () => {
    const [here, there] = Pipe<string>();
    const go = new Queue<string>();
    // Spawned in the same tick; the first ends at once, the second sends only once the parent says so.
    const first = spawn(async (_conn: Conn<string>) => {}, [there], quiet);
    const second = spawn(async (conn: Conn<string>, go: Q<string>) => {
      await go.get();
      await conn.send("from the second");
    }, [there, go], quiet);
    await first.join();
    await go.put("go");
    expect(await here.recv()).toBe("from the second");
    await second.join();
    const error = await here.recv().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EOFError);
    expect((error as Error).message).toContain(`(pid ${second.pid}) ended`);
  }, 60_000);

  it("a pipe end put in a queue item counts as held until the child that gets it has it, after its first holder ended", async () => {
    const [here, there] = Pipe<string>();
    const carrier = new Queue<Conn<string>>();
    await carrier.put(there);
    const first = spawn(async (_conn: Conn<string>) => {}, [there], quiet);
    await first.join();
    // Only now does the second child get the end, from the item.
    const second = spawn(async (carrier: Q<Conn<string>>) => {
      const conn = await carrier.get();
      await conn.send("from the item");
    }, [carrier], quiet);
    expect(await here.recv()).toBe("from the item");
    await second.join();
    await expect(here.recv()).rejects.toBeInstanceOf(EOFError);
  }, 60_000);

  it("a consumer that stops getting gives back what it was sent ahead when another consumer waits", async () => {
    const q = new Queue<number>();
    const idle = spawn(async (q: Q<number>) => {
      const first = await q.get();
      console.log(`took ${first}`);
      // Stays alive without getting again: what the owner sent it ahead sits in its buffer.
      await new Promise(() => setInterval(() => {}, 1000));
    }, [q], { output: "none" });
    for (let i = 0; i < 10; i++) await q.put(i);
    await waitFor("the idle consumer's first item", () => idle.stdout.includes("took 0"), 60_000);
    // The owner's own get() waits only if everything else went ahead to the idle consumer; either
    // way it must get the rest, in order.
    const rest: number[] = [];
    for (let i = 1; i < 10; i++) rest.push(await q.get());
    expect(rest).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await q.qsize()).toBe(0);
    idle.kill();
    await idle.join();
  });

  /** A child that took item 0 of `n` and stops getting, holding what the owner sent it ahead. */
  async function idleHolding(q: Q<number>, n: number) {
    const idle = spawn(async (q: Q<number>) => {
      console.log(`took ${await q.get()}`);
      await new Promise(() => setInterval(() => {}, 1000));
    }, [q], quiet);
    await waitFor("the idle consumer to wait", async () => (await q.snapshot()).participants.some((p) => p.pid === idle.pid), 60_000);
    for (let i = 0; i < n; i++) await q.put(i);
    await waitFor("the idle consumer's first item", () => idle.stdout.includes("took 0"), 60_000);
    return idle;
  }

  it("the owner's getNowait() gets back, in order, what was sent ahead to a consumer that stopped getting", async () => {
    const q = new Queue<number>();
    const idle = await idleHolding(q, 10);
    expect(await q.qsize()).toBe(9);
    // A getNowait() that finds nothing here asks the idle consumer for what it holds; one soon
    // finds it (every one said Empty while qsize() counted nine, for as long as that consumer lived).
    const nowait = () => q.getNowait().catch((e: unknown) => (e instanceof lib.Empty ? "Empty" : Promise.reject(e)));
    await expect.poll(nowait, { timeout: 30_000 }).toBe(1);
    const rest: (number | string)[] = [];
    for (let i = 2; i < 10; i++) rest.push(await nowait());
    expect(rest).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    idle.kill();
    await idle.join();
  }, 60_000);

  it("a child's getNowait() gets back, in order, what was sent ahead to another consumer that stopped getting", async () => {
    const q = new Queue<number>();
    const idle = await idleHolding(q, 10);
    const taker = spawn(async (q: Q<number>) => {
      const got: number[] = [];
      for (let tries = 0; got.length < 9 && tries < 100_000; tries++) {
        const item = await q.getNowait().catch(() => undefined);
        // Between tries, a round trip to the owner (no timer).
        if (item === undefined) await q.qsize();
        else got.push(item);
      }
      return got;
    }, [q], quiet);
    expect(await taker.result).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    idle.kill();
    await idle.join();
  }, 60_000);

  it("items given back by consumers that ended go back in order, without sorting the queue they rejoin", async () => {
    const q = new Queue<number>();
    const consumers = [0, 1].map(() =>
      spawn(async (q: Q<number>) => {
        console.log(`took ${await q.get()}`);
        // Stays alive without getting again: what the owner sent it ahead sits in its buffer.
        await new Promise(() => setInterval(() => {}, 1000));
      }, [q], quiet),
    );
    // More than both consumers are sent ahead, so that some stay with the owner.
    const N = 400;
    for (let i = 0; i < N; i++) await q.put(i);
    for (const c of consumers) await waitFor("a consumer's first item", () => c.stdout.includes("took"), 60_000);
    const taken = consumers.map((c) => Number(/took (\d+)/.exec(c.stdout)![1]));
    const heldHere = await q.qsize();
    // Every sort of queued items while they come back: none may hold more than one consumer was sent.
    const sorted: number[] = [];
    const sort = Array.prototype.sort;
    Array.prototype.sort = function (this: unknown[], ...args: Parameters<typeof sort>) {
      const first = this[0] as { seq?: unknown; bytes?: unknown } | undefined;
      if (typeof first?.seq === "number" && Buffer.isBuffer(first.bytes)) sorted.push(this.length);
      return sort.apply(this, args);
    } as typeof sort;
    const rest: number[] = [];
    try {
      for (const c of consumers) (c.kill(), await c.join());
      // A consumer's exit and its socket's close reach this process by different ways: wait until
      // the owner has taken back what both held, so that the gets below see them in place.
      await expect.poll(async () => (await q.snapshot()).inFlight, { timeout: 30_000 }).toBe(0);
      for (let i = 0; i < N - 2; i++) rest.push(await q.get());
    } finally {
      Array.prototype.sort = sort;
    }
    expect(rest).toEqual([...Array(N).keys()].filter((i) => !taken.includes(i)));
    expect(heldHere).toBe(N - 2);
    // 128: the window of a consumer (WINDOW in src/ipc/client.ts).
    for (const length of sorted) expect(length).toBeLessThanOrEqual(128);
  }, 60_000);
});

describe("consumers that share a queue", () => {
  it("a consumer busy between its gets holds no items back: another one gets the next while it works", async () => {
    const q = new Queue<number>();
    for (let i = 0; i < 8; i++) await q.put(i);
    const marker = path.join(mkdtempSync(path.join(tmpdir(), "forklab-busy-")), "second got one");
    // The first consumer takes an item, then works without yielding to its event loop (as
    // CPU-bound code does) until the second one has taken one: had it been sent the rest ahead,
    // they would wait with it, and neither would go on.
    const busy = spawn(async (q: Q<number>, marker: string) => {
      const first = await q.get();
      const fs = require("node:fs");
      while (!fs.existsSync(marker)) fs.statSync(".");
      return first;
    }, [q, marker], quiet);
    await waitFor("the busy consumer's item", async () => (await q.snapshot()).gets === 1, 60_000);
    const other = spawn(async (q: Q<number>, marker: string) => {
      const item = await q.get();
      require("node:fs").writeFileSync(marker, "");
      return item;
    }, [q, marker], quiet);
    const [a, b] = [await busy.result, await other.result];
    rmSync(path.dirname(marker), { recursive: true, force: true });
    expect([a, b].sort()).toEqual([0, 1]);
    expect(await q.qsize()).toBe(6);
  }, 60_000);

  it("each producer's items come out of each of three consumers in order, while the consumers pause now and then", async () => {
    const N = 2000;
    const q = new Queue<[number, number] | null>();
    const consumers = [0, 1, 2].map(() =>
      spawn(async (q: Q<[number, number] | null>) => {
        const got: [number, number][] = [];
        for (;;) {
          const item = await q.get();
          if (item === null) return got;
          got.push(item);
          // Uneven speeds: a consumer that pauses is one whose items sent ahead get recalled.
          if (item[1] % 13 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        }
      }, [q], quiet),
    );
    const producers = [0, 1].map((k) =>
      spawn(async (q: Q<[number, number] | null>, k: number, n: number) => {
        for (let i = 0; i < n; i++) await q.put([k, i]);
      }, [q, k, N], quiet),
    );
    for (const p of producers) await p.join();
    for (const _ of consumers) await q.put(null);
    const parts = (await Promise.all(consumers.map((c) => c.result))) as [number, number][][];
    for (const got of parts) {
      for (const k of [0, 1]) {
        const mine = got.filter(([from]) => from === k).map(([, i]) => i);
        expect(mine).toEqual([...mine].sort((x, y) => x - y));
      }
    }
    expect(parts.flat().length).toBe(2 * N);
    expect(new Set(parts.flat().map(([k, i]) => k * N + i)).size).toBe(2 * N);
  }, 120_000);

  it("a lone consumer waiting with its window open still gets its item once a second consumer has come", async () => {
    const q = new Queue<number>();
    const joined = new Queue<string>();
    for (let i = 0; i < 10; i++) await q.put(i);
    // Getting in a loop, the first consumer is sent items ahead; its eleventh get() then waits
    // without a word to the owner, which keeps sending to it unasked while it is the only one.
    const first = spawn(async (q: Q<number>) => {
      for (let i = 0; i < 10; i++) await q.get();
      return await q.get();
    }, [q], quiet);
    await waitFor("the first consumer's ten items", async () => (await q.snapshot()).gets === 10, 60_000);
    const second = spawn(async (q: Q<number>, joined: Q<string>) => {
      await q.getNowait().catch(() => undefined);
      await joined.put("joined");
      return await q.get();
    }, [q, joined], quiet);
    expect(await joined.get()).toBe("joined");
    await q.put(10);
    await q.put(11);
    expect([await first.result, await second.result].sort()).toEqual([10, 11]);
  }, 60_000);

  it("a pipe's poll() in a child counts the item on its way there: it never waits past it", async () => {
    const [here, there] = Pipe<string>();
    const go = new Queue<number>();
    const reader = spawn(async (conn: Conn<string>, go: Q<number>, rounds: number) => {
      await conn.recv();
      let polled = 0;
      for (let i = 0; i < rounds; i++) {
        await go.put(i);
        // A poll(null) that missed the item now on its way would wait for ever.
        if (await conn.poll(null)) polled++;
        await conn.recv();
      }
      return polled;
    }, [there, go, 60], quiet);
    await here.send("start");
    for (let i = 0; i < 60; i++) {
      await go.get();
      await here.send(`item ${i}`);
    }
    expect(await reader.result).toBe(60);
  }, 60_000);
});

describe("a million messages", () => {
  it("1 000 000 items from 3 producers to 2 consumers, each exactly once, FIFO per producer", async () => {
    const PER = 333_334;
    const q = new Queue<number>();
    const producers = [0, 1, 2].map((k) =>
      spawn(async (q: Q<number>, k: number, per: number) => {
        for (let i = 0; i < per; i++) await q.put(k * 1e7 + i);
      }, [q, k, PER], quiet),
    );
    const consumers = [0, 1].map(() =>
      spawn(async (q: Q<number>) => {
        // Sent back as one typed array: a million numbers as a plain array would be a slow clone.
        const seen: number[] = [];
        for (;;) {
          const v = await q.get();
          if (v < 0) return Float64Array.from(seen);
          seen.push(v);
        }
      }, [q], quiet),
    );
    for (const p of producers) await p.join();
    await q.put(-1);
    await q.put(-1);
    const parts = (await Promise.all(consumers.map((c) => c.result))) as Float64Array[];
    const count = new Uint8Array(3 * PER);
    let ordered = true;
    for (const seen of parts) {
      const last = [-1, -1, -1];
      for (const v of seen) {
        const k = Math.floor(v / 1e7);
        const i = v % 1e7;
        if (i <= last[k]!) ordered = false;
        last[k] = i;
        count[k * PER + i]!++;
      }
    }
    expect(ordered).toBe(true);
    expect(parts[0]!.length + parts[1]!.length).toBe(3 * PER);
    expect(count.every((c) => c === 1)).toBe(true);
  }, 300_000);
});
