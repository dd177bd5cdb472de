/**
 * Queue and JoinableQueue on Redis, with producers and consumers in different processes: local
 * children (spawn) and a remote worker's task.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DistributedPool, QueueEmptyError, QueueFullError, RedisJoinableQueue, RedisQueue, spawn } from "../../dist/src/index.js";
import { redisAvailable, TestRedis } from "../support/redis";
import { freshQueue, startWorker, type RunningWorker } from "./helpers";

const enabled = redisAvailable("the distributed Queue tests");

describe.skipIf(!enabled)("Queue on a real redis-server", () => {
  let redis: TestRedis;
  const workers: RunningWorker[] = [];

  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.dispose();
  });

  it("FIFO, getNowait on empty, maxsize with putNowait, values by structured clone", async () => {
    const q = new RedisQueue<unknown>({ redis: redis.url, name: freshQueue("fifo"), maxsize: 2 });
    try {
      await expect(q.getNowait()).rejects.toBeInstanceOf(QueueEmptyError);
      await q.put(new Map([["a", 1n]]));
      await q.put(new Date(0));
      await expect(q.putNowait("third")).rejects.toBeInstanceOf(QueueFullError);
      expect(await q.qsize()).toBe(2);
      expect(await q.get()).toEqual(new Map([["a", 1n]]));
      expect(await q.get()).toEqual(new Date(0));
      await expect(q.get(true, 0.05)).rejects.toThrow(/empty after 0.05 s/);
    } finally {
      await q.destroy();
    }
  });

  it("producers in child processes, consumers in child processes and on a remote worker: every item once; join() waits for taskDone", async () => {
    const name = freshQueue("jq");
    const q = new RedisJoinableQueue<{ from: string; i: number } | null>({ redis: redis.url, name });
    const options = q.options;
    const produce = async (spec: typeof options, from: string, count: number) => {
      const { RedisJoinableQueue } = require("forklab");
      const queue = new RedisJoinableQueue(spec);
      for (let i = 0; i < count; i++) await queue.put({ from, i });
      await queue.close();
    };
    const consume = async (spec: typeof options) => {
      const { RedisJoinableQueue } = require("forklab");
      const queue = new RedisJoinableQueue(spec);
      const got: unknown[] = [];
      for (;;) {
        const item = await queue.get();
        await queue.taskDone();
        if (item === null) break;
        got.push(item);
      }
      await queue.close();
      return got;
    };
    const consumers = [spawn(consume, [options]), spawn(consume, [options])];
    const queueName = freshQueue("jq-pool");
    workers.push(await startWorker(redis.url, queueName, { acceptSource: true }));
    const pool = new DistributedPool({ redis: redis.url, queue: queueName });
    try {
      const remote = pool.apply(consume, [options]);
      const producers = [spawn(produce, [options, "a", 40]), spawn(produce, [options, "b", 40])];
      await Promise.all(producers.map((p) => p.result));
      await q.join();
      expect(await q.unfinished()).toBe(0);
      for (let i = 0; i < 3; i++) await q.put(null);
      const got = [...(await Promise.all(consumers.map((c) => c.result))), await remote] as { from: string; i: number }[][];
      const all = got.flat();
      expect(all).toHaveLength(80);
      expect(new Set(all.map((x) => `${x.from}${x.i}`)).size).toBe(80);
      // FIFO per producer: each consumer sees each producer's items in the order they were put.
      for (const list of got) {
        for (const from of ["a", "b"]) {
          const seen = list.filter((x) => x.from === from).map((x) => x.i);
          expect(seen).toEqual([...seen].sort((x, y) => x - y));
        }
      }
      await q.join();
    } finally {
      await pool.terminate();
      await q.destroy();
    }
  });
});
