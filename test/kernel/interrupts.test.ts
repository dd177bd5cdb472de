/**
 * Interrupts through jupyter_client: one sent while nothing runs interrupts nothing, and rendering
 * a cell's result (a Jupyter.display that never resolves or loops, an inspect.custom that loops)
 * can be interrupted like the cell itself.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jupyterAvailable } from "../support/jupyter";
import { waitFor } from "../support/processes";
import { KernelSession } from "./client/session";

describe.skipIf(!jupyterAvailable("the interrupt tests"))("interrupts under jupyter_client", () => {
  let kernel: KernelSession;
  let scratch: string;

  beforeAll(async () => {
    kernel = await KernelSession.start();
    scratch = mkdtempSync(path.join(tmpdir(), "forklab-interrupts-"));
  });

  afterAll(async () => {
    await kernel?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it.each([
    ["a cell that computes", `let sum = 0;\nfor (let i = 0; i < 1e5; i++) sum += i % 3;\n"computed"`],
    ["a cell that awaits", `await new Promise((resolve) => setImmediate(resolve));\n"awaited"`],
  ])("an interrupt_request while idle does not interrupt %s that runs next", async (_what, code) => {
    // Back to back, as a user who presses interrupt and then runs a cell: the kernel handles the
    // interrupt while the cell is queued or starting.
    const interrupt = await kernel.send("control", "interrupt_request", {});
    const msgId = await kernel.execute(code);
    expect((await kernel.replyTo(interrupt)).msg_type).toBe("interrupt_reply");
    const reply = await kernel.replyTo(msgId);
    expect(reply.content, JSON.stringify(reply.content)).toMatchObject({ status: "ok" });
  });

  it.each([
    ["an async Jupyter.display that never resolves", `({ [Symbol.for("Jupyter.display")]() { MARK; return new Promise(() => {}); } })`],
    ["a Jupyter.display that loops", `({ [Symbol.for("Jupyter.display")]() { MARK; for (;;) {} } })`],
    ["an inspect.custom that loops", `({ [require("util").inspect.custom]() { MARK; for (;;) {} } })`],
  ])("rendering %s is interrupted, and the cell says so", async (_what, expression) => {
    const rendering = path.join(scratch, `rendering-${expression.length}`);
    // MARK: the kernel has started rendering the result.
    const msgId = await kernel.execute(expression.replace("MARK", `require("fs").writeFileSync(${JSON.stringify(rendering)}, "")`));
    await waitFor("the result to be rendering", () => existsSync(rendering), 60_000);
    await kernel.send("control", "interrupt_request", {});
    const reply = await kernel.replyTo(msgId);
    expect(reply.content.status).toBe("error");
    expect(reply.content.ename).toBe("Interrupted");
    expect((await kernel.run("1 + 1")).reply.content.status).toBe("ok");
  });
});
