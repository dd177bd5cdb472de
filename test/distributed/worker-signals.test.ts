/**
 * `forklab worker` and the signals that stop it: the first SIGINT or SIGTERM lets the running
 * tasks finish, a second one ends them (their children, with what those started) and the worker
 * exits; nothing it started outlives it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isGone, waitFor } from "../support/processes";
import { redisAvailable } from "../support/redis";
import { distributedSetup, freshQueue } from "./helpers";

const enabled = redisAvailable("the forklab worker signal tests");

describe.skipIf(!enabled)("forklab worker stopped by signals", () => {
  const { worker, pool } = distributedSetup();
  let scratch: string;

  beforeAll(() => {
    scratch = mkdtempSync(path.join(tmpdir(), "forklab-worker-signals-"));
  });
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  /**
   * The first run starts a program of its own (in its child's process group), writes both pids,
   * and never ends; a run after it returns at once.
   */
  const endlessWithProgram = (file: string) => {
    const { spawn } = require("node:child_process");
    const fs = require("node:fs");
    if (fs.existsSync(file)) return `again in ${process.pid}`;
    const program = spawn("sleep", ["1000"], { stdio: "ignore" });
    fs.writeFileSync(`${file}.tmp`, JSON.stringify({ child: process.pid, program: program.pid }));
    fs.renameSync(`${file}.tmp`, file);
    return new Promise(() => {});
  };

  it("a pool's terminate() still reaches a worker that is finishing its tasks after a SIGTERM: the task ends, and the worker exits", async () => {
    const queue = freshQueue("finishing");
    const w = await worker(queue);
    const p = pool(queue);
    const file = path.join(scratch, `${queue}.json`);
    const result = p.apply(endlessWithProgram, [file]).catch((e: unknown) => e);
    await waitFor("the task to start its program", () => existsSync(file), 30_000);
    const { child, program } = JSON.parse(readFileSync(file, "utf8")) as { child: number; program: number };
    w.child.kill("SIGTERM");
    await waitFor("the worker to say it finishes the running tasks", () => w.log().includes("SIGTERM, finishing the running tasks"), 30_000);
    await p.terminate();
    expect(await result).toBeInstanceOf(Error);
    await waitFor("the worker to say it cancels the task", () => w.log().includes("cancelled by its pool's terminate()"), 30_000);
    await waitFor("the worker to exit", () => w.child.exitCode !== null || w.child.signalCode !== null, 30_000);
    expect(await w.exited).toEqual({ code: 0, signal: null });
    await waitFor(`the task's child ${child} to end`, () => isGone(child), 30_000);
    await waitFor(`the program ${program} the task started to end`, () => isGone(program), 30_000);
  });

  it("a SIGTERM ends a worker whose idle child a task left busy (a timer that never ends): the child is ended after a grace", async () => {
    const queue = freshQueue("busy-idle");
    const w = await worker(queue);
    const p = pool(queue);
    const child = await p.apply(() => {
      setInterval(() => {}, 1000);
      return process.pid;
    }, []);
    expect(isGone(child)).toBe(false);
    w.child.kill("SIGTERM");
    await waitFor("the worker to exit", () => w.child.exitCode !== null || w.child.signalCode !== null, 30_000);
    expect(await w.exited).toEqual({ code: 0, signal: null });
    await waitFor(`its child ${child} to end`, () => isGone(child), 30_000);
  });

  for (const [first, second] of [
    ["SIGTERM", "SIGTERM"],
    ["SIGINT", "SIGTERM"],
  ] as const) {
    it(`a ${first} lets the running task go on; a ${second} after it ends the task's child and what it started, hands the task back, and the worker exits`, async () => {
      const queue = freshQueue("signals");
      const w = await worker(queue);
      const p = pool(queue);
      const file = path.join(scratch, `${queue}.json`);
      const result = p.apply(endlessWithProgram, [file]);
      await waitFor("the task to start its program", () => existsSync(file), 30_000);
      const { child, program } = JSON.parse(readFileSync(file, "utf8")) as { child: number; program: number };
      w.child.kill(first);
      await waitFor("the worker to say it finishes the running tasks", () => w.log().includes(`${first}, finishing the running tasks`), 30_000);
      // Still running: the first signal waits for the task.
      expect(w.child.exitCode).toBeNull();
      expect(isGone(child)).toBe(false);
      w.child.kill(second);
      await waitFor("the worker to say it stops now", () => w.log().includes(`${second}, stopping now`), 30_000);
      await waitFor("the worker to exit", () => w.child.exitCode !== null || w.child.signalCode !== null, 30_000);
      expect(await w.exited).toEqual({ code: 0, signal: null });
      await waitFor(`the task's child ${child} to end`, () => isGone(child), 30_000);
      await waitFor(`the program ${program} the task started to end`, () => isGone(program), 30_000);
      // Handed back to the queue, not failed, nor left locked to the gone worker: the pool sees it
      // waiting again, and the next worker runs it.
      await waitFor("the pool to see its task waiting again", () => p.stats().queued === 1 && p.stats().running === 0, 30_000);
      await worker(queue);
      expect(await result).toMatch(/^again in \d+$/);
      expect(p.stats()).toMatchObject({ done: 1, failed: 0, retries: 0, pending: 0 });
    });
  }
});
