/**
 * `npm start` without Jupyter: it still registers the kernelspec (no Python needed), runs the
 * course headless, and says where the executed notebooks are and how to get JupyterLab.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";

const root = path.resolve(__dirname, "..", "..");
const executed = path.join(root, "notebooks", "executed");
const home = mkdtempSync(path.join(tmpdir(), "forklab-start-"));
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(executed, { recursive: true, force: true });
});

it("runs the course headless when neither JupyterLab nor Jupyter Notebook is on PATH", async () => {
  const emptyPath = path.join(home, "bin");
  const child = spawn(process.execPath, [path.join(root, "bin", "forklab.js"), "start"], {
    env: { ...process.env, PATH: emptyPath, JUPYTER_DATA_DIR: path.join(home, "data") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));

  expect(code, stderr).toBe(0);
  expect(stderr).toContain("Neither JupyterLab nor Jupyter Notebook is installed, so the course runs headless.");
  expect(stderr).toContain("pip install jupyterlab");
  expect(stderr).toContain(`Executed notebooks are in ${executed}`);
  const spec = JSON.parse(readFileSync(path.join(home, "data", "kernels", "forklab", "kernel.json"), "utf8"));
  expect(spec.argv.slice(1, 3)).toEqual([path.join(root, "bin", "forklab.js"), "kernel"]);
  for (const name of ["01-fork", "02-process", "04-subprocess"]) {
    const file = path.join(executed, `${name}.ipynb`);
    expect(existsSync(file), file).toBe(true);
    const notebook = JSON.parse(readFileSync(file, "utf8"));
    const counts = notebook.cells.filter((c: { cell_type: string }) => c.cell_type === "code").map((c: { execution_count: number }) => c.execution_count);
    expect(counts.every((n: number) => n > 0)).toBe(true);
  }
});
