/**
 * What a cell leaves behind and what a request gets back, through jupyter_client: the busy status
 * before any user code, names a failed cell declared, output decoding per cell, and an error reply
 * for a request whose content is malformed.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jupyterAvailable } from "../support/jupyter";
import { waitFor } from "../support/processes";
import { isStatus, KernelSession, streamText } from "./client/session";

describe.skipIf(!jupyterAvailable("the kernel's cell tests"))("cells under jupyter_client", () => {
  let kernel: KernelSession;
  let scratch: string;

  beforeAll(async () => {
    kernel = await KernelSession.start();
    scratch = mkdtempSync(path.join(tmpdir(), "forklab-cells-"));
  });

  afterAll(async () => {
    await kernel?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("reports busy on the wire before a cell's synchronous code blocks the kernel", async () => {
    const started = path.join(scratch, "started");
    const release = path.join(scratch, "release");
    // The cell says it runs, then spins until the test has seen its busy status.
    const msgId = await kernel.execute(
      `const fs = require("fs"); fs.writeFileSync(${JSON.stringify(started)}, "");\n` +
        `while (!fs.existsSync(${JSON.stringify(release)})) {}`,
    );
    await waitFor("the cell to start spinning", () => existsSync(started), 60_000);
    let busy;
    try {
      busy = await kernel.waitForMessage("busy for the spinning cell", (m) => isStatus(m, "busy") && m.parent === msgId);
    } finally {
      writeFileSync(release, "");
    }
    expect((await kernel.replyTo(msgId)).content.status).toBe("ok");
    expect(busy.content.execution_state).toBe("busy");
  });

  it("resolves forklab and forklab/package.json to this checkout from a directory outside it", async () => {
    const { reply, outputs } = await kernel.run(
      'const path = require("path");\n' +
        '[path.relative(path.dirname(require.resolve("forklab/package.json")), require.resolve("forklab")), require("forklab/package.json").name]',
    );
    expect(reply.content, JSON.stringify(reply.content)).toMatchObject({ status: "ok" });
    expect(outputs.find((m) => m.msg_type === "execute_result")?.content.data["text/plain"]).toBe("[ 'dist/src/index.js', 'forklab' ]");
  });

  it("keeps the names a cell declared before it threw", async () => {
    const { reply } = await kernel.run(`import { basename } from "path";\nconst kept = 5;\nthrow new Error("after the declarations");`);
    expect(reply.content.status).toBe("error");
    const { reply: next, outputs } = await kernel.run("`${kept} ${basename('/a/b')}`");
    expect(next.content, JSON.stringify(next.content)).toMatchObject({ status: "ok" });
    expect(outputs.find((m) => m.msg_type === "execute_result")?.content.data["text/plain"]).toBe("'5 b'");
  });

  it("keeps the names an interrupted cell declared", async () => {
    const awaiting = path.join(scratch, "awaiting");
    const msgId = await kernel.execute(
      `import { dirname } from "path";\nconst before = 7;\n` +
        `setImmediate(() => require("fs").writeFileSync(${JSON.stringify(awaiting)}, ""));\n` +
        `await new Promise(() => {});`,
    );
    await waitFor("the cell to await", () => existsSync(awaiting), 60_000);
    await kernel.send("control", "interrupt_request", {});
    expect((await kernel.replyTo(msgId)).content.ename).toBe("Interrupted");
    const { reply, outputs } = await kernel.run("`${before} ${dirname('/a/b')}`");
    expect(reply.content, JSON.stringify(reply.content)).toMatchObject({ status: "ok" });
    expect(outputs.find((m) => m.msg_type === "execute_result")?.content.data["text/plain"]).toBe("'7 /a'");
  });

  it("declares nothing for a cell that fails to type-check", async () => {
    const { reply } = await kernel.run(`const neverDeclared: number = "a string";`);
    expect(reply.content.ename).toBe("TypeScriptError");
    const { reply: next } = await kernel.run("neverDeclared");
    expect(next.content.ename).toBe("TypeScriptError");
    expect(next.content.evalue).toContain("Cannot find name 'neverDeclared'");
  });

  it("runs a cell whose only top-level await is a for await loop", async () => {
    const { reply, outputs } = await kernel.run(
      "async function* counted() { yield 1; yield 2; }\nconst seen: number[] = [];\nfor await (const v of counted()) seen.push(v);\nseen",
    );
    expect(reply.content, JSON.stringify(reply.content)).toMatchObject({ status: "ok" });
    expect(outputs.find((m) => m.msg_type === "execute_result")?.content.data["text/plain"]).toBe("[ 1, 2 ]");
    // A for await inside a function is that function's, and the cell is run as before.
    const inner = await kernel.run("async function total() { let t = 0; for await (const v of counted()) t += v; return t; }\n'declared'");
    expect(inner.reply.content, JSON.stringify(inner.reply.content)).toMatchObject({ status: "ok" });
    expect((await kernel.run("await total()")).outputs.find((m) => m.msg_type === "execute_result")?.content.data["text/plain"]).toBe("3");
  });

  it("shows a promise as Node shows it, without the cell's context, and says when it is still pending", async () => {
    const settled = await kernel.run("Promise.resolve(42)");
    expect(settled.outputs.find((m) => m.msg_type === "execute_result")?.content.data["text/plain"]).toBe("Promise { 42 }");
    const pending = await kernel.run("new Promise(() => {})");
    const text = pending.outputs.find((m) => m.msg_type === "execute_result")?.content.data["text/plain"] as string;
    expect(text.split("\n")[0]).toBe("Promise { <pending> }");
    expect(text).toContain("put await before the expression");
    // A subclass's pending promise too, and nothing of the inspection is left on the promise.
    const subclass = await kernel.run("class Task<T> extends Promise<T> {}\nnew Task(() => {})");
    const subText = subclass.outputs.find((m) => m.msg_type === "execute_result")?.content.data["text/plain"] as string;
    expect(subText).toMatch(/^Task \[Promise\] \{ <pending> \}\n\(the cell did not wait/);
    const hidden = await kernel.run("const seen = Promise.resolve(1);\nrequire('util').inspect(seen);\nrequire('util').inspect(seen, { showHidden: true }).includes('inspect.custom')");
    expect(hidden.outputs.find((m) => m.msg_type === "execute_result")?.content.data["text/plain"]).toBe("false");
    // Printed, too: console.log inspects the same way.
    const logged = await kernel.run("console.log([Promise.resolve('a'), new Promise(() => {})])");
    expect(streamText(logged.outputs)).toBe("[ Promise { 'a' }, Promise { <pending> } ]\n");
  });

  it("decodes each cell's output on its own: a partial character does not prefix the next cell's", async () => {
    // The first two bytes of "€" (e2 82 ac), and never the third.
    const { outputs: first } = await kernel.run("process.stdout.write(Buffer.from([0x61, 0xe2, 0x82]));");
    expect(streamText(first)).toBe("a");
    const { outputs: second } = await kernel.run(`process.stdout.write(Buffer.from("next cell\\n"));`);
    expect(streamText(second)).toBe("next cell\n");
  });

  it.each([
    ["code", { code: { not: "a string" } }],
    ["user_expressions", { code: "1", user_expressions: "abc" }],
    ["silent", { code: "1", silent: "yes" }],
    ["store_history", { code: "1", store_history: 1 }],
    ["allow_stdin", { code: "1", allow_stdin: "no" }],
    ["stop_on_error", { code: "1", stop_on_error: "yes" }],
  ])("answers an execute_request with a bad %s with an error reply naming it", async (field, content) => {
    const msgId = await kernel.send("shell", "execute_request", content);
    const reply = await kernel.replyTo(msgId);
    expect(reply.content.status).toBe("error");
    expect(reply.content.ename).toBe("TypeError");
    expect(reply.content.evalue).toContain(`execute_request content.${field}`);
    // The kernel serves on.
    expect((await kernel.run("1 + 1")).reply.content.status).toBe("ok");
  });

  it.each([
    ["complete_request", "cursor_pos", { code: "Math.", cursor_pos: "5" }],
    ["inspect_request", "code", { code: 5, cursor_pos: 0 }],
    ["is_complete_request", "code", { code: ["x"] }],
    ["history_request", "n", { hist_access_type: "tail", n: "ten", output: false, raw: true }],
  ])("answers a %s with a bad %s with an error reply naming it", async (type, field, content) => {
    const msgId = await kernel.send("shell", type, content);
    const reply = await kernel.replyTo(msgId);
    expect(reply.content.status).toBe("error");
    expect(reply.content.evalue).toContain(`${type} content.${field}`);
  });
});
