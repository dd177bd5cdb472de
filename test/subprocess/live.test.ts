import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { call, PIPE, Popen } from "../../src/parent/subprocess";
import { js, RecordingBridge } from "./helpers";

let bridge: RecordingBridge;
beforeEach(() => {
  bridge = new RecordingBridge().install();
});
afterEach(() => bridge.uninstall());

describe("in a kernel", () => {
  it("shows output live in one display, updated in place, then the final block", async () => {
    const p = new Popen(js("process.stdout.write('step ' + 1 + '\\n'); process.stdin.once('data', () => process.stdout.write('step ' + 2 + '\\n'))"), { stdin: PIPE });
    const first = await bridge.next((d) => d.bundle["text/plain"].includes("step 1"));
    expect(first.options.update).toBe(true);
    const id = bridge.displays[0].options.displayId;
    expect(id).toBeTruthy();
    expect(bridge.displays[0].options.update).toBeFalsy();
    expect(bridge.displays[0].bundle["text/plain"]).toMatch(/\[running · .*pid \d+\]$/);
    p.stdin!.end("go");
    const [stdout] = await p.communicate();
    expect(stdout).toBeNull();
    const last = bridge.displays[bridge.displays.length - 1];
    expect(last.options).toMatchObject({ displayId: id, update: true });
    expect(last.bundle["text/plain"]).toMatch(/step 1\nstep 2\n\[exit 0 · \d+ ms · pid \d+\]$/);
    expect(bridge.displays.every((d) => d.options.displayId === id)).toBe(true);
  });

  it("call() resolves after the final block is shown", async () => {
    const code = await call(js("console.error('to stderr'); process.exit(5)"));
    expect(code).toBe(5);
    const last = bridge.displays[bridge.displays.length - 1];
    expect(last.bundle["text/plain"]).toMatch(/to stderr\n\[exit 5 ·/);
    expect(last.bundle["text/html"]).toContain('<span style="color:#f48771">to stderr');
  });

  it("can be turned off: live: false forwards output to this process's stdout", async () => {
    const writes: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array) => (writes.push(String(chunk)), true)) as typeof write;
    try {
      expect(await call(js("process.stdout.write('plain')"), { live: false })).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    expect(writes.join("")).toBe("plain");
    expect(bridge.displays).toEqual([]);
  });

  it.skipIf(process.platform === "win32")("an interrupt kills the program the cell started; shutdown kills all", async () => {
    const p = new Popen(js("setInterval(() => {}, 1000)"));
    expect(bridge.interruptListeners.size).toBe(1);
    for (const listener of bridge.interruptListeners) listener();
    expect(await p.wait()).toBe(-9);
    expect(bridge.interruptListeners.size).toBe(0);

    const a = new Popen(js("setInterval(() => {}, 1000)"));
    const b = new Popen(js("setInterval(() => {}, 1000)"));
    expect(bridge.shutdownListeners.size).toBe(2);
    for (const listener of bridge.shutdownListeners) await listener();
    expect(await a.wait()).toBe(-9);
    expect(await b.wait()).toBe(-9);
    expect(bridge.shutdownListeners.size).toBe(0);
  });
});
