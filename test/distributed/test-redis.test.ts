/**
 * The tests' redis-server (test/support/redis.ts) never outlives the process that started it: a
 * process SIGKILLed before its afterAll could stop the server leaves no redis-server behind.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { isGone, waitFor } from "../support/processes";
import { redisAvailable } from "../support/redis";

const enabled = redisAvailable("the test redis-server's clean-up test");
const ROOT = path.join(__dirname, "..", "..");

describe.skipIf(!enabled)("the tests' redis-server", () => {
  it("is gone when the process that started it is SIGKILLed", async () => {
    // A process that starts a server as a test's beforeAll does, says its pid, and waits forever.
    const script = `require("./test/support/redis").TestRedis.start().then((r) => console.log("redis-server " + r.pid)); setInterval(() => {}, 1e6);`;
    const starter = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise((resolve) => starter.once("exit", resolve));
    let out = "";
    const pid = await new Promise<number>((resolve, reject) => {
      starter.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8");
        const found = /redis-server (\d+)/.exec(out);
        if (found) resolve(Number(found[1]));
      });
      void exited.then(() => reject(new Error(`the starter exited before its redis-server was ready: ${out}`)));
    });
    try {
      expect(isGone(pid)).toBe(false);
      starter.kill("SIGKILL");
      await exited;
      await waitFor(`redis-server ${pid} to end with the process that started it`, () => isGone(pid), 30_000);
    } finally {
      if (!isGone(pid)) process.kill(pid, "SIGKILL");
    }
  });
});
