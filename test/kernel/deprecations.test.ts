/**
 * A kernel whose Node turns deprecation warnings into errors (NODE_OPTIONS with
 * --pending-deprecation --throw-deprecation, as a strict setup may have) starts and runs cells: the
 * deprecated API through which the SIGINT watch reaches Node's watchdog warns nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jupyterAvailable } from "../support/jupyter";
import { KernelSession } from "./client/session";

describe.skipIf(!jupyterAvailable("the deprecation tests"))("a kernel run with --throw-deprecation", () => {
  let kernel: KernelSession;

  beforeAll(async () => {
    kernel = await KernelSession.start({ env: { NODE_OPTIONS: "--pending-deprecation --throw-deprecation" } });
  });

  afterAll(async () => {
    await kernel?.stop();
  });

  it("runs cells, and warns nothing", async () => {
    const { reply } = await kernel.run("1 + 1");
    expect(reply.content, JSON.stringify(reply.content)).toMatchObject({ status: "ok" });
    const second = await kernel.run("2 + 2");
    expect(second.reply.content.status).toBe("ok");
    expect(kernel.kernelStderr()).not.toMatch(/DeprecationWarning|DEP0111/);
  });
});
