/**
 * At-least-once delivery with real processes: a worker SIGKILLed mid-task, a worker that joins
 * late, a Redis restart mid-run, and the rules a worker applies to targets.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as util from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DistributedTaskError } from "../../dist/src/index.js";
import { isGone, waitFor } from "../support/processes";
import { redisAvailable } from "../support/redis";
import { distributedSetup, freshQueue } from "./helpers";

const enabled = redisAvailable("the distributed delivery tests");
const ROOT = path.join(__dirname, "fixtures", "root");

describe.skipIf(!enabled)("distributed delivery on a real redis-server", () => {
  const setup = distributedSetup({ persist: true, root: ROOT });
  const { worker, pool } = setup;
  let scratch: string;

  beforeAll(() => {
    scratch = mkdtempSync(path.join(tmpdir(), "forklab-distributed-"));
  });
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it("a worker SIGKILLed mid-task: the task runs again on a worker that joined late, and its caller gets one result", async () => {
    const queue = freshQueue("killed");
    const first = await worker(queue);
    const p = pool(queue);
    const marker = path.join(scratch, "first-attempt");
    // The first attempt records its pid and never ends; a second attempt returns at once.
    const task = (file: string) => {
      const fs = require("node:fs");
      if (!fs.existsSync(file)) {
        fs.writeFileSync(file, String(process.pid));
        return new Promise(() => {});
      }
      return `again in ${process.pid}`;
    };
    const result = p.apply(task, [marker]);
    await waitFor("the first worker to start the task", () => existsSync(marker) && p.stats().running === 1, 30_000);
    const firstChild = Number(readFileSync(marker, "utf8"));
    first.child.kill("SIGKILL");
    await first.exited;
    // Its child process notices and ends: no orphan.
    await waitFor(`child ${firstChild} of the killed worker to end`, () => isGone(firstChild), 30_000);
    const late = await worker(queue);
    expect(await result).toMatch(/^again in \d+$/);
    const stats = p.stats();
    expect(stats).toMatchObject({ done: 1, failed: 0, retries: 1, pending: 0 });
    const lateRow = stats.workers.find((row) => row.id.endsWith(`:${late.pid}`));
    expect(lateRow?.done).toBe(1);
    // The killed worker's row counts the attempt lost on it; no task failed for good.
    expect(stats.workers.find((row) => row.id.endsWith(`:${first.pid}`))?.attemptsFailed).toBe(1);
  });

  it("a task whose worker dies on each of its attempts fails once its workers' stall limit is passed; the error, its list and the counts agree", async () => {
    const queue = freshQueue("stalled-out");
    const p = pool(queue);
    const started = mkdtempSync(path.join(scratch, "attempts-"));
    // Every attempt records the worker that runs it (the parent of the task's child), and never ends.
    const task = (folder: string) => {
      require("node:fs").writeFileSync(require("node:path").join(folder, String(process.ppid)), "");
      return new Promise(() => {});
    };
    const outcome = p.apply(task, [started]).catch((e: unknown) => e);
    const killed: number[] = [];
    let running = await worker(queue);
    // A forklab worker takes a stalled task back twice (maxStalledCount 2): the third death is one too many.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const on = running;
      await waitFor(`attempt ${attempt} to start on worker ${on.pid}`, () => existsSync(path.join(started, String(on.pid))), 30_000);
      // The next one is up before this one dies: it takes the task back once its lock has expired.
      running = await worker(queue);
      on.child.kill("SIGKILL");
      await on.exited;
      killed.push(on.pid);
    }
    const error = (await outcome) as DistributedTaskError;
    expect(error).toBeInstanceOf(DistributedTaskError);
    // The pickup that failed the task ran nothing: three attempts, each listed, on the worker that died.
    expect(error.attempts).toBe(3);
    expect(error.failures.map((f) => [f.attempt, f.worker.replace(/^.*:/, ""), f.kind])).toEqual(killed.map((pid, i) => [i + 1, String(pid), "stalled"]));
    expect(error.message).toMatch(/ failed after 3 attempts \(job stalled more than allowable limit\): attempt 1 on [^;]+; attempt 2 on [^;]+; attempt 3 on [^;]+\. /);
    expect(existsSync(path.join(started, String(running.pid))), "the last worker did not run it").toBe(false);
    // Two retries (after the first and second deaths), one task failed, one lost attempt on each killed worker.
    const stats = p.stats();
    expect(stats).toMatchObject({ done: 0, failed: 1, retries: 2, pending: 0 });
    const lost = stats.workers.filter((row) => row.attemptsFailed > 0).map((row) => `${row.id.replace(/^.*:/, "")}: ${row.attemptsFailed}`);
    expect(lost.sort()).toEqual(killed.map((pid) => `${pid}: 1`).sort());
    expect(util.inspect(p)).toMatch(/^Pool on Redis .*: 0 queued, 0 running, 0 done, 1 failed, 2 retries$/m);
  });

  it("a worker started after a pool's terminate() refuses that pool's task left in Redis (its worker died with it locked)", async () => {
    const queue = freshQueue("late-after-terminate");
    // A lock long enough that terminate() surely finds the task still locked to the killed worker.
    const first = await worker(queue, { lockTimeout: 10 });
    const p = pool(queue);
    const marker = path.join(scratch, `${queue}-started`);
    const task = (file: string) => {
      const fs = require("node:fs");
      if (!fs.existsSync(file)) {
        fs.writeFileSync(file, String(process.pid));
        return new Promise(() => {});
      }
      fs.writeFileSync(`${file}.again`, "ran again");
      return "ran again";
    };
    const result = p.apply(task, [marker]).catch((e: unknown) => e);
    await waitFor("the first worker to start the task", () => existsSync(marker) && p.stats().running === 1, 30_000);
    first.child.kill("SIGKILL");
    await first.exited;
    await p.terminate();
    expect(await result).toBeInstanceOf(Error);
    const { Queue } = await import("bullmq");
    const inspect = new Queue(queue, { connection: { host: "127.0.0.1", port: setup.redis.port } });
    try {
      expect(await inspect.getJobCounts("active")).toEqual({ active: 1 }); // locked: remove() left it
      await worker(queue);
      // Once its lock has expired, the late worker takes it back from the dead one, and refuses it.
      await expect.poll(() => inspect.getJobCounts("waiting", "active", "completed", "failed"), { timeout: 60_000 }).toEqual({ waiting: 0, active: 0, completed: 0, failed: 1 });
      expect(existsSync(`${marker}.again`)).toBe(false);
    } finally {
      await inspect.close();
    }
  });

  it("Redis restarts mid-run: acknowledged tasks survive, the pool and a late worker reconnect, every result arrives once", async () => {
    const queue = freshQueue("restart");
    const p = pool(queue);
    await p.ready();
    const results = p.map((n: number) => n * 3, Array.from({ length: 20 }, (_, i) => i), 2);
    const { Queue } = await import("bullmq");
    const inspect = new Queue(queue, { connection: { host: "127.0.0.1", port: setup.redis.port } });
    await expect.poll(() => inspect.getWaitingCount(), { timeout: 30_000 }).toBe(10);
    await inspect.close();
    await setup.redis.restart();
    await worker(queue);
    expect(await results).toEqual(Array.from({ length: 20 }, (_, i) => i * 3));
    expect(p.stats()).toMatchObject({ done: 20, pending: 0 });
  });

  it("a worker without --accept-source refuses functions sent as source, and says how to allow them", async () => {
    const queue = freshQueue("refuse");
    await worker(queue, { acceptSource: false });
    const p = pool(queue);
    const error = (await p.apply((n: number) => n, [1]).catch((e: unknown) => e)) as DistributedTaskError;
    expect(error).toBeInstanceOf(DistributedTaskError);
    expect(error.message).toMatch(/does not run functions sent as source.*--accept-source.*whoever can write to this Redis/);
    expect(error.attempts).toBe(1);
    // Not retried; the refusing worker's row counts the attempt.
    expect(p.stats()).toMatchObject({ failed: 1, retries: 0 });
    expect(p.stats().workers.map((row) => row.attemptsFailed)).toEqual([1]);
    // Module targets under its --root run; one that resolves outside it is refused.
    expect(await p.map({ module: "./tasks.js", export: "square" }, [1, 2, 3])).toEqual([1, 4, 9]);
    const outside = (await p.apply({ module: "../outside.js", export: "escape" }, []).catch((e: unknown) => e)) as Error;
    expect(outside).toBeInstanceOf(DistributedTaskError);
    expect(outside.message).toMatch(/runs only modules under its --root/);
  });

  it("without --accept-source, a worker runs no package, built-in module or file outside its own modules: execSync is not a task", async () => {
    // A --root of its own: a task module, an installed package, and a link to a file outside.
    const root = mkdtempSync(path.join(scratch, "root-"));
    const ran = path.join(scratch, "ran");
    const evil = `exports.run = () => require("node:fs").writeFileSync(${JSON.stringify(ran)}, "ran");\n`;
    writeFileSync(path.join(root, "tasks.js"), "exports.square = (n) => n * n;\n");
    mkdirSync(path.join(root, "node_modules", "evil"), { recursive: true });
    writeFileSync(path.join(root, "node_modules", "evil", "index.js"), evil);
    writeFileSync(path.join(scratch, "elsewhere.js"), evil);
    symlinkSync(path.join(scratch, "elsewhere.js"), path.join(root, "linked.js"));
    const queue = freshQueue("packages");
    // Started in it, without --root: its working folder is its root, as a worker started by hand.
    await worker(queue, { acceptSource: false, root: undefined, cwd: root });
    const p = pool(queue);
    const command = `echo ran > ${JSON.stringify(ran)}`;
    const refusals: [object, unknown[], RegExp][] = [
      [{ module: "child_process", export: "execSync" }, [command], /names a package or a built-in module, which it does not run/],
      [{ module: "node:child_process", export: "execSync" }, [command], /names a package or a built-in module/],
      [{ module: "evil", export: "run" }, [], /names a package or a built-in module/],
      [{ module: "./node_modules/evil/index.js", export: "run" }, [], /not installed packages: .* resolves into node_modules/],
      [{ module: "./linked.js", export: "run" }, [], /runs only modules under its --root/],
    ];
    for (const [target, args, message] of refusals) {
      const error = (await p.apply(target as { module: string; export: string }, args).catch((e: unknown) => e)) as DistributedTaskError;
      expect(error, JSON.stringify(target)).toBeInstanceOf(DistributedTaskError);
      expect(error.message).toMatch(message);
      expect(error.attempts).toBe(1);
    }
    expect(existsSync(ran)).toBe(false);
    // Its own module runs.
    expect(await p.apply({ module: "./tasks.js", export: "square" }, [7])).toBe(49);
  });
});
