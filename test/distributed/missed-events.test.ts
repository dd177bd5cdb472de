/**
 * A pool that never heard its tasks end (their events were trimmed from the stream while it was
 * away, or never reached it) reads its pending jobs back from Redis: every one of them after a
 * reconnect, and otherwise a batch now and then, going round. The oldest pending jobs here are
 * held by another worker for as long as the test runs, as long tasks would be, so a pool that read
 * back only its oldest jobs would never find the later ones that ended.
 */
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { PoolTerminatedError, type DistributedPool } from "../../dist/src/index.js";
import { waitFor } from "../support/processes";
import { redisAvailable } from "../support/redis";
import { cuttingRelay, distributedSetup, freshQueue, holdingRelay } from "./helpers";

const enabled = redisAvailable("the tests of a pool that missed its tasks' events");

/** Internal to the pool: seconds between its periodic read-backs (see pool.ts). */
const RECONCILE_EVERY = Symbol.for("forklab.distributedPool.reconcileEvery");
/** More than the pool reads back in one batch (200). */
const HELD = 201;
const LATE = 50;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe.skipIf(!enabled)("a pool that missed its tasks' events, on a real redis-server", () => {
  const setup = distributedSetup();
  const { worker, pool } = setup;

  /**
   * Submit HELD tasks and then LATE ones; another worker takes the HELD oldest and keeps them
   * running, a forklab worker runs the LATE ones. `whileUnheard` makes sure the pool hears none of
   * their ends before it returns. Resolves with the callers of both.
   */
  async function heldAndLate(p: DistributedPool, queue: string, whileUnheard: { before(): void | Promise<void>; after(): void | Promise<void> }) {
    const connection = { host: "127.0.0.1", port: setup.redis.port };
    const inspect = new Queue(queue, { connection });
    // A worker that takes jobs and never finishes them, its locks long enough for the whole test.
    const holder = new Worker(queue, null, { connection, lockDuration: 3_600_000, autorun: false });
    const admin = new Redis(setup.redis.port, "127.0.0.1");
    try {
      const held = p.map((n: number) => n, range(HELD), 1).catch((e: unknown) => e);
      const late = p.map((n: number) => n * 2, range(LATE), 1);
      await expect.poll(() => inspect.getWaitingCount(), { timeout: 30_000 }).toBe(HELD + LATE);
      const taken: number[] = [];
      for (let i = 0; i < HELD; i++) {
        const job = await holder.getNextJob("held-by-the-test", { block: false });
        taken.push(Number(job!.id!.split("-").at(-1)));
      }
      // The pool's oldest pending jobs are the held ones.
      expect(taken).toEqual(range(HELD).map((i) => i + 1));
      await whileUnheard.before();
      await worker(queue);
      await expect.poll(() => inspect.getCompletedCount(), { timeout: 60_000 }).toBe(LATE);
      // The stream forgets them, as BullMQ's trimming to its last 10,000 events does.
      await admin.xtrim(inspect.keys.events, "MAXLEN", 0);
      await whileUnheard.after();
      return { held, late };
    } finally {
      admin.disconnect();
      await holder.close(true);
      await inspect.close();
    }
  }

  /** Every late caller gets its result; the held ones are rejected by terminate(). */
  async function expectAllAnswered(p: DistributedPool, { held, late }: { held: Promise<unknown>; late: Promise<number[]> }) {
    let results: number[] | undefined;
    void late.then((values) => (results = values));
    await waitFor(`the ${LATE} callers behind the ${HELD} held tasks to get their results`, () => results !== undefined, 60_000);
    expect(results).toEqual(range(LATE).map((n) => n * 2));
    expect(p.stats()).toMatchObject({ pending: HELD, done: LATE });
    await p.terminate();
    expect(await held).toBeInstanceOf(PoolTerminatedError);
  }

  it(`after a reconnect it reads back every pending job, not the oldest 200: ${LATE} tasks that ended behind ${HELD} still running reach their callers`, async () => {
    const queue = freshQueue("reconnect-read-back");
    const relay = await cuttingRelay(setup.redis.port);
    try {
      const p = pool(queue, { redis: relay.url });
      // Only the read-back after the reconnect may find them: the periodic one is off.
      Object.assign(p, { [RECONCILE_EVERY]: 3600 });
      await p.ready();
      const callers = await heldAndLate(p, queue, {
        before: () => relay.cut(),
        after: () => relay.mend(),
      });
      await expectAllAnswered(p, callers);
    } finally {
      await relay.close();
    }
  });

  it(`without a reconnect its periodic read-back goes round every pending job: ${LATE} tasks that ended behind ${HELD} still running reach their callers`, async () => {
    const queue = freshQueue("periodic-read-back");
    // The pool's event reader waits in the relay for the whole test: no event reaches the pool.
    const relay = await holdingRelay(setup.redis.port, "xread");
    try {
      const p = pool(queue, { redis: relay.url });
      // A read-back each second rather than every 5: the same batches, sooner.
      Object.assign(p, { [RECONCILE_EVERY]: 1 });
      await relay.held;
      const callers = await heldAndLate(p, queue, { before: () => {}, after: () => {} });
      await expectAllAnswered(p, callers);
    } finally {
      relay.release();
      await relay.close();
    }
  });
});
