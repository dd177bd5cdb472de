import { describe, expect, it } from "vitest";
import { waitFor } from "../support/processes";

// A stand-in kernel: records displays and lets the test fire interrupt and shutdown.
const displays: { bundle: Record<string, unknown>; options: { displayId?: string; update?: boolean } }[] = [];
const interruptListeners = new Set<() => void>();
const shutdownListeners = new Set<() => void | Promise<void>>();
(globalThis as Record<symbol, unknown>)[Symbol.for("forklab.kernel-bridge")] = {
  display: (bundle: Record<string, unknown>, options = {}) => displays.push({ bundle, options }),
  clearOutput: () => {},
  onInterrupt: (listener: () => void) => (interruptListeners.add(listener), () => interruptListeners.delete(listener)),
  onShutdown: (listener: () => void) => (shutdownListeners.add(listener), () => shutdownListeners.delete(listener)),
};

import * as lib from "../../dist/src/index.js";
const { spawn, renderProcessCard } = lib;

describe("in a kernel", () => {
  it("shows a live card that it updates until the process ends, with the output tail", async () => {
    const p = spawn(function runProc(name: string) {
      console.log(`Run child process ${name} (${process.pid})...`);
    }, ["test"]);
    // The card's display id is the one the process reports to kernels as its live output.
    const displayId = (p as unknown as Record<symbol, string | undefined>)[Symbol.for("forklab.liveDisplayId")];
    expect(displayId).toMatch(/^forklab-process-/);
    const mine = () => displays.filter((d) => d.options.displayId === displayId);
    expect(mine()).toHaveLength(1);
    expect(mine()[0]!.options.update).toBeFalsy();
    expect(mine()[0]!.bundle["text/plain"]).toContain("running");
    await p.join();
    const last = mine().at(-1)!;
    expect(last.options.update).toBe(true);
    expect(last.bundle["text/plain"]).toContain(`${p.name} pid=${p.pid} ppid=${process.pid}`);
    expect(last.bundle["text/plain"]).toContain("exited with code 0");
    expect(last.bundle["text/plain"]).toContain(`| Run child process test (${p.pid})...`);
    const html = String(last.bundle["text/html"]);
    expect(html).toContain(`Run child process test (${p.pid})...`);
    expect(html).not.toMatch(/<script|on\w+=/i);
    expect(new Set(mine().map((d) => d.options.displayId)).size).toBe(1);
    // The object itself renders the same card.
    const own = (p as unknown as Record<symbol, () => Record<string, unknown>>)[Symbol.for("Jupyter.display")]!();
    expect(own["text/plain"]).toBe(last.bundle["text/plain"]);
  });

  it("terminates the processes of an interrupted cell", async () => {
    const p = spawn(() => {
      console.log("ready");
      return new Promise(() => setInterval(() => {}, 1000));
    });
    await waitFor(`${p.name} to print "ready"`, () => p.stdout.includes("ready"), 30_000);
    expect(interruptListeners.size).toBeGreaterThan(0);
    for (const listener of [...interruptListeners]) listener();
    await p.join();
    expect(p.exitCode).toBe(-15);
    await expect(p.result).rejects.toThrow(/killed by SIGTERM \(exitCode -15\) after interrupt/);
  });

  it("terminates every child on shutdown", async () => {
    const a = spawn(() => new Promise(() => setInterval(() => {}, 1000)));
    const b = spawn(() => new Promise(() => setInterval(() => {}, 1000)));
    expect(shutdownListeners.size).toBe(1);
    await Promise.all([...shutdownListeners].map((listener) => listener()));
    expect(a.isAlive() || b.isAlive()).toBe(false);
    expect([a.exitCode, b.exitCode]).toEqual([-15, -15]);
  });

  it("renders a card purely from data", () => {
    const bundle = renderProcessCard({
      name: "Process-1",
      pid: 12,
      parentPid: 1,
      state: "stopped",
      exitCode: -9,
      signal: "SIGKILL",
      daemon: false,
      target: "runProc()",
      durationMs: 1500,
      tail: [{ stream: "stderr", text: "<b>not bold</b>" }],
      omittedLines: 2,
    });
    expect(bundle["text/plain"]).toBe(
      "Process-1 pid=12 ppid=1 killed by SIGKILL (exitCode -9) 1.50 s target=runProc()\n  ... 2 earlier lines\n  ! <b>not bold</b>",
    );
    expect(bundle["text/html"]).toContain("&lt;b&gt;not bold&lt;/b&gt;");
    expect(bundle["text/html"]).not.toContain("<script");
  });
});
