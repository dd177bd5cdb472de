/**
 * `forklab start` (what `npm start` runs): make sure Jupyter knows this checkout's kernel, then open
 * the course in JupyterLab: the project's environment (.venv/) if it is there, else `jupyter-lab`
 * on PATH, else a new project environment made with the Python on PATH (unless --no-install), else
 * Jupyter Notebook on PATH; with none of them, run the course headless.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Io } from "./cli";
import { runCommand } from "./cli";
import { ensureJupyterEnv, findBasePython, REQUIREMENTS_FILE, venvDir, venvExecutable, venvReady, which } from "./jupyter-env";
import { DEFAULT_KERNEL_NAME, installKernelSpec, isInstalledHere, kernelsDir, packageRoot } from "./kernelspec";

export function courseNotebooks(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb") && !f.endsWith(".nbconvert.ipynb"))
    .sort()
    .map((f) => join(dir, f));
}

export interface StartOptions {
  /** Arguments for Jupyter (what follows `--`). */
  jupyterArgs?: string[];
  /** Never create or update the project's environment. */
  noInstall?: boolean;
}

/** How the course will be opened: a Jupyter app, or headless (with the reason). */
type Plan = { app: string; name: "JupyterLab" | "Jupyter Notebook" } | { headless: string };

async function plan(root: string, options: StartOptions, io: Io): Promise<Plan> {
  const envLab = venvExecutable("jupyter-lab", venvDir(root));
  if (venvReady(root) && existsSync(envLab)) return { app: envLab, name: "JupyterLab" };
  const lab = which("jupyter-lab");
  if (lab) return { app: lab, name: "JupyterLab" };
  let why: string;
  if (options.noInstall) {
    why = `--no-install was given, so no environment is made in ${venvDir(root)}.`;
  } else {
    const base = findBasePython();
    if ("path" in base) {
      io.err(`JupyterLab is not on PATH: installing the pinned JupyterLab into ${venvDir(root)} (once; later starts reuse it).\n`);
      await ensureJupyterEnv({ root, log: io.err });
      return { app: envLab, name: "JupyterLab" };
    }
    why = `no Python 3 with venv to install JupyterLab with${base.rejected.length ? `: ${base.rejected.join("; ")}` : " (none on PATH)"}.`;
  }
  const classic = which("jupyter-notebook");
  if (classic) {
    io.err(`JupyterLab is not installed and ${why[0]!.toLowerCase()}${why.slice(1)} Using Jupyter Notebook from PATH.\n`);
    return { app: classic, name: "Jupyter Notebook" };
  }
  return { headless: why };
}

export async function start(io: Io, options: StartOptions = {}): Promise<number> {
  const root = packageRoot();
  const notebooks = join(root, "notebooks");
  if (isInstalledHere()) {
    io.err(`Kernelspec ${JSON.stringify(DEFAULT_KERNEL_NAME)} is installed for this checkout: ${join(kernelsDir({ kind: "user" }), DEFAULT_KERNEL_NAME)}\n`);
  } else {
    const dir = installKernelSpec({ target: { kind: "user" }, root });
    io.err(`Installed kernelspec ${JSON.stringify(DEFAULT_KERNEL_NAME)} for this checkout in ${dir}\n`);
  }

  const chosen = await plan(root, options, io);
  if ("app" in chosen) {
    // Jupyter's servers refuse to run as root unless told that it is meant.
    const args = [...(process.getuid?.() === 0 ? ["--allow-root"] : []), ...(options.jupyterArgs ?? [])];
    io.err(`Starting ${chosen.name} in ${notebooks}: ${chosen.app} ${args.join(" ")}\n`);
    return runForeground(chosen.app, args, notebooks);
  }

  const out = join(notebooks, "executed");
  const files = courseNotebooks(notebooks);
  io.err(
    `Neither JupyterLab nor Jupyter Notebook is installed, so the course runs headless.\n${chosen.headless}\n` +
      `To work through it cell by cell, install Python 3.9+ with venv (on Debian or Ubuntu: apt install python3 python3-venv)\n` +
      `and run npm start again, which installs JupyterLab into ${venvDir(root)};\n` +
      `or install it yourself (pip install jupyterlab, or pip install -r ${REQUIREMENTS_FILE} for the tested versions).\n`,
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
