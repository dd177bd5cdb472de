import { describe, expect, it } from "vitest";
import { waitFor } from "../support/processes";

// A stand-in kernel bridge that records what the library sends.
const sent: { text: string; displayId?: string; update?: boolean }[] = [];
(globalThis as Record<symbol, unknown>)[Symbol.for("forklab.kernel-bridge")] = {
  display: (bundle: { "text/plain": string }, options: { displayId?: string; update?: boolean } = {}) =>
    sent.push({ text: bundle["text/plain"], ...options }),
  clearOutput: () => {},
  onInterrupt: () => () => {},
  onShutdown: () => () => {},
};

import { LiveDisplay } from "../../dist/src/render/live.js";

describe("LiveDisplay", () => {
  it("shows once, coalesces a burst of changes into one update, and ends with the final state", async () => {
    let state = 0;
    const live = new LiveDisplay(() => ({ "text/plain": `state ${state}` }), { kind: "test-live", tickMs: 0 });
    expect(live.displayId).toBeUndefined();
    live.show();
    live.show();
    const id = live.displayId!;
    expect(id).toMatch(/^test-live-/);
    const mine = () => sent.filter((s) => s.displayId === id);
    expect(mine()).toEqual([{ text: "state 0", displayId: id }]);

    for (state = 1; state <= 1000; state++) live.changed();
    await waitFor("the coalesced update", () => mine().length === 2, 10_000);
    expect(mine()[1]).toEqual({ text: "state 1001", displayId: id, update: true });

    state = 7;
    live.final();
    expect(mine()).toHaveLength(3);
    expect(mine()[2]).toEqual({ text: "state 7", displayId: id, update: true });
    live.changed();
    live.updateNow();
    live.final();
    expect(mine()).toHaveLength(3);
  });

  it("updateNow sends at once, past the rate bound", () => {
    let state = "a";
    const live = new LiveDisplay(() => ({ "text/plain": state }), { kind: "test-now", tickMs: 0, minIntervalMs: 60_000 });
    live.show();
    state = "b";
    live.changed();
    live.updateNow();
    const mine = sent.filter((s) => s.displayId === live.displayId);
    expect(mine.map((s) => s.text)).toEqual(["a", "b"]);
    live.final();
  });

  it("sends nothing for an object that was never shown", () => {
    const before = sent.length;
    const live = new LiveDisplay(() => ({ "text/plain": "x" }), { kind: "test-hidden" });
    live.changed();
    live.updateNow();
    live.final();
    expect(sent.length).toBe(before);
  });
});
