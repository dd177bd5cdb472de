/**
 * `forklab worker`'s command line: a bad value is a usage error (exit code 2) that names the option
 * and the value as typed, before anything reaches Redis.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const FORKLAB_BIN = path.join(__dirname, "..", "..", "bin", "forklab.js");
const scratch = mkdtempSync(path.join(tmpdir(), "forklab-worker-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Nothing listens on port 1: a worker that got past its options would fail to reach Redis (exit code 1) instead. */
function worker(...args: string[]): { status: number | null; stderr: string } {
  const out = spawnSync(process.execPath, [FORKLAB_BIN, "worker", "--redis", "redis://127.0.0.1:1", "--queue", "q", ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: out.status, stderr: out.stderr };
}

describe("forklab worker options", () => {
  it.each([
    [["--concurrency", "abc"], /^forklab: --concurrency must be a whole number of task slots, 1 or more, got "abc"\n/],
    [["--concurrency", "2x"], /^forklab: --concurrency must be a whole number of task slots, 1 or more, got "2x"\n/],
    [["--lock-timeout", "soon"], /^forklab: --lock-timeout must be a number of seconds above 0, got "soon"\n/],
    [["--lock-timeout", " "], /^forklab: --lock-timeout must be a number of seconds above 0, got " "\n/],
  ])("%j is refused, naming the value as typed", (args, message) => {
    const { status, stderr } = worker(...args);
    expect(stderr).toMatch(message);
    expect(status).toBe(2);
  });

  it("a --root that is not a folder is refused before Redis is tried", () => {
    const missing = path.join(scratch, "missing");
    const file = path.join(scratch, "a-file");
    writeFileSync(file, "");
    for (const root of [missing, file]) {
      const { status, stderr } = worker("--root", root);
      expect(stderr).toContain(`forklab: --root ${JSON.stringify(root)} is not a folder`);
      expect(status).toBe(2);
    }
  });
});
