/**
 * Messages the kernel cannot read, sent by jupyter_client's own sockets: each is logged and
 * dropped, or answered with an error reply when it is a genuine request whose header could be
 * read, and the kernel serves on, on the shell and on the control channel (which its own thread
 * reads) alike.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jupyterAvailable } from "../support/jupyter";
import { KernelSession } from "./client/session";

function header(msgType: string, msgId = randomUUID()): string {
  return JSON.stringify({ msg_id: msgId, session: "malformed-test", username: "test", date: new Date().toISOString(), msg_type: msgType, version: "5.3" });
}

describe.skipIf(!jupyterAvailable("the malformed message tests"))("messages the kernel cannot read", () => {
  let kernel: KernelSession;

  beforeAll(async () => {
    kernel = await KernelSession.start();
  });

  afterAll(async () => {
    await kernel?.stop();
  });

  /** A good request on `channel` after the bad one: once it is answered, the bad one was handled. */
  async function servesOn(channel: "shell" | "control"): Promise<void> {
    const next = await kernel.send(channel, "kernel_info_request", {});
    expect((await kernel.replyTo(next)).content.status).toBe("ok");
  }

  const dropped: [string, (id: string) => [string, string, string, string], boolean, RegExp][] = [
    ["a bad signature", (id) => [header("kernel_info_request", id), "{}", "{}", "{}"], false, /dropped a message: bad signature/],
    ["a header that is not JSON", () => ["{not json", "{}", "{}", "{}"], true, /dropped a message: header frame is not JSON/],
    ["a header without msg_type", (id) => [JSON.stringify({ msg_id: id, session: "s" }), "{}", "{}", "{}"], true, /dropped a message: header lacks msg_type or msg_id/],
  ];

  describe.each(["shell", "control"] as const)("on the %s channel", (channel) => {
    it.each(dropped)("logs and drops a message with %s, and serves on", async (_what, parts, signed, logged) => {
      const id = randomUUID();
      const before = kernel.kernelStderr().match(new RegExp(logged, "g"))?.length ?? 0;
      await kernel.sendRaw(channel, parts(id), { signed });
      await servesOn(channel);
      expect(kernel.kernelStderr().match(new RegExp(logged, "g"))?.length ?? 0).toBe(before + 1);
      expect(kernel.messages.filter((m) => m.parent === id)).toEqual([]);
    });

    it("answers a request whose content is not JSON with an error reply, and serves on", async () => {
      const id = randomUUID();
      const msgType = channel === "shell" ? "execute_request" : "kernel_info_request";
      await kernel.sendRaw(channel, [header(msgType, id), "{}", "{}", '{"code": "1 +'], { signed: true });
      const reply = await kernel.replyTo(id);
      expect(reply.msg_type).toBe(msgType.replace("_request", "_reply"));
      expect(reply.content).toMatchObject({ status: "error", ename: "MalformedMessage" });
      expect(reply.content.evalue).toMatch(new RegExp(`^${msgType} ${id}: content frame is not JSON \\(.*\\); the request was not run`));
      // As for any request, busy and then idle on IOPub, parented to it: a client waits for idle.
      const statuses = (await kernel.outputsOf(id)).filter((m) => m.msg_type === "status").map((m) => m.content.execution_state);
      expect(statuses).toEqual(["busy", "idle"]);
      await servesOn(channel);
    });
  });

  it("runs cells after all of it", async () => {
    const { reply } = await kernel.run("1 + 1");
    expect(reply.content.status).toBe("ok");
  });
});
