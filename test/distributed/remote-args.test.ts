/**
 * A remote task's arguments with their queues on Redis replaced by markers: a container met twice,
 * or through a cycle, becomes one copy holding the marker, as structured clone would keep it.
 */
import { describe, expect, it } from "vitest";
import { Queue } from "../../dist/src/index.js";
import { withRemoteQueues } from "../../dist/src/parent/distributed/remote-args.js";
import { HANDLE_KEY } from "../../dist/src/protocol/handles.js";
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
      const { value, found } = withRemoteQueues([map, map, set, set, loop, plain], "args");
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
});
