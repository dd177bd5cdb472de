/**
 * A kernel that cannot start says why and exits 1, instead of hanging or failing silently: a port
 * another process holds, a connection file with a bad field.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { newConnectionInfo } from "../../kernel/runner/launch";
import type { ConnectionInfo } from "../../kernel/wire";

const bin = path.resolve(__dirname, "..", "..", "bin", "forklab.js");
const dir = mkdtempSync(path.join(tmpdir(), "forklab-kernel-start-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function startKernel(connection: Record<string, unknown>): Promise<{ code: number | null; stderr: string }> {
  const file = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(connection));
  const child = spawn(process.execPath, [bin, "kernel", "--connection-file", file], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr })));
}

function hold(port: number): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer().listen(port, "127.0.0.1", () => resolve(server));
  });
}

describe("a kernel that cannot start", () => {
  for (const channel of ["shell", "control"] as const) {
    it(`exits 1 naming the ${channel} channel and its address when the port is taken`, async () => {
      const connection: ConnectionInfo = await newConnectionInfo("forklab");
      const port = connection[`${channel}_port`];
      const server = await hold(port);
      try {
        const { code, stderr } = await startKernel({ ...connection });
        expect(code).toBe(1);
        expect(stderr).toContain(`cannot listen on the ${channel} channel at tcp://127.0.0.1:${port}`);
      } finally {
        server.close();
      }
    });
  }

  it("exits 1 naming a signature scheme it cannot use", async () => {
    const connection = await newConnectionInfo("forklab");
    const { code, stderr } = await startKernel({ ...connection, signature_scheme: "hmac-nonsense" });
    expect(code).toBe(1);
    expect(stderr).toContain('signature_scheme "hmac-nonsense"; expected hmac-<digest>');
  });

  it("exits 1 naming a port that is not a number", async () => {
    const connection = await newConnectionInfo("forklab");
    const { code, stderr } = await startKernel({ ...connection, iopub_port: "five" });
    expect(code).toBe(1);
    expect(stderr).toContain('iopub_port "five"; expected a port number');
  });
});
