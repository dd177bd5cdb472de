import { spawn as spawnNode } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { LIB } from "../process/helpers";

const SCRIPT = path.join(__dirname, "fixtures", "stalled.js");

type Line = { wait?: string; value?: unknown; error?: string; end?: true; failures?: number };

function runScript(mode = "waits"): Promise<{ code: number | null; lines: Line[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const node = spawnNode(process.execPath, [SCRIPT, LIB, mode], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let stderr = "";
    node.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    node.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    node.on("error", reject);
    node.on("close", (code) => resolve({ code, stderr, lines: out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Line) }));
  });
}

describe("a wait nothing can end, in a plain script", () => {
  it("fails with why, instead of the script ending in the middle with exit code 0", async () => {
    const { code, lines, stderr } = await runScript();
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const settled = new Map(lines.filter((l) => l.wait).map((l) => [l.wait!, l]));
    const fails = (wait: string, start: string, ...parts: string[]) => {
      const error = settled.get(wait)?.error;
      expect(error, wait).toMatch(new RegExp(`^${start.replace(/[().]/g, "\\$&")} would wait for ever: `));
      for (const part of parts) expect(error, wait).toContain(part);
      expect(error, wait).toContain("no process this one started is alive while this process has nothing else left to run");
    };
    fails("get", "Queue.get()", "the queue is empty", "give get() a timeout");
    fails("put", "Queue.put()", "the queue is full (maxsize 1)", "The item was not put");
    fails("join", "JoinableQueue.join()", "1 item put is not marked done by taskDone()");
    fails("recv", "Connection.recv()", "nothing was sent to this end", "check with poll(timeout) first");
    fails("poll", "Connection.poll(null)", "nothing was sent to this end");
    fails("simple", "SimpleQueue.get()", "the queue is empty");
    expect(settled.get("child")).toEqual({ wait: "child", value: "from the child" });
    fails("after the child", "Queue.get()", "the queue is empty");
    // The gets that failed took nothing: the item put after them went to the next get.
    expect(settled.get("after")).toEqual({ wait: "after", value: "x" });
    expect(settled.get("daemon")).toEqual({ wait: "daemon", value: "joined" });
    expect(lines.at(-1)).toEqual({ end: true });
  });

  it("a program that catches the failure and waits the same way again ends with exit code 1, saying why, instead of going round for ever", async () => {
    const { code, lines, stderr } = await runScript("retry");
    expect(code).toBe(1);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l, i) => l.failures === i + 1)).toBe(true);
    expect(stderr).toMatch(/^forklab: Queue\.get\(\) would wait for ever: the queue is empty, .* It failed so \d+ times and was tried again each time: the process ends here\.\n$/);
  });
});
