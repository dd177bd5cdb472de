/**
 * A kernel whose Jupyter server dies, even by SIGKILL, shuts itself down: no orphan kernels.
 * A shell stands in for the server: it starts the kernel, and the test SIGKILLs the shell.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { KernelClient } from "../../kernel/runner/client";
import { newConnectionInfo } from "../../kernel/runner/launch";
import { isGone, waitFor } from "../support/processes";

const bin = path.resolve(__dirname, "..", "..", "bin", "forklab.js");
const dir = mkdtempSync(path.join(tmpdir(), "forklab-parent-death-"));
let kernelPid: number | undefined;

afterAll(() => {
  if (kernelPid !== undefined && !isGone(kernelPid)) process.kill(kernelPid, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

it("exits when the process that started it is SIGKILLed", async () => {
  const connection = await newConnectionInfo("forklab");
  const file = path.join(dir, "kernel.json");
  writeFileSync(file, JSON.stringify(connection));
  const shell = spawn("/bin/sh", ["-c", `"${process.execPath}" "${bin}" kernel --connection-file "${file}" & echo $!; wait`], {
    cwd: dir,
    stdio: ["ignore", "pipe", "inherit"],
  });
  kernelPid = Number(await new Promise<string>((resolve) => shell.stdout.once("data", (d: Buffer) => resolve(d.toString()))));

  // Only once the kernel answers is it surely watching its parent.
  const client = new KernelClient(connection);
  try {
    const reply = await client.request("shell", "kernel_info_request", {}).reply;
    expect(reply.content.status).toBe("ok");
  } finally {
    client.close();
  }

  shell.kill("SIGKILL");
  const pid = kernelPid;
  await waitFor(`the kernel ${pid} to exit after its parent was SIGKILLed`, () => isGone(pid), 30_000);
});
