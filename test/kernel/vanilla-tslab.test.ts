/**
 * The library without the forklab kernel: in vanilla tslab's own kernel, `display()` sends a whole
 * MIME bundle through tslab's display hook (as far as tslab allows: no clear_output, no interrupt
 * hooks), and in a plain Node script it prints the text and `input()` reads stdin.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findJupyterPython, jupyterAvailable } from "../support/jupyter";

const root = path.resolve(__dirname, "..", "..");
const project = mkdtempSync(path.join(tmpdir(), "forklab-vanilla-"));
// A user's project with forklab installed as a package.
mkdirSync(path.join(project, "node_modules"));
symlinkSync(root, path.join(project, "node_modules", "forklab"), "dir");
afterAll(() => rmSync(project, { recursive: true, force: true }));

const CELL = 'import { display } from "forklab";\ndisplay({ "text/plain": "plain hi", "text/html": "<b>rich hi</b>" });';

const DRIVER = `
import atexit, json, os, shutil, sys, tempfile
specs = tempfile.mkdtemp()
atexit.register(shutil.rmtree, specs, True)
spec = os.path.join(specs, "kernels", "tslab-vanilla")
os.makedirs(spec)
with open(os.path.join(spec, "kernel.json"), "w") as f:
    json.dump({"argv": sys.argv[1:], "display_name": "tslab", "language": "typescript"}, f)
os.environ["JUPYTER_PATH"] = specs
from jupyter_client.manager import KernelManager
km = KernelManager(kernel_name="tslab-vanilla")
km.start_kernel(cwd=os.getcwd())
kc = km.client()
kc.start_channels()
try:
    kc.wait_for_ready(timeout=120)
    outputs = []
    kc.execute_interactive(${JSON.stringify(CELL)}, timeout=120, output_hook=lambda m: outputs.append({"type": m["msg_type"], "content": m["content"]}))
    print(json.dumps(outputs))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
`;

describe.skipIf(!jupyterAvailable("the vanilla tslab test"))("the library in vanilla tslab", () => {
  it("sends a whole MIME bundle through tslab's display hook", () => {
    const tslab = path.join(root, "node_modules", "tslab", "bin", "tslab");
    const result = spawnSync(findJupyterPython()!, ["-c", DRIVER, process.execPath, tslab, "kernel", "--config-path", "{connection_file}"], {
      cwd: project,
      encoding: "utf8",
      timeout: 300_000,
    });
    expect(result.status, result.stderr).toBe(0);
    const outputs = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as { type: string; content: { data?: Record<string, string> } }[];
    const displays = outputs.filter((o) => o.type === "display_data");
    expect(displays).toHaveLength(1);
    expect(displays[0].content.data).toEqual({ "text/plain": "plain hi", "text/html": "<b>rich hi</b>" });
  });
});

describe("the library in a plain Node script", () => {
  it("prints the text of a display and skips its updates", () => {
    const script = path.join(project, "script.js");
    writeFileSync(
      script,
      'const { display } = require("forklab");\n' +
        'display({ "text/plain": "first", "text/html": "<b>first</b>" }, { displayId: "d" });\n' +
        'display({ "text/plain": "updated" }, { displayId: "d", update: true });\n',
    );
    const result = spawnSync(process.execPath, [script], { cwd: project, encoding: "utf8" });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe("first\n");
  });

  it("reads input() from stdin", () => {
    const script = path.join(project, "ask.js");
    writeFileSync(script, 'require("forklab").input("Name? ").then((name) => console.log(`got ${name}`));\n');
    const result = spawnSync(process.execPath, [script], { cwd: project, encoding: "utf8", input: "Ada\n" });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe("Name? got Ada\n");
  });
});
