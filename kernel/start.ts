/**
 * `forklab start` (what `npm start` runs): make sure Jupyter knows this checkout's kernel, then open
 * the course in JupyterLab, or in Jupyter Notebook; with neither, run the course headless.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { Io } from "./cli";
import { runCommand } from "./cli";
import { DEFAULT_KERNEL_NAME, installKernelSpec, isInstalledHere, kernelsDir, packageRoot } from "./kernelspec";

/** The first executable called `name` on PATH (with PATHEXT on Windows). */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const extensions = process.platform === "win32" ? (env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";") : [""];
  for (const dir of (env.PATH ?? "").split(delimiter).filter(Boolean)) {
    for (const ext of extensions) {
      const candidate = join(dir, name + ext);
      try {
        if (statSync(candidate).isFile()) return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

export function courseNotebooks(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb") && !f.endsWith(".nbconvert.ipynb"))
    .sort()
    .map((f) => join(dir, f));
}

export async function start(io: Io, jupyterArgs: string[] = []): Promise<number> {
  const root = packageRoot();
  const notebooks = join(root, "notebooks");
  if (isInstalledHere()) {
    io.err(`Kernelspec ${JSON.stringify(DEFAULT_KERNEL_NAME)} is installed for this checkout: ${join(kernelsDir({ kind: "user" }), DEFAULT_KERNEL_NAME)}\n`);
  } else {
    const dir = installKernelSpec({ target: { kind: "user" }, root });
    io.err(`Installed kernelspec ${JSON.stringify(DEFAULT_KERNEL_NAME)} for this checkout in ${dir}\n`);
  }

  const lab = which("jupyter-lab");
  const classic = lab ? undefined : which("jupyter-notebook");
  const app = lab ?? classic;
  if (app) {
    const args = [...(process.getuid?.() === 0 ? ["--allow-root"] : []), ...jupyterArgs];
    io.err(`Starting ${lab ? "JupyterLab" : "Jupyter Notebook"} in ${notebooks}: ${app} ${args.join(" ")}\n`);
    return runForeground(app, args, notebooks);
  }

  const out = join(notebooks, "executed");
  const files = courseNotebooks(notebooks);
  io.err(
    `Neither JupyterLab nor Jupyter Notebook is installed, so the course runs headless.\n` +
      `Install JupyterLab to work through it cell by cell: pip install jupyterlab\n` +
      `(or your OS package manager, e.g. apt install jupyter-notebook), then run npm start again.\n`,
  );
  if (files.length === 0) {
    io.err(`No notebooks in ${notebooks}.\n`);
    return 0;
  }
  const code = await runCommand({ notebooks: files, out, timeout: 120, allowErrors: false }, io);
  io.err(`Executed notebooks are in ${out}\n`);
  return code;
}

/** Run Jupyter in the foreground: Ctrl-C is Jupyter's to handle (it asks before stopping). */
function runForeground(command: string, args: string[], cwd: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: "inherit" });
    const ignore = () => {};
    const forward = () => child.kill("SIGTERM");
    process.on("SIGINT", ignore);
    process.on("SIGTERM", forward);
    const done = (code: number) => {
      process.off("SIGINT", ignore);
      process.off("SIGTERM", forward);
      resolve(code);
    };
    child.once("error", (error) => {
      process.stderr.write(`forklab: cannot start ${command}: ${error.message}\n`);
      done(1);
    });
    child.once("exit", (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}
