/**
 * `import "forklab"` loads no Redis client: BullMQ and ioredis are loaded by the first Redis path a
 * process takes (reading DistributedPool, RedisQueue or RedisJoinableQueue, `new Pool({ redis })`,
 * `new Queue({ redis })`). Each check runs in a fresh Node, whose module cache starts empty.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const INDEX = path.join(__dirname, "..", "..", "dist", "src", "index.js");

/**
 * Run `body` in a fresh Node after `const f = require(index)`; `redisModules()` counts BullMQ and
 * ioredis modules loaded. Returns what `body` returned, and anything else the script printed.
 */
async function inFreshNode(body: string): Promise<{ result: unknown; printed: string }> {
  const script = `
const f = require(${JSON.stringify(INDEX)});
const redisModules = () => Object.keys(require.cache).filter((file) => /[\\\\/]node_modules[\\\\/](bullmq|ioredis)[\\\\/]/.test(file)).length;
(async () => { process.stdout.write("\\nRESULT " + JSON.stringify(await (async () => { ${body} })())); })().catch((e) => { console.error(e); process.exit(1); });`;
  const { stdout } = await promisify(execFile)(process.execPath, ["-e", script], { encoding: "utf8" });
  const at = stdout.lastIndexOf("\nRESULT ");
  return { result: JSON.parse(stdout.slice(at + "\nRESULT ".length)), printed: stdout.slice(0, at) };
}

describe("loading forklab without Redis", () => {
  it("requiring the library loads no BullMQ or ioredis module; the Redis error classes are there and need none", async () => {
    const { result: seen } = await inFreshNode(`
      const before = redisModules();
      const e = new f.RedisConnectionError("m", "host:1", "ECONNREFUSED", undefined);
      const checks = [e instanceof f.RedisConnectionError, new f.DistributedTaskError("m", "j", 1, []) instanceof f.DistributedTaskError,
        new f.PoolTerminatedError("m") instanceof Error, typeof f.Pool, typeof f.Queue, Object.keys(f).includes("DistributedPool")];
      const [q, jq, pool] = [new f.Queue(), new f.JoinableQueue(), new f.Pool(1)];
      new f.SimpleQueue();
      // instanceof reads a mark on the Redis classes' objects, not the classes themselves.
      const kinds = [q instanceof f.Queue, jq instanceof f.Queue, jq instanceof f.JoinableQueue, q instanceof f.JoinableQueue,
        pool instanceof f.Pool, ({}) instanceof f.Queue, null instanceof f.Pool];
      await pool.terminate();
      return { before, after: redisModules(), checks, kinds };
    `);
    expect(seen).toEqual({
      before: 0,
      after: 0,
      checks: [true, true, true, "function", "function", true],
      kinds: [true, true, true, false, true, false, false],
    });
  });

  it("each Redis entry point loads the client when used; what it throws is the exported error class; a script's pool prints nothing", async () => {
    const { freePort } = await import("../../kernel/runner/launch");
    const url = `redis://127.0.0.1:${await freePort("127.0.0.1")}`;
    const { result: seen, printed } = await inFreshNode(`
      const counts = [redisModules()];
      const pool = new f.Pool({ redis: ${JSON.stringify(url)}, queue: "nobody" });
      counts.push(redisModules());
      const refused = await pool.ready().catch((e) => e);
      await pool.apply((n) => n, [1]).catch(() => {});
      await pool.terminate();
      const queue = new f.Queue({ redis: ${JSON.stringify(url)}, name: "nobody" });
      const got = await queue.getNowait().catch((e) => e);
      await queue.close();
      const joinable = new f.JoinableQueue({ redis: ${JSON.stringify(url)}, name: "nobody" });
      class Mine extends f.Queue {}
      const asPython = [pool instanceof f.Pool, queue instanceof f.Queue, queue instanceof f.JoinableQueue, joinable instanceof f.Queue,
        joinable instanceof f.JoinableQueue, queue instanceof Mine, queue instanceof f.Pool, pool instanceof f.Queue];
      await joinable.close();
      return {
        loadedByPool: counts[1] > counts[0],
        pool: [pool instanceof f.DistributedPool, refused instanceof f.RedisConnectionError, refused.name],
        queue: [queue instanceof f.RedisQueue, got instanceof f.RedisConnectionError],
        joinable: f.RedisJoinableQueue.prototype instanceof f.RedisQueue,
        asPython,
      };
    `);
    expect(seen).toEqual({
      loadedByPool: true,
      pool: [true, true, "RedisConnectionError"],
      queue: [true, true],
      joinable: true,
      // `new Queue({ redis })` is a Queue, as the tutorial reads it; a JoinableQueue is a Queue too; neither is an instance of a subclass of Queue.
      asPython: [true, true, false, true, true, false, false, false],
    });
    // As the local Pool: its live picture is for a notebook, not a script's stdout.
    expect(printed).toBe("");
  });
});
