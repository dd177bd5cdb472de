/**
 * A remote task's arguments with their queues on Redis replaced by markers: a container met twice,
 * or through a cycle, becomes one copy holding the marker, as structured clone would keep it.
 */
import { describe, expect, it } from "vitest";
import { Queue } from "../../dist/src/index.js";
import { withRemoteQueues } from "../../dist/src/parent/distributed/remote-args.js";
import { parseRedisUrl } from "../../dist/src/distributed/connection.js";
import { HANDLE_KEY, TO_HANDLE } from "../../dist/src/protocol/handles.js";
import { useWorkerRedis, withQueuesForChild } from "../../dist/src/worker/remote-queues.js";
import { redisAvailable } from "../support/redis";
import { distributedSetup, freshQueue } from "./helpers";

const enabled = redisAvailable("the remote arguments tests");

describe.skipIf(!enabled)("a remote task's arguments with a queue on Redis", () => {
  const setup = distributedSetup();

  it("a Map, a Set or an object that appears twice, or in a cycle, becomes one copy with the queue's marker at every occurrence", async () => {
    const q = new Queue({ redis: setup.redis.url, name: freshQueue("marker") });
    try {
      const map = new Map([["q", q]]);
      const set = new Set([q]);
      const loop: { q: unknown; self?: unknown } = { q };
      loop.self = loop;
      const plain = { n: 1 };
      const { value, found } = withRemoteQueues([map, map, set, set, loop, plain], "args", parseRedisUrl(setup.redis.url, "redis", {}));
      expect(found).toBe(true);
      const [m1, m2, s1, s2, l, p] = value as [Map<string, unknown>, Map<string, unknown>, Set<unknown>, Set<unknown>, { q: unknown; self: unknown }, unknown];
      const isMarker = (v: unknown) => typeof v === "object" && v !== null && HANDLE_KEY in v;
      expect(m1).not.toBe(map);
      expect(m2).toBe(m1);
      expect(isMarker(m1.get("q"))).toBe(true);
      expect(s1).not.toBe(set);
      expect(s2).toBe(s1);
      expect([...s1].every(isMarker)).toBe(true);
      expect(l).not.toBe(loop);
      expect(l.self).toBe(l);
      expect(isMarker(l.q)).toBe(true);
      // Nothing to replace: the same object.
      expect(p).toBe(plain);
      expect(loop.q).toBe(q);
    } finally {
      await q.close();
    }
  });

  it("a queue on the pool's Redis is opened by the worker with its own --redis address; one on another loopback Redis is refused on the caller", async () => {
    const name = freshQueue("own-redis");
    const q = new Queue({ redis: setup.redis.url, name });
    try {
      const { value } = withRemoteQueues([q], "args", parseRedisUrl(setup.redis.url, "redis", {}));
      const marker = (value as unknown[])[0] as { state: { poolsRedis: boolean } };
      expect(marker.state.poolsRedis).toBe(true);
      // On the worker's host, the same Redis is reached at another address.
      useWorkerRedis("redis://redis.internal:7000/0", { password: "worker-secret" });
      const [forChild] = withQueuesForChild([marker]) as [{ [TO_HANDLE]: () => { state: { options: Record<string, unknown> } } }];
      expect(forChild[TO_HANDLE]().state.options).toEqual({ name, maxsize: 0, redis: "redis://redis.internal:7000/0", redisOptions: { password: "worker-secret" } });
      // A pool on another Redis: this queue's loopback address means nothing on a worker's host.
      expect(() => withRemoteQueues({ q }, "args", parseRedisUrl("redis://10.1.2.3:6379", "redis", {}))).toThrow(
        new RegExp(`^args\\.q is the queue "${name}" on Redis at 127\\.0\\.0\\.1:\\d+, a loopback address: .*Open the queue on the pool's Redis \\(10\\.1\\.2\\.3:6379\\)`),
      );
    } finally {
      await q.close();
    }
  });
});
