/**
 * Interrupts through jupyter_client: one sent while nothing runs interrupts nothing (and a SIGINT
 * then does not end the kernel, whatever the cell before it did); one sent
 * while a cell is still type-checked stops it before any of it runs; and rendering a cell's result
 * (a Jupyter.display that never resolves or loops, an inspect.custom that loops) can be
 * interrupted like the cell itself.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jupyterAvailable } from "../support/jupyter";
import { isGone, waitFor } from "../support/processes";
import { isStatus, KernelSession, streamText } from "./client/session";

/**
 * A cell whose type-check takes seconds (a mapped type over the 10,000 strings "0000".."9999",
 * each remapped through a template-literal type) and whose code then prints `marker` and waits
 * for ever: it ends only when interrupted. Its types live in a block, so that no later cell is
 * checked against them.
 */
function slowToTypeCheck(marker: string): string {
  return [
    "{",
    '  type Digit = "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9";',
    "  type Code = `${Digit}${Digit}${Digit}${Digit}`;",
    "  type Dashed<S> = S extends `${infer A}${infer B}` ? `${A}-${B}` : S;",
    "  type ByDashed = { [K in Code as Dashed<K>]: K };",
    `  const picked: keyof ByDashed = "1-234";`,
    "}",
    `console.log(${JSON.stringify(marker)});`,
    "await new Promise(() => {});",
  ].join("\n");
}

/** The kernel's process id, as a cell sees it. */
async function kernelPid(kernel: KernelSession): Promise<number> {
  const { outputs } = await kernel.run("process.pid");
  const result = outputs.find((m) => m.msg_type === "execute_result");
  return Number(result?.content.data["text/plain"]);
}

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
    ["an interrupt_request", "ran despite interrupt_request", (kernel: KernelSession) => kernel.send("control", "interrupt_request", {})],
    ["a SIGINT (the stop button: the kernelspec's interrupt_mode is signal)", "ran despite SIGINT", (kernel: KernelSession) => kernel.signal("SIGINT")],
  ])("%s that arrives while a cell is type-checked interrupts it before any of it runs (arriving later, while it runs)", async (_what, marker, interrupt) => {
    const msgId = await kernel.execute(slowToTypeCheck(marker));
    // The kernel is busy with the cell from before its type-check until its end.
    await kernel.waitForMessage(`busy for ${msgId}`, (m) => isStatus(m, "busy") && m.parent === msgId);
    await interrupt(kernel);
    const reply = await kernel.replyTo(msgId);
    expect(reply.content, JSON.stringify(reply.content)).toMatchObject({ status: "error", ename: "Interrupted" });
    // The type-check takes seconds, so the interrupt nearly always arrives during it; one that
    // arrives after it (a fast machine) finds the cell's code waiting, and stops it there.
    const ran = streamText(await kernel.outputsOf(msgId)).includes(marker);
    expect(reply.content.evalue.includes("before any of its code ran"), `${reply.content.evalue}; ran: ${ran}`).toBe(!ran);
    // One name for an interrupt, in the traceback as in the ename.
    expect(reply.content.traceback.join("\n")).not.toContain("KeyboardInterrupt");
    const next = await kernel.run(`console.log("next");\n1 + 1`);
    expect(next.reply.content.status).toBe("ok");
    expect(streamText(next.outputs)).toBe("next\n");
  });

  it.each([
    ["failed its type-check (none of its code ran)", `const wrong: number = "text";`, "error"],
    ["ran", `"ran"`, "ok"],
  ])("a SIGINT while idle, after a cell that %s, interrupts nothing and the kernel lives on", async (_what, code, status) => {
    const pid = await kernelPid(kernel);
    const before = await kernel.run(code);
    expect(before.reply.content.status).toBe(status);
    await kernel.signal("SIGINT");
    // A kernel the SIGINT ended would never answer: the next cell's reply is the proof it did not.
    const next = await kernel.run("1 + 1");
    expect(next.reply.content, JSON.stringify(next.reply.content)).toMatchObject({ status: "ok" });
    expect(await kernelPid(kernel)).toBe(pid);
  });

  it("a cell awaiting its child is interrupted: its traceback says Interrupted and that the child is ended, and the child is", async () => {
    const msgId = await kernel.execute(
      [
        'import { spawn } from "forklab";',
        "const sleeper = spawn(() => new Promise(() => setInterval(() => {}, 1000)));",
        "console.log(`child ${sleeper.pid}`);",
        "await sleeper.join();",
      ].join("\n"),
    );
    const started = await kernel.waitForMessage("the child's pid", (m) => m.parent === msgId && m.msg_type === "stream" && /child \d+/.test(m.content.text));
    const pid = Number(/child (\d+)/.exec(started.content.text)![1]);
    await kernel.send("control", "interrupt_request", {});
    const reply = await kernel.replyTo(msgId);
    expect(reply.content, JSON.stringify(reply.content)).toMatchObject({ status: "error", ename: "Interrupted" });
    // What a frontend shows is the traceback: the interrupt's name, what became of the child,
    // what to do; not the "Error: Interrupted asynchronously" the await was stopped with.
    const shown = reply.content.traceback.join("\n");
    expect(shown).toMatch(/^Interrupted: the cell was interrupted; the processes and programs it started are ended\. Run it again to start over\./);
    expect(shown).not.toMatch(/^Error:/m);
    await waitFor(`child ${pid} to be ended by the interrupt`, () => isGone(pid), 30_000);
  });

  it("a cell spinning in a loop is stopped by SIGINT (the stop button), and its traceback is the interrupt's line alone", async () => {
    const spinning = path.join(scratch, "spinning");
    const msgId = await kernel.execute(`require("fs").writeFileSync(${JSON.stringify(spinning)}, "");\nlet spins = 0;\nwhile (true) spins++;`);
    await waitFor("the cell to spin", () => existsSync(spinning), 60_000);
    await kernel.signal("SIGINT");
    const reply = await kernel.replyTo(msgId);
    expect(reply.content, JSON.stringify(reply.content)).toMatchObject({ status: "error", ename: "Interrupted" });
    expect(reply.content.traceback).toEqual(["Interrupted: the cell was interrupted; the processes and programs it started are ended. Run it again to start over."]);
    expect((await kernel.run("1 + 1")).reply.content.status).toBe("ok");
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
