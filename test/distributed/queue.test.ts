/**
 * `new Queue({ redis, name })` and `new JoinableQueue({ redis, name })`, with producers and
 * consumers in different processes: local children (spawn) and a remote worker's task.
 */
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { Empty, Full, JoinableQueue, Queue, RedisJoinableQueue, RedisQueue, spawn } from "../../dist/src/index.js";
import { waitFor } from "../support/processes";
import { redisAvailable } from "../support/redis";
import { answerLosingRelay, cuttingRelay, type AnswerLosingRelay, distributedSetup, freshQueue, holdingRelay, lingeringRelay } from "./helpers";

const enabled = redisAvailable("the distributed Queue tests");

/** The queue's internal idle give-back delay (seconds): long enough here that no round trip of a test outlasts it. */
const AHEAD_IDLE = Symbol.for("forklab.queue.aheadIdle");
const holdAhead = <Q extends object>(queue: Q): Q => Object.assign(queue, { [AHEAD_IDLE]: 3600 });

/** Whether some client of the Redis that `inspect` is connected to waits in a BLMOVE (a get blocked there). */
async function aGetBlocksIn(inspect: Redis): Promise<boolean> {
  return String(await inspect.client("LIST"))
    .split("\n")
    .some((line) => line.includes(" flags=b ") && line.includes("cmd=blmove"));
}

describe.skipIf(!enabled)("Queue on a real redis-server", () => {
  const setup = distributedSetup();

  /**
   * A, B and C put on a fresh queue; a consumer through an answer-losing relay takes all three while
   * `lose` makes its first get lose an answer (Redis ran the command; the client, reconnected, sends
   * it again): each comes once, in order, and none comes back to the queue at close().
   */
  async function takeThreeLosingAnAnswer(label: string, lose: (relay: AnswerLosingRelay) => Promise<void>): Promise<void> {
    const name = freshQueue(label);
    const relay = await answerLosingRelay(setup.redis.port);
    const producer = new Queue<string>({ redis: setup.redis.url, name });
    const q = holdAhead(new Queue<string>({ redis: relay.url, name }));
    try {
      for (const item of ["A", "B", "C"]) await producer.put(item);
      const lost = lose(relay);
      const first = q.get({ timeout: 30 });
      await lost;
      expect([await first, await q.get({ timeout: 30 }), await q.get({ timeout: 30 })]).toEqual(["A", "B", "C"]);
      await q.close();
      // Nothing held back by q comes back to the queue: each item was delivered once.
      await expect(producer.getNowait()).rejects.toBeInstanceOf(Empty);
    } finally {
      await q.close();
      await producer.destroy();
      await relay.close();
    }
  }

  it("FIFO, getNowait on empty, maxsize with putNowait, values by structured clone; the local queue's Empty and Full", async () => {
    const q = new Queue<unknown>({ redis: setup.redis.url, name: freshQueue("fifo"), maxsize: 2 });
    try {
      expect(q).toBeInstanceOf(RedisQueue);
      await expect(q.getNowait()).rejects.toBeInstanceOf(Empty);
      await q.put(new Map([["a", 1n]]));
      await q.put(new Date(0));
      await expect(q.putNowait("third")).rejects.toBeInstanceOf(Full);
      await expect(q.put("third", { timeout: 0.05 })).rejects.toThrow(/Queue\.put\(\): no room in queue "fifo-.*" within 0\.05 s \(maxsize 2\); 'third' was not put/);
      expect(await q.qsize()).toBe(2);
      expect(await q.full()).toBe(true);
      // An item that cannot cross is named by its path, as by a local queue, before anything is sent.
      const refused = await q.putNowait({ n: 1, f: () => 1 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(TypeError);
      expect((refused as Error).message).toMatch(/^item\.f is a function: it cannot be sent through a Queue/);
      expect(await q.get()).toEqual(new Map([["a", 1n]]));
      expect(await q.get({ block: false })).toEqual(new Date(0));
      const late = await q.get({ timeout: 0.05 }).catch((e: unknown) => e);
      expect(late).toBeInstanceOf(Empty);
      expect((late as Error).message).toMatch(/Queue\.get\(\): no item arrived in queue "fifo-.*" within 0\.05 s/);
    } finally {
      await q.destroy();
    }
  });

  it("close() while a get() waits in Redis: the get rejects saying the queue was closed here, not with the client's own error", async () => {
    const name = freshQueue("close-get");
    const q = new Queue<number>({ redis: setup.redis.url, name });
    const inspect = new Redis(setup.redis.port, "127.0.0.1");
    try {
      const waiting = q.get().catch((e: unknown) => e);
      await waitFor("the get to wait in Redis (BLMOVE)", () => aGetBlocksIn(inspect), 30_000);
      await q.close();
      const error = await waiting;
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(new RegExp(`^Queue\\.get\\(\\): queue "${name}" was closed in this process \\(pid ${process.pid}\\) by close\\(\\)`));
    } finally {
      inspect.disconnect();
    }
  });

  it("close() while a get() waits: an item put after close() returned stays in the queue, even when Redis learns late that the get's connection closed", async () => {
    const name = freshQueue("close-late");
    // The get's connection (named "...-get") stays open to Redis after the queue has closed it.
    const relay = await lingeringRelay(setup.redis.port, "-get");
    const q = new Queue<string>({ redis: relay.url, name });
    const other = new Queue<string>({ redis: setup.redis.url, name });
    const inspect = new Redis(setup.redis.port, "127.0.0.1");
    try {
      const waiting = q.get().catch((e: unknown) => e);
      await waitFor("the get to wait in Redis (BLMOVE)", () => aGetBlocksIn(inspect), 30_000);
      const closing = q.close();
      await relay.lingering;
      await closing;
      expect(await waiting).toBeInstanceOf(Error);
      // Put after close() returned: no get of the closed queue may take it.
      await other.put("after close");
      relay.release();
      expect(await other.get({ timeout: 10 })).toBe("after close");
    } finally {
      relay.release();
      inspect.disconnect();
      await other.close();
      await relay.close();
    }
  });

  it("close() while Redis is away returns without it; what the queue held goes back to the others once its heartbeat lapses", async () => {
    const name = freshQueue("close-away");
    const relay = await cuttingRelay(setup.redis.port);
    const q = new JoinableQueue<string>({ redis: relay.url, name });
    const other = new JoinableQueue<string>({ redis: setup.redis.url, name });
    try {
      await q.put("held");
      expect(await q.get()).toBe("held"); // taken and not done: in this consumer's processing list
      relay.cut();
      let closed = false;
      const closing = q.close().finally(() => (closed = true));
      await waitFor("close() to return while Redis is away", () => closed, 30_000);
      await closing;
      relay.mend();
      // Not given back by close(): another consumer takes it back once the heartbeat has lapsed.
      expect(await other.get({ timeout: 60 })).toBe("held");
      await other.taskDone();
    } finally {
      relay.mend();
      await other.destroy();
      await relay.close();
    }
  });

  it("an acknowledgement Redis refused is sent again: the item taken does not stay unacknowledged (it would be delivered twice)", async () => {
    const name = freshQueue("ack-retry");
    const q = new Queue<string>({ redis: setup.redis.url, name });
    const admin = new Redis(setup.redis.port, "127.0.0.1");
    try {
      await q.put("x");
      // Redis refuses LTRIM, the command that acknowledges, until it is allowed again.
      await admin.acl("LOG", "RESET");
      await admin.acl("SETUSER", "default", "-ltrim");
      expect(await q.get()).toBe("x");
      const [processing] = await admin.keys(`forklab:queue:${name}:processing:*`);
      expect(processing, "the consumer's processing list").toBeDefined();
      await waitFor("Redis to refuse the acknowledgement", async () => JSON.stringify(await admin.acl("LOG")).includes("ltrim"), 30_000);
      expect(await admin.llen(processing!)).toBe(1);
      await admin.acl("SETUSER", "default", "+ltrim");
      await waitFor("the acknowledgement to be sent again", async () => (await admin.llen(processing!)) === 0, 30_000);
    } finally {
      await admin.acl("SETUSER", "default", "+ltrim");
      admin.disconnect();
      await q.destroy();
    }
  });

  it("while Redis is away, get and put with a timeout (and getNowait, putNowait) fail when their time is up, saying so; without one they wait for it", async () => {
    const name = freshQueue("away");
    const relay = await cuttingRelay(setup.redis.port);
    const q = new Queue<string>({ redis: relay.url, name });
    try {
      await q.put("before");
      expect(await q.get()).toBe("before"); // both of its connections are open now
      relay.cut();
      // Each of the two connections has seen the cut and tried again.
      await waitFor("the queue's connections to try to reconnect", () => relay.refused >= 2, 30_000);
      const away = /Redis at 127\.0\.0\.1:\d+ is not reachable \(the client tries to reconnect\); check that redis-server runs there/;
      const get = await q.get({ timeout: 0.2 }).catch((e: unknown) => e);
      expect(get).toBeInstanceOf(Empty);
      expect((get as Error).message).toMatch(/^Queue\.get\(\): no item arrived within 0\.2 s: /);
      expect((get as Error).message).toMatch(away);
      await expect(q.getNowait()).rejects.toThrow(away);
      const put = await q.put("late", { timeout: 0.2 }).catch((e: unknown) => e);
      expect(put).toBeInstanceOf(Full);
      expect((put as Error).message).toMatch(/^Queue\.put\(\): 'late' was not put within 0\.2 s: /);
      await expect(q.putNowait("late")).rejects.toBeInstanceOf(Full);
      // Without a timeout, a put waits for Redis to be back; nothing refused above was put.
      const waiting = q.put("after");
      relay.mend();
      await waiting;
      expect(await q.get({ timeout: 30 })).toBe("after");
      await expect(q.getNowait()).rejects.toBeInstanceOf(Empty);
    } finally {
      relay.mend();
      await q.destroy();
      await relay.close();
    }
  });

  it("while Redis is away, many puts with a timeout at once each fail with Full, and no warning of a listener leak is printed", async () => {
    const name = freshQueue("away-many");
    const relay = await cuttingRelay(setup.redis.port);
    const q = new Queue<number>({ redis: relay.url, name });
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on("warning", onWarning);
    try {
      await q.put(0); // its connection is open now
      relay.cut();
      await waitFor("the queue's connection to try to reconnect", () => relay.refused >= 1, 30_000);
      const puts = await Promise.all(Array.from({ length: 20 }, (_, i) => q.put(i + 1, { timeout: 0.2 }).catch((e: unknown) => e)));
      expect(puts.every((e) => e instanceof Full)).toBe(true);
      // A warning is emitted on the next turn of the event loop: one round trip later, it has come.
      relay.mend();
      expect(await q.get({ timeout: 30 })).toBe(0);
      expect(warnings.filter((w) => w.startsWith("MaxListenersExceededWarning"))).toEqual([]);
    } finally {
      process.off("warning", onWarning);
      relay.mend();
      await q.destroy();
      await relay.close();
    }
  });

  it("close() while calls wait for Redis to be back (with a timeout or without): each rejects at once saying the queue was closed here", async () => {
    const name = freshQueue("away-close");
    const relay = await cuttingRelay(setup.redis.port);
    const q = new Queue<string>({ redis: relay.url, name });
    try {
      await q.put("before");
      expect(await q.get()).toBe("before"); // both of its connections are open now
      relay.cut();
      await waitFor("the queue's connections to try to reconnect", () => relay.refused >= 2, 30_000);
      let settled = 0;
      const get = q.get({ timeout: 600 }).catch((e: unknown) => e).finally(() => settled++);
      const put = q.put("late", { timeout: 600 }).catch((e: unknown) => e).finally(() => settled++);
      // Without a timeout: in the client's own queue, which its disconnect() while it waits to
      // reconnect leaves as it is.
      const waitingPut = q.put("later").catch((e: unknown) => e).finally(() => settled++);
      // Their way to that wait is promise steps only, no round trip: after one turn of the event
      // loop all three wait for Redis (closed before that, they would reject at their first step).
      await new Promise((resolve) => setImmediate(resolve));
      await q.close();
      await waitFor("the get and the puts to end with close()", () => settled === 3, 30_000);
      const closed = (method: string) => new RegExp(`^Queue\\.${method}\\(\\): queue "${name}" was closed in this process`);
      expect(((await get) as Error).message).toMatch(closed("get"));
      expect(((await put) as Error).message).toMatch(closed("put"));
      expect(((await waitingPut) as Error).message).toMatch(closed("put"));
    } finally {
      relay.mend();
      await relay.close();
    }
  });

  it("a get with a timeout whose own connection is still connecting takes an item that waits, and does not say that Redis is away", async () => {
    const name = freshQueue("get-connecting");
    // The get's connection (named "...-get") is held in its handshake: it is not ready, Redis is.
    const relay = await holdingRelay(setup.redis.port, "-get");
    const q = new Queue<string>({ redis: relay.url, name });
    try {
      await q.put("waiting");
      const first = q.get({ timeout: 0.2 }).catch((e: unknown) => e);
      await relay.held;
      expect(await first).toBe("waiting");
      const none = await q.get({ timeout: 0.2 }).catch((e: unknown) => e);
      expect(none).toBeInstanceOf(Empty);
      expect((none as Error).message).toMatch(new RegExp(`^Queue\\.get\\(\\): no item arrived in queue "${name}" within 0\\.2 s$`));
    } finally {
      relay.release();
      await q.destroy();
      await relay.close();
    }
  });

  it("a get with a timeout that Redis goes away from while it looks for dead consumers fails when its time is up", async () => {
    const name = freshQueue("away-recover");
    // A get first looks for consumers whose heartbeat is gone (SMEMBERS): held there, then cut.
    const relay = await holdingRelay(setup.redis.port, "smembers");
    const q = new Queue<string>({ redis: relay.url, name });
    try {
      let settled = false;
      const waiting = q
        .get({ timeout: 1 })
        .catch((e: unknown) => e)
        .finally(() => (settled = true));
      await relay.held;
      await relay.close(); // its connections reset, and each reconnect refused
      await waitFor("the get to fail while Redis is away", () => settled, 30_000);
      const error = await waiting;
      expect(error).toBeInstanceOf(Empty);
      expect((error as Error).message).toMatch(/Redis at 127\.0\.0\.1:\d+ is not reachable/);
    } finally {
      await q.close();
      await relay.close();
    }
  });

  it("a get whose answer is lost (the connection breaks as Redis answers) returns its item after the reconnect, and loses none it took with it", async () => {
    await takeThreeLosingAnAnswer("lost-take", (relay) => relay.loseNextAnswerTo("blmove"));
  });

  it("an acknowledgement whose answer is lost, sent again after the reconnect, is applied once: an item taken ahead stays protected", async () => {
    const name = freshQueue("lost-ack");
    const relay = await answerLosingRelay(setup.redis.port);
    const producer = new Queue<string>({ redis: setup.redis.url, name });
    const q = holdAhead(new Queue<string>({ redis: relay.url, name }));
    const admin = new Redis(setup.redis.port, "127.0.0.1");
    try {
      // A first item and its acknowledgement: the script is known to Redis from then on, so the
      // answer lost below is the acknowledgement's, not a request for the script's text.
      await producer.put("first");
      expect(await q.get()).toBe("first");
      const [processing] = await admin.keys(`forklab:queue:${name}:processing:*`);
      expect(processing, "the consumer's processing list").toBeDefined();
      await waitFor("the first acknowledgement", async () => (await admin.llen(processing!)) === 0, 30_000);
      for (const item of ["A", "B", "C"]) await producer.put(item);
      expect(await q.get()).toBe("A");
      // Taken with A: B, held here for the next get (two processes have the queue open, so a get takes half).
      expect(await admin.llen(processing!)).toBe(2);
      // The next script q sends is A's acknowledgement.
      await relay.loseNextAnswerTo("evalsha");
      // Sent after the acknowledgement on the same connection: answered once Redis has run it again.
      await q.qsize();
      // A's acknowledgement dropped A; applied twice, it would have dropped B too.
      expect(await admin.llen(processing!)).toBe(1);
      expect(await q.get()).toBe("B");
      await q.close();
      expect(await producer.getNowait()).toBe("C");
      await expect(producer.getNowait()).rejects.toBeInstanceOf(Empty);
    } finally {
      admin.disconnect();
      await q.close();
      await producer.destroy();
      await relay.close();
    }
  });

  it("a get whose round trip is answered in part (the move, not the take beside it) returns what Redis took for it, and loses none", async () => {
    // BLMOVE's answer (A) arrives, the take's (A and B, its share) does not: Redis ran both.
    await takeThreeLosingAnAnswer("half-answered", (relay) => relay.loseNextAnswerTo("blmove", 1));
  });

  it("a get with a timeout whose round trip was in flight when Redis went away fails when its time is up; what Redis moved for it then is the next get's", async () => {
    const name = freshQueue("away-in-flight");
    const relay = await cuttingRelay(setup.redis.port);
    const q = new Queue<string>({ redis: relay.url, name });
    const producer = new Queue<string>({ redis: setup.redis.url, name });
    const admin = new Redis(setup.redis.port, "127.0.0.1");
    try {
      await q.put("before");
      expect(await q.get()).toBe("before"); // both of its connections are open now
      let settled = false;
      const waiting = q
        .get({ timeout: 1 })
        .catch((e: unknown) => e)
        .finally(() => (settled = true));
      await waitFor("the get to wait in Redis (BLMOVE)", () => aGetBlocksIn(admin), 30_000);
      relay.cut();
      await waitFor("the get to fail while Redis is away", () => settled, 30_000);
      const error = await waiting;
      expect(error).toBeInstanceOf(Empty);
      expect((error as Error).message).toMatch(/^Queue\.get\(\): no item arrived within 1 s: Redis at 127\.0\.0\.1:\d+ is not reachable/);
      // The client sends that round trip again once Redis is back, and it moves this item.
      await producer.put("meanwhile");
      relay.mend();
      expect(await q.get({ timeout: 30 })).toBe("meanwhile");
      await q.close();
      await expect(producer.getNowait()).rejects.toBeInstanceOf(Empty);
    } finally {
      relay.mend();
      admin.disconnect();
      await q.close();
      await producer.destroy();
      await relay.close();
    }
  });

  it("a change sent again after NOSCRIPT (the script cache flushed) is applied even when a change of another script sent after it ran first", async () => {
    const name = freshQueue("noscript");
    // Held: the give-back by SHA (its keys name the landing list, not the last take's answer), and all after it on its connection.
    const giveBackBySha = (chunk: Buffer): boolean => {
      const text = chunk.toString("latin1");
      return text.includes("evalsha") && text.includes(`${name}:landing:`) && !text.includes(`${name}:last:`);
    };
    const relay = await holdingRelay(setup.redis.port, giveBackBySha);
    const q = holdAhead(new JoinableQueue<string>({ redis: relay.url, name }));
    const admin = new Redis(setup.redis.port, "127.0.0.1");
    try {
      for (const item of ["A", "B", "C", "D"]) await q.put(item);
      expect(await q.get()).toBe("A"); // B, C and D taken ahead
      Object.assign(q, { [AHEAD_IDLE]: 0.01 });
      expect(await q.get()).toBe("B");
      // C and D go back: the give-back script is known on q's connection from then on.
      await waitFor("the items taken ahead to go back", async () => (await admin.llen(`forklab:queue:${name}:items`)) === 2, 30_000);
      await admin.script("FLUSH");
      expect(await q.get()).toBe("C"); // D taken ahead, and given back by SHA: NOSCRIPT, sent again
      await relay.held;
      // A's taskDone, the first on that connection (sent with its text), arrives right behind it.
      const done = q.taskDone();
      await waitFor("the taskDone to be sent behind the give-back", () => relay.holds("PUBLISH"), 30_000);
      relay.release();
      await done;
      // In turn after the give-back: D is back in the queue.
      expect(await q.getNowait()).toBe("D");
    } finally {
      relay.release();
      admin.disconnect();
      await q.destroy();
      await relay.close();
    }
  });

  it("destroy() removes its own queue's data only, not that of a queue whose name starts with its name and a colon", async () => {
    const name = freshQueue("ns");
    const parent = new JoinableQueue<string>({ redis: setup.redis.url, name });
    const child = new JoinableQueue<string>({ redis: setup.redis.url, name: `${name}:processing:child` });
    const admin = new Redis(setup.redis.port, "127.0.0.1");
    try {
      await parent.put("parent's");
      await child.put("child's");
      await child.put("taken");
      expect(await child.get()).toBe("child's"); // in the child queue's processing list, not done
      await parent.destroy();
      expect(await admin.keys(`forklab:queue:${name}:*`)).not.toContain(`forklab:queue:${name}:items`);
      expect(await child.qsize()).toBe(1);
      expect(await child.unfinished()).toBe(2);
      await child.close(); // gives back what it held
      const again = new JoinableQueue<string>({ redis: setup.redis.url, name: `${name}:processing:child` });
      expect([await again.getNowait(), await again.getNowait()]).toEqual(["child's", "taken"]);
      await again.destroy();
      expect(await admin.keys(`forklab:queue:${name}*`)).toEqual([]);
    } finally {
      admin.disconnect();
      await child.close();
    }
  });

  it("bad options fail at once with a TypeError naming the option; the local forms still make local queues", () => {
    expect(() => new Queue({ redis: "http://127.0.0.1:1", name: "q" })).toThrow(/redis .* has the scheme "http:"/);
    expect(() => new Queue({ redis: setup.redis.url, name: "has space" })).toThrow(/new Queue\(\{ redis \}\): option name must be/);
    expect(() => new JoinableQueue({ redis: setup.redis.url, name: "q", maxsize: -1 })).toThrow(/new JoinableQueue\(\{ redis \}\): option maxsize must be a whole number/);
    expect(() => new Queue({ redis: setup.redis.url, name: "q", maxSize: 3 } as never)).toThrow(/option maxSize must be one of the options/);
    const local = new Queue(3);
    expect(local).not.toBeInstanceOf(RedisQueue);
    expect(local.maxsize).toBe(3);
    expect(new JoinableQueue()).toBeInstanceOf(JoinableQueue);
  });

  it("a queue passed to a local child arrives there as the same queue on Redis", async () => {
    const q = new Queue<number>({ redis: setup.redis.url, name: freshQueue("handle") });
    try {
      const child = spawn(async (queue: typeof q) => {
        const n = await queue.get();
        await queue.put(n * 2);
        await queue.close();
        return String(queue.constructor.name);
      }, [q]);
      await q.put(21);
      expect(await child.result).toBe("RedisQueue");
      expect(await q.get({ timeout: 30 })).toBe(42);
    } finally {
      await q.destroy();
    }
  });

  it("a child that takes items and exits at once, without close(), leaves none unacknowledged (they would be delivered again)", async () => {
    const name = freshQueue("ack");
    const q = new Queue<number>({ redis: setup.redis.url, name });
    const { Redis } = await import("ioredis");
    const inspect = new Redis(setup.redis.port, setup.redis.host);
    try {
      for (let i = 0; i < 3; i++) await q.put(i);
      const child = spawn(async (queue: typeof q) => {
        const got = [await queue.get(), await queue.get(), await queue.get()];
        process.exit(got.join(",") === "0,1,2" ? 0 : 1);
      }, [q]);
      await child.join();
      expect(child.exitCode).toBe(0);
      await waitFor("the child's processing list to be emptied", async () => (await inspect.keys(`forklab:queue:${name}:processing:*`)).length === 0, 30_000);
      expect(await q.qsize()).toBe(0);
    } finally {
      inspect.disconnect();
      await q.destroy();
    }
  });

  it("a get takes the waiting items in one round trip, no more than its share; those it took ahead go back in order at close(), and when its process exits", async () => {
    const name = freshQueue("ahead");
    const admin = new Redis(setup.redis.port, "127.0.0.1");
    const first = holdAhead(new Queue<number>({ redis: setup.redis.url, name }));
    const second = holdAhead(new Queue<number>({ redis: setup.redis.url, name }));
    try {
      for (let i = 0; i < 10; i++) await first.put(i);
      await second.qsize(); // both have the queue open: each takes at most half of what waits
      await admin.config("RESETSTAT");
      expect(await first.get()).toBe(0);
      const calls = (command: string): number => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
      let stats = await admin.info("commandstats");
      expect(calls("blmove"), "blocking moves for the first get").toBe(1);
      // It took 1 + floor(9 / 2) = 5; the other consumer finds the 5 left.
      expect(await admin.llen(`forklab:queue:${name}:items`)).toBe(5);
      await admin.config("RESETSTAT");
      expect([await first.get(), await first.get(), await first.get(), await first.get()]).toEqual([1, 2, 3, 4]);
      stats = await admin.info("commandstats");
      expect(calls("blmove"), "gets answered from what was taken ahead").toBe(0);
      // The other took 5 and 6 (its share of the 5 left); at its close(), 6 goes back to the queue.
      expect(await second.getNowait()).toBe(5);
      expect(await admin.llen(`forklab:queue:${name}:items`)).toBe(3);
      await second.close();
      expect(await admin.llen(`forklab:queue:${name}:items`)).toBe(4);
      // A child takes 6 and 7 (its share) and exits without close(): 7 is back at the front, at once.
      const child = spawn(async (queue: typeof first) => {
        const got = await queue.get();
        process.exit(got === 6 ? 0 : 1);
      }, [first]);
      await child.join();
      expect(child.exitCode).toBe(0);
      // Its give-back travels on its own connection, which Redis may read after this process's
      // next command: wait until it has arrived, not for the child's exit alone.
      await waitFor("the child's item taken ahead to be back in the queue", async () => (await admin.llen(`forklab:queue:${name}:items`)) === 3, 30_000);
      const left: number[] = [];
      for (let i = 7; i < 10; i++) left.push(await first.getNowait());
      expect(left).toEqual([7, 8, 9]);
      await expect(first.getNowait()).rejects.toBeInstanceOf(Empty);
    } finally {
      admin.disconnect();
      await second.close();
      await first.destroy();
    }
  });

  it("items taken ahead go back to the front of the queue, in order, when no get comes for a while", async () => {
    const name = freshQueue("ahead-idle");
    const admin = new Redis(setup.redis.port, "127.0.0.1");
    const q = holdAhead(new Queue<number>({ redis: setup.redis.url, name }));
    try {
      for (let i = 0; i < 6; i++) await q.put(i);
      expect(await q.get()).toBe(0);
      // Alone on the queue, it took all of them ahead; none is in the queue's list.
      expect(await admin.llen(`forklab:queue:${name}:items`)).toBe(0);
      // From now on a short idle delay: the next get re-arms the give-back with it.
      Object.assign(q, { [AHEAD_IDLE]: 0.05 });
      expect(await q.get()).toBe(1);
      await waitFor("the items taken ahead to go back", async () => (await admin.llen(`forklab:queue:${name}:items`)) === 4, 30_000);
      const other = new Queue<number>({ redis: setup.redis.url, name });
      const got: number[] = [];
      for (let i = 0; i < 4; i++) got.push(await other.getNowait());
      await other.close();
      expect(got).toEqual([2, 3, 4, 5]);
    } finally {
      admin.disconnect();
      await q.destroy();
    }
  });

  it("a get whose round trip moved an item but failed in its other half keeps that item for the next get: none is lost or delivered twice", async () => {
    const name = freshQueue("half-failed");
    const admin = new Redis(setup.redis.port, "127.0.0.1");
    const user = `forklab-half-${process.pid}`;
    // A user that may move items but not run scripts: BLMOVE succeeds, the script beside it fails.
    await admin.acl("SETUSER", user, "on", ">pw", "~*", "&*", "+@all", "-evalsha", "-eval");
    const q = new Queue<number>({ redis: setup.redis.url.replace("redis://", `redis://${user}:pw@`), name });
    try {
      for (let i = 1; i <= 3; i++) await q.put(i);
      await expect(q.get()).rejects.toThrow(/NOPERM/);
      await admin.acl("SETUSER", user, "+@all");
      expect([await q.get(), await q.get(), await q.get()]).toEqual([1, 2, 3]);
      await q.close();
      const after = new Queue<number>({ redis: setup.redis.url, name });
      await expect(after.getNowait()).rejects.toBeInstanceOf(Empty);
      await after.destroy();
    } finally {
      await q.close();
      await admin.acl("DELUSER", user);
      admin.disconnect();
    }
  });

  it("a bounded queue takes no item ahead: after one get exactly one more put fits, and qsize() agrees from every process", async () => {
    const name = freshQueue("bounded-ahead");
    const producer = new Queue<number>({ redis: setup.redis.url, name, maxsize: 8 });
    const consumer = holdAhead(new Queue<number>({ redis: setup.redis.url, name, maxsize: 8 }));
    try {
      for (let i = 0; i < 8; i++) await producer.putNowait(i);
      expect(await consumer.get()).toBe(0);
      await producer.putNowait(8);
      await expect(producer.putNowait(9)).rejects.toBeInstanceOf(Full);
      expect(await producer.qsize()).toBe(8);
      expect(await consumer.qsize()).toBe(8);
      expect(await consumer.getNowait()).toBe(1);
      await producer.putNowait(9);
      await expect(producer.putNowait(10)).rejects.toBeInstanceOf(Full);
      expect([await producer.qsize(), await consumer.qsize(), await consumer.full()]).toEqual([8, 8, true]);
    } finally {
      await consumer.close();
      await producer.destroy();
    }
  });

  it("a child that used a queue and never closed it ends when its target returns, and is kept alive while its get waits", async () => {
    const items = new Queue<number>({ redis: setup.redis.url, name: freshQueue("open-items") });
    const signals = new Queue<string>({ redis: setup.redis.url, name: freshQueue("open-signals") });
    try {
      const child = spawn(async (queue: typeof items, said: typeof signals) => {
        await said.put("waiting");
        // Nothing but this get keeps the child alive until the parent puts.
        return (await queue.get()) * 2;
      }, [items, signals]);
      expect(await signals.get({ timeout: 60 })).toBe("waiting");
      await items.put(21);
      expect(await child.result).toBe(42);
      await child.join();
      expect(child.exitCode).toBe(0);
    } finally {
      await items.destroy();
      await signals.destroy();
    }
  });

  it("a queue passed to a remote worker's task, at any depth, arrives there as the same queue; task after task reuses it", async () => {
    const items = new Queue<number>({ redis: setup.redis.url, name: freshQueue("remote-items") });
    const results = new JoinableQueue<string>({ redis: setup.redis.url, name: freshQueue("remote-results") });
    const queueName = freshQueue("remote-handle");
    await setup.worker(queueName);
    const pool = setup.pool(queueName);
    try {
      for (let i = 1; i <= 3; i++) await items.put(i);
      const take = async (where: { from: typeof items; to: typeof results }[], tag: string) => {
        const { from, to } = where[0]!;
        const n = await from.get({ timeout: 30 });
        await to.put(`${tag}:${n * n}:${from.constructor.name}:${to.constructor.name}`);
        // Whether an earlier task in this child got this very object.
        const child = globalThis as { seen?: Set<unknown> };
        const before = child.seen?.has(from) === true;
        (child.seen ??= new Set()).add(from);
        return before;
      };
      const reused = await pool.starmap(take, [[[{ from: items, to: results }], "a"], [[{ from: items, to: results }], "b"], [[{ from: items, to: results }], "c"]], 1);
      const got = [await results.get({ timeout: 30 }), await results.get({ timeout: 30 }), await results.get({ timeout: 30 })];
      expect(got.sort()).toEqual(["a:1:RedisQueue:RedisJoinableQueue", "b:4:RedisQueue:RedisJoinableQueue", "c:9:RedisQueue:RedisJoinableQueue"].sort());
      // One worker of one slot: the first task opened the queue, the next two got that same object.
      expect(reused).toEqual([false, true, true]);
      expect(await items.qsize()).toBe(0);
      expect(await results.unfinished()).toBe(3);
    } finally {
      await pool.terminate();
      await items.destroy();
      await results.destroy();
    }
  });

  it("join() while the unfinished count falls to 0 and rises again waits for the next taskDone without asking Redis over and over", async () => {
    const name = freshQueue("join-again");
    const q = new JoinableQueue<number>({ redis: setup.redis.url, name });
    const inspect = new Redis(setup.redis.port, "127.0.0.1");
    // join() reads the count with GET; nothing else in this test does.
    const gets = async (): Promise<number> => Number(/cmdstat_get:calls=(\d+)/.exec(String(await inspect.info("commandstats")))?.[1] ?? 0);
    try {
      // Once through, so that both scripts are known to Redis on this connection: below, each is
      // one command, and the two arrive in the order they were sent.
      await q.put(0);
      expect(await q.get()).toBe(0);
      await q.taskDone();
      await q.put(1);
      expect(await q.get()).toBe(1);
      let joined = false;
      const joining = q.join().then(() => (joined = true));
      const subscribed = async (): Promise<boolean> => ((await inspect.pubsub("NUMSUB", `forklab:queue:${name}:done`)) as [string, number])[1] === 1;
      await waitFor("join() to listen for the count's end", subscribed, 30_000);
      const before = await gets();
      // On one connection, in this order: the count reaches 0 (and says so), then an item comes.
      void q.taskDone();
      void q.put(2);
      await waitFor("join() to read the count again after it was told", async () => (await gets()) > before, 30_000);
      // As many round trips of this test's own as join() would make if it asked again at once each time.
      const start = await gets();
      for (let i = 0; i < 50; i++) await inspect.ping();
      expect((await gets()) - start).toBeLessThan(10);
      expect(joined).toBe(false);
      expect(await q.get()).toBe(2);
      await q.taskDone();
      await joining;
    } finally {
      inspect.disconnect();
      await q.destroy();
    }
  });

  it("producers in child processes, consumers in child processes and on a remote worker: every item once; join() waits for taskDone", async () => {
    const name = freshQueue("jq");
    const q = new JoinableQueue<{ from: string; i: number } | null>({ redis: setup.redis.url, name });
    expect(q).toBeInstanceOf(RedisJoinableQueue);
    const options = q.options;
    const produce = async (spec: typeof options, from: string, count: number) => {
      const { JoinableQueue } = require("forklab");
      const queue = new JoinableQueue(spec);
      for (let i = 0; i < count; i++) await queue.put({ from, i });
      await queue.close();
    };
    const consume = async (spec: typeof options) => {
      const { JoinableQueue } = require("forklab");
      const queue = new JoinableQueue(spec);
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
    await setup.worker(queueName);
    const pool = setup.pool(queueName);
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
