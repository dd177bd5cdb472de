import { spawn as spawnNode } from "node:child_process";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isGone, waitFor } from "../support/processes";
import { LIB } from "./helpers";
import { RecordingBridge } from "../subprocess/helpers";
import * as lib from "../../dist/src/index.js";

const PARENT = path.join(__dirname, "fixtures", "programs-parent.js");

type Pids = { popen: number; shell: number; shellChild: number; child: number; inner: number };

const started: number[] = [];
afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone, as it should be
    }
  }
});

/** Start the fixture parent (leading its own process group, as a kernel does under Jupyter). */
function startParent(mode: "plain" | "group"): Promise<{ parent: number; pids: Pids; output: () => string }> {
  return new Promise((resolve, reject) => {
    const parent = spawnNode(process.execPath, [PARENT, LIB, mode], { stdio: ["ignore", "pipe", "inherit"], detached: true });
    started.push(parent.pid!);
    let out = "";
    parent.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) {
        const pids = JSON.parse(line) as Pids;
        started.push(...Object.values(pids));
        resolve({ parent: parent.pid!, pids, output: () => out });
      }
    });
    parent.on("exit", (code) => reject(new Error(`parent exited early with ${code}: ${out}`)));
  });
}

describe.skipIf(process.platform === "win32")("programs have no orphans", () => {
  it("Popen and run() programs, a shell's own program and a program started in a child end when the parent is SIGKILLed", async () => {
    const { parent, pids } = await startParent("plain");
    for (const pid of Object.values(pids)) expect(isGone(pid), `pid ${pid}`).toBe(false);
    process.kill(parent, "SIGKILL");
    for (const [what, pid] of Object.entries(pids)) {
      await waitFor(`${what} (pid ${pid}) to end after its parent ${parent} was SIGKILLed`, () => isGone(pid), 30_000);
    }
  });

  it("an interrupt of the parent's process group (Jupyter's SIGINT) does not reach its programs", async () => {
    const { parent, pids, output } = await startParent("group");
    process.kill(-parent, "SIGINT");
    await waitFor("the parent to see the SIGINT", () => output().includes("SIGINT"), 30_000);
    for (const [what, pid] of Object.entries(pids)) expect(isGone(pid), `${what} (pid ${pid})`).toBe(false);
    process.kill(parent, "SIGKILL");
    for (const [what, pid] of Object.entries(pids)) await waitFor(`${what} (pid ${pid}) to end`, () => isGone(pid), 30_000);
  });
});

describe.skipIf(process.platform === "win32")("an interrupt ends what the cell started", () => {
  it("ends a program's whole process group: a shell and the program it started", async () => {
    const bridge = new RecordingBridge().install();
    try {
      const shell = new lib.Popen(["sh", "-c", "sleep 1000 & echo $!; wait"], { stdout: lib.PIPE, live: false });
      const sleep = Number(String(await new Promise<Buffer>((resolve) => shell.stdout!.once("data", resolve))).trim());
      started.push(sleep);
      for (const listener of bridge.interruptListeners) listener();
      expect(await shell.wait()).toBe(-9);
      await waitFor(`sleep ${sleep}, started by the interrupted shell, to end`, () => isGone(sleep), 30_000);
    } finally {
      bridge.uninstall();
    }
  });
});
