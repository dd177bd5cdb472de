import { spawn as spawnNode } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { isGone, waitFor } from "../support/processes";
import { LIB } from "./helpers";

const PARENT = path.join(__dirname, "fixtures", "parent.js");

/** Start a parent that starts one child; resolves with both once the child's target runs. */
function startParent(mode: "idle" | "busy"): Promise<{ parent: number; child: number }> {
  return new Promise((resolve, reject) => {
    const parent = spawnNode(process.execPath, [PARENT, LIB, mode], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    parent.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve({ parent: parent.pid!, child: JSON.parse(line).child });
    });
    parent.on("exit", (code) => reject(new Error(`parent exited early with ${code}: ${out}`)));
  });
}

describe("no orphans", () => {
  for (const { mode, title } of [
    { mode: "idle", title: "a waiting child exits when its parent is SIGKILLed (the channel closes)" },
    { mode: "busy", title: "a busy child (never yields to its event loop) exits when its parent is SIGKILLed (the watchdog)" },
  ] as const) {
    it(title, async () => {
      const { parent, child } = await startParent(mode);
      expect(isGone(child)).toBe(false);
      process.kill(parent, "SIGKILL");
      await waitFor(`the ${mode} child ${child} to exit after its parent ${parent} was SIGKILLed`, () => isGone(child), 30_000);
    });
  }
});
