/**
 * `npm start` (forklab start): it registers the kernelspec (no Python needed), then opens the
 * course with the project's JupyterLab; without JupyterLab and without a Python to install it
 * with (or with --no-install), it runs the course headless and says how to get JupyterLab.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REQUIREMENTS_FILE, venvDir, venvExecutable, venvReady } from "../../kernel/jupyter-env";
import { findJupyterPython } from "../support/jupyter";

const root = path.resolve(__dirname, "..", "..");
const executed = path.join(root, "notebooks", "executed");
const home = mkdtempSync(path.join(tmpdir(), "forklab-start-"));
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(executed, { recursive: true, force: true });
});

async function start(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(root, "bin", "forklab.js"), "start", ...args], {
    env: { ...process.env, JUPYTER_DATA_DIR: path.join(home, "data"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  return { code, stdout, stderr };
}

function expectHeadlessRun(stderr: string): void {
  expect(stderr).toContain("Neither JupyterLab nor Jupyter Notebook is installed, so the course runs headless.");
  expect(stderr).toContain("pip install jupyterlab");
  expect(stderr).toContain(`Executed notebooks are in ${executed}`);
  for (const name of ["01-fork", "02-process", "04-subprocess"]) {
    const file = path.join(executed, `${name}.ipynb`);
    expect(existsSync(file), file).toBe(true);
    const notebook = JSON.parse(readFileSync(file, "utf8"));
    const counts = notebook.cells.filter((c: { cell_type: string }) => c.cell_type === "code").map((c: { execution_count: number }) => c.execution_count);
    expect(counts.every((n: number) => n > 0)).toBe(true);
  }
}

// These run the whole course headless (seven notebooks, each booting a kernel and its children):
// minutes on a loaded 2-core machine. The deadline only stops a hung run.
const HEADLESS_COURSE_DEADLINE_MS = 900_000;

it("runs the course headless when neither JupyterLab nor a Python to install it with is on PATH", { timeout: HEADLESS_COURSE_DEADLINE_MS }, async () => {
  const emptyPath = path.join(home, "bin");
  const { code, stderr } = await start([], { PATH: emptyPath, FORKLAB_VENV: path.join(home, "no-venv") });

  expect(code, stderr).toBe(0);
  expectHeadlessRun(stderr);
  expect(stderr).toContain("apt install python3 python3-venv");
  const spec = JSON.parse(readFileSync(path.join(home, "data", "kernels", "forklab", "kernel.json"), "utf8"));
  expect(spec.argv.slice(1, 3)).toEqual([path.join(root, "bin", "forklab.js"), "kernel"]);
});

it("with --no-install makes no environment, even with Python on PATH", { timeout: HEADLESS_COURSE_DEADLINE_MS }, async () => {
  const venv = path.join(home, "never-made");
  // PATH keeps python3 but no jupyter-lab or jupyter-notebook.
  const python = findJupyterPython() ? path.dirname(path.dirname(findJupyterPython()!)) : undefined;
  const PATH = (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter((dir) => !existsSync(path.join(dir, "jupyter-lab")) && !existsSync(path.join(dir, "jupyter-notebook")) && dir !== python)
    .join(path.delimiter);
  const { code, stderr } = await start(["--no-install"], { PATH, FORKLAB_VENV: venv });

  expect(code, stderr).toBe(0);
  expect(stderr).toContain("--no-install was given");
  expectHeadlessRun(stderr);
  expect(existsSync(venv)).toBe(false);
});

// The project's environment, once made (npx forklab setup); the other tests may use another Jupyter.
const projectVenv = venvDir(root);
const pinnedLab = /^jupyterlab==(\S+)$/m.exec(readFileSync(path.join(root, REQUIREMENTS_FILE), "utf8"))![1];
describe.skipIf(!venvReady(root, projectVenv))("with the project's environment", () => {
  it("starts its JupyterLab, passing what follows -- to Jupyter, --help included", async () => {
    const noJupyterOnPath = path.join(home, "bin");
    const version = await start(["--", "--version"], { PATH: noJupyterOnPath, FORKLAB_VENV: projectVenv });
    expect(version.code, version.stderr).toBe(0);
    expect(version.stderr).toContain(`Starting JupyterLab in ${path.join(root, "notebooks")}: ${venvExecutable("jupyter-lab", projectVenv)}`);
    expect(version.stdout.trim()).toBe(pinnedLab);

    const help = await start(["--", "--help"], { PATH: noJupyterOnPath, FORKLAB_VENV: projectVenv });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain("jupyter lab");
    expect(help.stdout).not.toContain("forklab install");
  });
});
