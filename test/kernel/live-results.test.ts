/**
 * A live object (here a Process) as a cell's result, through jupyter_client: it appears once per
 * cell, as the output it keeps up to date (display_data with its display id), never as an
 * execute_result that would freeze at the state it had when the cell ended.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jupyterAvailable } from "../support/jupyter";
import { KernelSession, type KernelMessage } from "./client/session";

const shown = (outputs: KernelMessage[]) => outputs.filter((m) => ["display_data", "execute_result"].includes(m.msg_type));

describe.skipIf(!jupyterAvailable("the live result tests"))("live objects as results", () => {
  let kernel: KernelSession;

  beforeAll(async () => {
    kernel = await KernelSession.start();
  });

  afterAll(async () => {
    await kernel?.stop();
  });

  it("spawn(...) as the last expression gives one output, which reaches its final state", async () => {
    const { reply, outputs } = await kernel.run(
      `import { spawn } from "forklab";\nspawn(() => { const end = Date.now() + 300; while (Date.now() < end) {} return "first"; })`,
    );
    expect(reply.content.status).toBe("ok");
    const [card, ...others] = shown(outputs);
    expect(others).toEqual([]);
    expect(card?.msg_type).toBe("display_data");
    const displayId = card!.content.transient.display_id as string;
    expect(displayId).toMatch(/^forklab-process-/);
    const final = await kernel.waitForMessage(
      "the card's final update",
      (m) => m.msg_type === "update_display_data" && m.content.transient.display_id === displayId && m.content.data["text/plain"].includes("first"),
    );
    expect(final.content.data["text/html"]).toBeTypeOf("string");
  });

  it("`await p.join(); p` shows one card", async () => {
    const { outputs } = await kernel.run(`const p = spawn(() => "second");\nawait p.join();\np`);
    const [card, ...others] = shown(outputs);
    expect(others).toEqual([]);
    expect(card?.msg_type).toBe("display_data");
    expect(card!.content.transient.display_id).toMatch(/^forklab-process-/);
  });

  it("`p` in a later cell shows the card again, under the same display id, so that it stays live", async () => {
    const { outputs: first } = await kernel.run(`const later = spawn(() => "third");`);
    const [original] = shown(first);
    const displayId = original!.content.transient.display_id as string;
    const { outputs } = await kernel.run("later");
    const [again, ...others] = shown(outputs);
    expect(others).toEqual([]);
    expect(again?.msg_type).toBe("display_data");
    expect(again!.content.transient.display_id).toBe(displayId);
    expect(outputs.some((m) => m.msg_type === "execute_result")).toBe(false);
  });

  it("an object without a live output is an execute_result as before", async () => {
    const { outputs } = await kernel.run("({ [Symbol.for('forklab.liveDisplayId')]: undefined, plain: 1 })");
    expect(shown(outputs).map((m) => m.msg_type)).toEqual(["execute_result"]);
  });
});
