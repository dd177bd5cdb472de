/**
 * process.exit() in a cell, through jupyter_client: the output printed before it and the cell's
 * reply arrive, then the kernel ends with that code, cleanly (no abort in zeromq's native code).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jupyterAvailable } from "../support/jupyter";
import { KernelSession, streamText } from "./client/session";

describe.skipIf(!jupyterAvailable("the process.exit test"))("process.exit() in a cell", () => {
  let kernel: KernelSession;

  beforeAll(async () => {
    kernel = await KernelSession.start();
  });

  afterAll(async () => {
    await kernel?.stop();
  });

  it("delivers the output and the reply, then the kernel exits with the code", async () => {
    const msgId = await kernel.execute(`console.log("printed before exit");\nprocess.exit(3);\nconsole.log("never printed");`);
    const reply = await kernel.replyTo(msgId);
    expect(reply.content.status).toBe("ok");
    const outputs = await kernel.outputsOf(msgId);
    expect(streamText(outputs)).toBe("printed before exit\n");
    expect(await kernel.exitStatus()).toBe(3);
    expect(kernel.kernelStderr()).not.toMatch(/terminate called|Napi::Error/);
  });
});
