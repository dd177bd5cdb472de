/**
 * A kernel restarted while a cell's pool is running leaves no worker behind: the real forklab
 * kernel, started and restarted by jupyter_client's KernelManager as a frontend does.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findJupyterPython, jupyterAvailable } from "../support/jupyter";
import { isGone, waitFor } from "../support/processes";

const root = path.resolve(__dirname, "..", "..");
const available = jupyterAvailable("the pool's kernel restart test");

// Starts a kernel, runs a pool with a task that never ends, lists the kernel's child runtimes
// (/proc), restarts the kernel, checks the new one answers, and prints what it saw as JSON.
const DRIVER = String.raw`
import json, os, sys
from jupyter_client.manager import start_new_kernel

def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and "child/main.js" in cmdline:
            found.append(int(entry))
    return found

def run(kc, code):
    msg_id = kc.execute(code)
    reply = kc.get_shell_msg(timeout=120)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=120)
    text = ""
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text += msg["content"]["text"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return reply["content"], text

km, kc = start_new_kernel(kernel_name="forklab", startup_timeout=120)
try:
    reply, text = run(kc, "\n".join([
        'import { Pool } from "forklab";',
        "const p = new Pool(2);",
        "await p.map((x: number) => x, [1, 2, 3, 4], 1);",
        "p.applyAsync(() => new Promise(() => setInterval(() => {}, 1000)));",
        'console.log("kernel", process.pid);',
    ]))
    assert reply["status"] == "ok", reply
    kernel = int(text.split("kernel ")[-1].split()[0])
    workers = children(kernel)
    km.restart_kernel(now=False)
    kc.stop_channels()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    reply, text = run(kc, 'console.log("new kernel", process.pid);')
    print(json.dumps({"kernel": kernel, "workers": workers, "answered": reply["status"], "text": text}))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
`;

describe.skipIf(!available)("a running pool and a kernel restart", () => {
  let prefix: string;
  let workers: number[] = [];

  beforeAll(() => {
    prefix = mkdtempSync(path.join(tmpdir(), "forklab-pool-restart-"));
    const install = spawnSync(process.execPath, [path.join(root, "bin", "forklab.js"), "install", "--prefix", prefix], { encoding: "utf8" });
    expect(install.status, install.stderr).toBe(0);
  });

  afterAll(() => {
    // Whatever the outcome, no worker outlives the test.
    for (const pid of workers) if (!isGone(pid)) process.kill(pid, "SIGKILL");
    rmSync(prefix, { recursive: true, force: true });
  });

  it("leaves no worker of the pool once the kernel has restarted", async () => {
    const run = spawnSync(findJupyterPython()!, ["-c", DRIVER], {
      cwd: __dirname,
      encoding: "utf8",
      env: { ...process.env, JUPYTER_PATH: path.join(prefix, "share", "jupyter") },
      timeout: 300_000,
    });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    const seen = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as { kernel: number; workers: number[]; answered: string; text: string };
    workers = seen.workers;
    // The pool's two workers were running (a kernel may also keep a spare child runtime).
    expect(seen.workers.length).toBeGreaterThanOrEqual(2);
    expect(seen.answered).toBe("ok");
    expect(seen.text).toMatch(/new kernel \d+/);
    expect(seen.text).not.toContain(`new kernel ${seen.kernel}\n`);
    for (const pid of seen.workers) await waitFor(`worker ${pid} to end after the kernel restart`, () => isGone(pid), 30_000);
  }, 320_000);
});
