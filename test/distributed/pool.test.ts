import { existsSync } from "node:fs";
import * as util from "node:util";
import { describe, expect, it, vi } from "vitest";
import { DistributedPool, DistributedTaskError, PoolTerminatedError, RedisConnectionError } from "../../dist/src/index.js";
import { START_LOG_PREFIX, workersKey } from "../../dist/src/distributed/tasks.js";
import { isGone, processTable, waitFor } from "../support/processes";
import { redisAvailable, TestRedis } from "../support/redis";
import { cuttingRelay, distributedSetup, freshQueue, holdingRelay, startWorker, type RunningWorker } from "./helpers";

const enabled = redisAvailable("the distributed Pool tests");

const ENDLESS_STARTED = "forklab-test: endless task started";
/**
 * A task that never ends, and says when it has started: on fd 2 itself, which the worker passes on
 * to its own stderr (a task's process.stdout/stderr writes travel to its caller instead).
 */
const endless = () => {
  require("node:fs").writeSync(2, "forklab-test: endless task started\n");
  return new Promise(() => {});
};

/** The forklab child runtimes a worker process runs (its task slots), by pid. */
function taskChildren(workerPid: number): number[] {
  return [...processTable()].filter(([, info]) => info.ppid === workerPid && info.cmdline.includes("child/main.js")).map(([pid]) => pid);
}

describe.skipIf(!enabled)("distributed Pool on a real redis-server", () => {
  const setup = distributedSetup();
  const { worker, pool } = setup;

  it("maps many tasks over two workers: every result once, in order, from both workers", async () => {
    const queue = freshQueue("map");
    await Promise.all([worker(queue), worker(queue)]);
    const p = pool(queue);
    const square = (n: number) => ({ n, square: n * n, pid: process.pid });
    const results = await p.map(square, Array.from({ length: 400 }, (_, i) => i), 5);
    expect(results.map((r) => r.n)).toEqual(Array.from({ length: 400 }, (_, i) => i));
    expect(results.every((r) => r.square === r.n * r.n)).toBe(true);
    // Both worker hosts ran tasks (each in its own child process).
    const rows = p.stats().workers;
    expect(rows).toHaveLength(2);
    expect(rows.every((row) => row.done > 0)).toBe(true);
    expect(rows.reduce((sum, row) => sum + row.done, 0)).toBe(400);
    expect(p.stats()).toMatchObject({ pending: 0, done: 400, failed: 0 });
  });

  it("refuses a function that uses a name it cannot take along, with a pool's advice", async () => {
    const p = pool(freshQueue("free-name"));
    const factor = 3;
    await expect(async () => p.apply((n: number) => n * factor, [2])).rejects.toThrow(
      /factor: defined outside the function; pass it as an argument \(add a parameter and call pool\.apply\(fn, \[factor\]\), or give it with each item: pool\.starmap/,
    );
  });

  it("apply, applyAsync, starmap, imap and imapUnordered keep Python's shapes; values cross by structured clone", async () => {
    const queue = freshQueue("surface");
    await worker(queue);
    const p = pool(queue);
    expect(await p.apply((a: number, b: number) => a + b, [2, 3])).toBe(5);
    const result = p.applyAsync((m: Map<string, bigint>) => new Set([...m.values()].map((v) => v * 2n)), [new Map([["a", 21n]])]);
    expect(await result.get()).toEqual(new Set([42n]));
    expect(result.ready() && result.successful()).toBe(true);
    expect(await p.starmap((a: number, b: number) => a * b, [[2, 3], [4, 5]])).toEqual([6, 20]);
    const ordered: number[] = [];
    for await (const v of p.imap((n: number) => n + 1, [1, 2, 3])) ordered.push(v);
    expect(ordered).toEqual([2, 3, 4]);
    const unordered: number[] = [];
    for await (const v of p.imapUnordered((n: number) => n * 10, [1, 2, 3])) unordered.push(v);
    expect(unordered.sort((a, b) => a - b)).toEqual([10, 20, 30]);
  });

  it("an error thrown by the target comes back with its class, message and properties, once, not retried", async () => {
    const queue = freshQueue("error");
    await worker(queue);
    const p = pool(queue);
    const boom = (n: number) => {
      const error = new RangeError(`bad ${n}`);
      Object.assign(error, { code: "E_BAD" });
      throw error;
    };
    const error = await p.apply(boom, [7]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect(error).toMatchObject({ message: "bad 7", code: "E_BAD" });
    // Its child's frame is a position in boom's own text, which the error carries.
    const cause = (error as Error).cause as { stack: string; targetSource?: string };
    const lines = boom.toString().split("\n");
    const line = lines.findIndex((l) => l.includes("new RangeError")) + 1;
    expect(cause.stack).toContain(`(<target>:${line}:${lines[line - 1]!.indexOf("new RangeError") + 1})`);
    expect(cause.targetSource).toBe(boom.toString());
    expect(p.stats()).toMatchObject({ failed: 1, retries: 0 });
    // Its worker's row counts the attempt that failed there.
    expect(p.stats().workers.map((row) => row.attemptsFailed)).toEqual([1]);
  });

  it("with retryErrors, a target that throws every time gives a typed error whose cause is its last error, frames in the target", async () => {
    const queue = freshQueue("retried-error");
    await worker(queue);
    const p = pool(queue, { attempts: 2, retryErrors: true });
    const boom = (n: number) => {
      throw new RangeError(`bad ${n}`);
    };
    const error = (await p.apply(boom, [7]).catch((e: unknown) => e)) as DistributedTaskError;
    expect(error).toBeInstanceOf(DistributedTaskError);
    expect(error.failures.map((f) => [f.attempt, f.kind])).toEqual([[1, "error"], [2, "error"]]);
    const last = error.cause as RangeError & { cause: { stack: string; targetSource?: string } };
    expect(last).toBeInstanceOf(RangeError);
    expect(last.message).toBe("bad 7");
    // As for an error not retried: a kernel finds the target's text in its cell.
    expect(last.cause.stack).toContain("(<target>:2:");
    expect(last.cause.targetSource).toBe(boom.toString());
  });

  it("a child that crashes mid-task takes down that task, not the worker: retried, then a typed error with each attempt's worker", async () => {
    const queue = freshQueue("crash");
    const w = await worker(queue);
    const p = pool(queue, { attempts: 2 });
    const error = (await p.apply(() => process.kill(process.pid, "SIGKILL"), []).catch((e: unknown) => e)) as DistributedTaskError;
    expect(error).toBeInstanceOf(DistributedTaskError);
    expect(error.attempts).toBe(2);
    expect(error.failures.map((f) => [f.attempt, f.kind])).toEqual([[1, "crash"], [2, "crash"]]);
    expect(error.message).toContain(`attempt 1 on`);
    expect(error.message).toMatch(/killed by SIGKILL/);
    // One retry and one task failed; both attempts failed on the one worker, the last one included.
    expect(p.stats()).toMatchObject({ failed: 1, retries: 1 });
    expect(p.stats().workers.map((row) => [row.id, row.attemptsFailed])).toEqual([[expect.stringMatching(`:${w.pid}$`), 2]]);
    // The worker host lives on and takes the next task.
    expect(w.child.exitCode).toBeNull();
    expect(await p.apply((x: number) => x * 2, [21])).toBe(42);
  });

  it("events that come before the pool's event reader has asked for any still reach the pool: its task shows as running", async () => {
    const queue = freshQueue("early-events");
    const w = await worker(queue);
    // The pool's first XREAD (its event reader's) waits in the relay until the task has started.
    const relay = await holdingRelay(setup.redis.port, "xread");
    try {
      const p = pool(queue, { redis: relay.url });
      await relay.held;
      const forever = p.apply(endless, []).catch((e: unknown) => e);
      await waitFor("the worker's child to start the endless task", () => w.log().includes(ENDLESS_STARTED), 30_000);
      relay.release();
      // Only the task's start event says it runs (nothing else reads a running job's state).
      await waitFor("the pool to see its task running", () => p.stats().running === 1, 30_000);
      await p.terminate();
      expect(await forever).toBeInstanceOf(PoolTerminatedError);
    } finally {
      relay.release();
      await relay.close();
    }
  });

  it("terminate() removes the pool's waiting tasks from Redis and rejects their callers", async () => {
    const queue = freshQueue("terminate");
    const p = pool(queue); // no worker: every task waits in Redis
    await p.ready();
    const results = Array.from({ length: 5 }, (_, i) => p.apply((n: number) => n, [i]).catch((e: unknown) => e));
    const { Queue } = await import("bullmq");
    const inspect = new Queue(queue, { connection: { host: "127.0.0.1", port: setup.redis.port } });
    try {
      await expect.poll(() => inspect.getWaitingCount(), { timeout: 30_000 }).toBe(5);
      await p.terminate();
      for (const r of await Promise.all(results)) expect(r).toBeInstanceOf(PoolTerminatedError);
      expect(await inspect.getWaitingCount()).toBe(0);
    } finally {
      await inspect.close();
    }
  });

  it("terminate() also ends a task running on a worker: its child process is gone, not retried; the worker lives on and takes the next pool's work", async () => {
    const queue = freshQueue("cancel");
    const w = await worker(queue);
    const p = pool(queue);
    const forever = p.apply(endless, []).catch((e: unknown) => e);
    // The task itself says it runs (its child's output reaches the worker's): only then is a child
    // sure to exist and to hold it. The worker's own children also include its reaper (a shell).
    await waitFor("the worker's child to start the endless task", () => w.log().includes(ENDLESS_STARTED), 30_000);
    const [child, ...others] = taskChildren(w.pid);
    expect(child, "the worker's task child").toBeDefined();
    expect(others).toEqual([]);
    await p.terminate();
    expect(await forever).toBeInstanceOf(PoolTerminatedError);
    // The worker says so on its stderr, a pipe this process reads in its own time: wait for the words.
    const cancelled = new RegExp(`cancelled by its pool's terminate\\(\\); ending its child ${child}`);
    await waitFor("the worker to say it cancels the task", () => cancelled.test(w.log()), 30_000);
    await waitFor(`the task's child ${child} to end`, () => isGone(child!), 30_000);
    // The worker lives on, with a fresh child, and runs the next pool's task.
    const next = pool(queue);
    expect(await next.apply((x: number) => [x * 2, process.pid], [21])).toEqual([42, expect.any(Number)]);
    expect(w.child.exitCode).toBeNull();
    expect(next.stats().workers.map((row) => row.id)).toEqual([expect.stringMatching(new RegExp(`:${w.pid}$`))]);
    expect(taskChildren(w.pid)).not.toContain(child);
    // The cancelled task failed for good: it is not waiting to run again.
    const { Queue } = await import("bullmq");
    const inspect = new Queue(queue, { connection: { host: "127.0.0.1", port: setup.redis.port } });
    try {
      expect(await inspect.getJobCounts("waiting", "active", "delayed", "failed")).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 1 });
    } finally {
      await inspect.close();
    }
  });

  it("terminate() while a worker is still starting the task (writing its start record): the task never starts, fails for good, and the worker lives on", async () => {
    const queue = freshQueue("cancel-start");
    // The worker's connection that writes the task's start record waits on it here, so the cancel
    // surely arrives before the task has reached a child.
    const relay = await holdingRelay(setup.redis.port, START_LOG_PREFIX);
    const { Queue } = await import("bullmq");
    const inspect = new Queue(queue, { connection: { host: "127.0.0.1", port: setup.redis.port } });
    let w: RunningWorker | undefined;
    try {
      w = await worker(queue, { redisUrl: relay.url });
      const p = pool(queue);
      const forever = p.apply(endless, []).catch((e: unknown) => e);
      await relay.held;
      const [idle] = taskChildren(w.pid);
      await p.terminate();
      expect(await forever).toBeInstanceOf(PoolTerminatedError);
      // The cancel has done what it does before the worker goes on: refused the task, or (as it
      // once did) killed the slot's idle child and seen it exit, which then let the task start in a
      // fresh child and run for ever.
      await waitFor(
        "the worker to act on the terminate()",
        () => w.log().includes("it will not start") || (idle !== undefined && !existsSync(`/proc/${idle}`)),
        30_000,
      );
      relay.release();
      await expect.poll(() => inspect.getJobCounts("waiting", "active", "delayed", "failed"), { timeout: 30_000 }).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 1 });
      // Its stderr is a pipe this process reads in its own time: wait for the words, not assume them.
      await waitFor("the worker to say the task will not start", () => w!.log().includes("it will not start"), 30_000);
      expect(w.log()).not.toContain(ENDLESS_STARTED);
      // The worker lives on and runs the next pool's task.
      expect(await pool(queue).apply((x: number) => x * 2, [21])).toBe(42);
      expect(w.child.exitCode).toBeNull();
    } finally {
      await inspect.close();
      relay.release();
      // The worker reaches Redis through the relay: it leaves first.
      await w?.stop();
      await relay.close();
    }
  });

  it("an argument that cannot cross fails at once, named by its path; a local queue is refused, named by its path", async () => {
    const queue = freshQueue("uncloneable");
    const p = pool(queue); // no worker: nothing may reach Redis
    expect(() => p.applyAsync((o: { f: () => void }) => o, [{ f: () => {} }])).toThrow(/^args\[0\]\.f is a function: it cannot be sent to a worker/);
    // In a map, the item that cannot cross is named by its place in the iterable, past the first chunk.
    await expect(p.map((o: unknown) => o, [1, 2, { f: () => {} }], 2)).rejects.toThrow(/^iterable\[2\]\.f is a function: it cannot be sent to a worker/);
    await expect(p.starmap((a: number, b: unknown) => a, [[1, 2], [3, () => {}]], 1)).rejects.toThrow(/^iterable\[1\]\[1\] is a function: it cannot be sent to a worker/);
    const { Queue, Pipe } = await import("../../dist/src/index.js");
    const local = new Queue<number>();
    const [end] = Pipe();
    // A queue on Redis beside them is fine; the local handle is what is named.
    const onRedis = new Queue<number>({ redis: setup.redis.url, name: freshQueue("beside") });
    try {
      expect(() => p.applyAsync((x: unknown) => x, [{ jobs: [onRedis, local] }])).toThrow(
        /^args\[0\]\.jobs\[1\] is a local Queue of this process: a task on a remote worker cannot reach it\. Share items with remote tasks through a queue on Redis: new Queue\(\{ redis, name \}\)/,
      );
      await expect(p.map((x: unknown) => x, [1, new Map([["end", end]])], 1)).rejects.toThrow(/^iterable\[1\]\.get\("end"\) is a local Connection of this process/);
    } finally {
      await onRedis.close();
      local.close();
      end.close();
    }
    // Nothing was left pending: close() and join() return at once.
    expect(p.stats()).toMatchObject({ pending: 0 });
    p.close();
    await p.join();
  });

  it("the picture judges each worker by its own beat, as of the registry's read: one that beats slowly is alive, one that missed its beats and never ran this pool's tasks is not shown", async () => {
    const queue = freshQueue("beats");
    const { Redis } = await import("ioredis");
    const client = new Redis(setup.redis.port, "127.0.0.1");
    const now = Date.now();
    const record = (host: string, pid: number, every: number, seen: number) =>
      JSON.stringify({ host, pid, concurrency: 2, acceptSource: false, started: now - 60_000, seen, every, running: 0, done: 0, failed: 0 });
    try {
      // Both last beat 30 s ago: a worker that beats every 20 s has missed none; one that beats every second, many.
      await client.hset(workersKey(queue), "slow:1", record("slow", 1, 20_000, now - 30_000), "lost:2", record("lost", 2, 1000, now - 30_000));
      const p = pool(queue);
      await p.ready();
      p.close();
      await p.join(); // its last picture reads the registry
      const text = util.inspect(p);
      expect(text).toMatch(/^ {2}slow:1, 2 slots: 0 running, 0 done, 0 attempts failed$/m);
      expect(text).not.toContain("lost:2");
    } finally {
      client.disconnect();
    }
  });

  it("while Redis is away the pool prints nothing (its clients try again quietly); once it is back, the pool runs tasks again", async () => {
    const queue = freshQueue("away");
    const relay = await cuttingRelay(setup.redis.port);
    // BullMQ prints there an error that nothing listens for, with its stack, at every reconnect.
    const printed = vi.spyOn(console, "error");
    const p = new DistributedPool({ redis: relay.url, queue });
    try {
      await p.ready();
      relay.cut();
      await waitFor("the pool's clients to try to reconnect a few times", () => relay.refused >= 6, 30_000);
      relay.mend();
      await worker(queue);
      expect(await p.apply((x: number) => x + 1, [1])).toBe(2);
      expect(printed).not.toHaveBeenCalled();
    } finally {
      printed.mockRestore();
      relay.mend();
      await p.terminate();
      await relay.close();
    }
  });

  it("terminate() while Redis is away returns after connectTimeout with an error naming the address and what may be left; its callers are rejected", async () => {
    const queue = freshQueue("terminate-away");
    const relay = await cuttingRelay(setup.redis.port);
    const { Queue } = await import("bullmq");
    const inspect = new Queue(queue, { connection: { host: "127.0.0.1", port: setup.redis.port } });
    const p = new DistributedPool({ redis: relay.url, queue, connectTimeout: 1 });
    try {
      await p.ready();
      const result = p.apply((x: number) => x, [1]).catch((e: unknown) => e); // no worker: it waits in Redis
      await expect.poll(() => inspect.getWaitingCount(), { timeout: 30_000 }).toBe(1);
      relay.cut();
      let settled = false;
      const terminated = p.terminate().then(
        () => undefined,
        (e: unknown) => e,
      );
      void terminated.finally(() => (settled = true));
      await waitFor("terminate() to return while Redis is away", () => settled, 30_000);
      const error = await terminated;
      expect(error).toBeInstanceOf(RedisConnectionError);
      expect((error as Error).message).toMatch(/^pool\.terminate\(\): Redis at 127\.0\.0\.1:\d+ did not answer within 1 s, so this pool's 1 task\(s\) may still wait there/);
      expect(await result).toBeInstanceOf(PoolTerminatedError);
    } finally {
      relay.mend();
      await inspect.obliterate({ force: true });
      await inspect.close();
      await relay.close();
    }
  });

  it("a bad URL fails at once with a TypeError; an unreachable server with the address and what to check", async () => {
    expect(() => new DistributedPool({ redis: "http://127.0.0.1:6379", queue: "q" })).toThrow(TypeError);
    expect(() => new DistributedPool({ redis: "redis://127.0.0.1:6379", queue: "has space" })).toThrow(/option queue/);
    const { freePort } = await import("../../kernel/runner/launch");
    const port = await freePort("127.0.0.1");
    const p = new DistributedPool({ redis: `redis://127.0.0.1:${port}`, queue: "q" });
    await expect(p.ready()).rejects.toThrow(new RegExp(`Cannot reach Redis at 127\\.0\\.0\\.1:${port}.*ECONNREFUSED.*start redis-server`));
    await expect(p.apply((x: number) => x, [1])).rejects.toThrow(/Cannot reach Redis/);
    await p.terminate();
  });
});

describe.skipIf(!enabled)("new Pool({ redis, queue })", () => {
  it("makes a distributed Pool; other arguments still make the local Pool", async () => {
    const { Pool, DistributedPool: Distributed } = await import("../../dist/src/index.js");
    const redis = await TestRedis.start();
    const queue = freshQueue("pool-class");
    const w = await startWorker(redis.url, queue, { acceptSource: true });
    const pool = new Pool({ redis: redis.url, queue });
    try {
      expect(pool).toBeInstanceOf(Distributed);
      expect(await pool.map((n: number) => n + 1, [1, 2])).toEqual([2, 3]);
      const local = new Pool(1);
      expect(local).toBeInstanceOf(Pool);
      await local.terminate();
    } finally {
      await pool.terminate();
      await w.stop();
      await redis.dispose();
    }
  });
});
