/**
 * The project's own Jupyter: a virtual environment in `.venv/` at the checkout's root with the
 * pinned stack of `jupyter-requirements.txt`. `forklab start` creates it when no JupyterLab is on
 * PATH, `forklab setup` creates it on request (as .ci/run does), and the tests use its Python.
 *
 * It is reused as long as the requirements it was made from are unchanged: a stamp inside the
 * environment records their hash, written only after pip succeeded, so an interrupted install is
 * completed on the next run instead of being taken for a finished one.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findProgram } from "../src/parent/subprocess/locate";
import { packageRoot } from "./package-root";

export const REQUIREMENTS_FILE = "jupyter-requirements.txt";
/** The oldest Python the pinned stack supports. */
export const MIN_PYTHON: readonly [number, number] = [3, 9];
const STAMP = "forklab-requirements.sha256";

/** A problem the user can fix (no Python, pip failed); the CLI prints the message alone. */
export class JupyterEnvError extends Error {
  override name = "JupyterEnvError";
}

/**
 * The environment's folder: FORKLAB_VENV if set (so that several checkouts can share one), else
 * `.venv/` in the checkout.
 */
export function venvDir(root: string = packageRoot(), env: NodeJS.ProcessEnv = process.env): string {
  return env.FORKLAB_VENV || join(root, ".venv");
}

/** An executable of the environment (`python`, `jupyter-lab`, ...), whether or not it exists. */
export function venvExecutable(name: string, dir: string = venvDir()): string {
  return process.platform === "win32" ? join(dir, "Scripts", `${name}.exe`) : join(dir, "bin", name);
}

function requirementsHash(root: string): string {
  return createHash("sha256").update(readFileSync(join(root, REQUIREMENTS_FILE))).digest("hex");
}

/** Whether the environment exists and holds what the current requirements ask for. */
export function venvReady(root: string = packageRoot(), dir: string = venvDir(root)): boolean {
  try {
    return existsSync(venvExecutable("python", dir)) && readFileSync(join(dir, STAMP), "utf8").trim() === requirementsHash(root);
  } catch {
    return false; // no stamp yet
  }
}

/** The first executable called `name` on PATH (with PATHEXT on Windows). */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return findProgram(name, { PATH: env.PATH ?? "", PATHEXT: env.PATHEXT });
}

export interface BasePython {
  path: string;
  version: string;
}

/** What a candidate Python lacks, or its version when it can make the environment. */
function probePython(path: string): BasePython | string {
  const probe = spawnSync(path, ["-c", "import sys, venv, ensurepip; print('%d.%d.%d' % sys.version_info[:3])"], {
    encoding: "utf8",
    timeout: 30_000,
  });
  if (probe.error) return `${path} did not run (${probe.error.message})`;
  const version = probe.stdout.trim();
  if (probe.status !== 0 || !/^\d+\.\d+\.\d+$/.test(version)) {
    return `${path} has no venv/ensurepip module (on Debian or Ubuntu: apt install python3-venv)`;
  }
  const [major, minor] = version.split(".").map(Number);
  if (major! < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor! < MIN_PYTHON[1])) {
    return `${path} is Python ${version}; the pinned Jupyter needs ${MIN_PYTHON.join(".")} or newer`;
  }
  return { path, version };
}

/**
 * The first `python3` (then `python`) on PATH that can make a virtual environment, or why none
 * can: `{ rejected }` lists each candidate and what it lacks.
 */
export function findBasePython(env: NodeJS.ProcessEnv = process.env): BasePython | { rejected: string[] } {
  const rejected: string[] = [];
  for (const name of ["python3", "python"]) {
    const path = which(name, env);
    if (!path) continue;
    const found = probePython(path);
    if (typeof found !== "string") return found;
    rejected.push(found);
  }
  return { rejected };
}

export interface EnsureOptions {
  root?: string;
  /** Where progress goes (pip's own output included); default stderr. */
  log?: (text: string) => void;
  /** A Python to build the environment from, instead of searching PATH. */
  python?: string;
}

/**
 * Make sure the environment is there with the pinned stack, creating or updating it with visible
 * progress; resolves with its folder. Does nothing (and prints nothing) when it is ready.
 */
export async function ensureJupyterEnv(options: EnsureOptions = {}): Promise<string> {
  const root = options.root ?? packageRoot();
  const log = options.log ?? ((text: string) => process.stderr.write(text));
  const dir = venvDir(root);
  if (venvReady(root, dir)) return dir;
  const requirements = join(root, REQUIREMENTS_FILE);

  if (!existsSync(venvExecutable("python", dir))) {
    const base = options.python ? probePython(options.python) : findBasePython();
    if (typeof base === "string" || "rejected" in base) {
      const why = typeof base === "string" ? [base] : base.rejected.length ? base.rejected : ["no python3 or python on PATH"];
      throw new JupyterEnvError(
        `cannot create the Jupyter environment in ${dir}: it needs Python ${MIN_PYTHON.join(".")}+ with venv.\n` +
          why.map((line) => `  - ${line}\n`).join("") +
          `Install Python 3 (on Debian or Ubuntu: apt install python3 python3-venv), or install JupyterLab ` +
          `yourself (pip install -r ${requirements}) and put jupyter-lab on PATH.`,
      );
    }
    log(`forklab: creating a Python ${base.version} environment in ${dir} (from ${base.path})\n`);
    await step(base.path, ["-m", "venv", dir], `${base.path} -m venv ${dir}`);
  } else {
    log(`forklab: updating the Jupyter environment in ${dir} to ${REQUIREMENTS_FILE}\n`);
  }
  const python = venvExecutable("python", dir);
  log(`forklab: installing the pinned Jupyter stack (${REQUIREMENTS_FILE}) into ${dir}; this takes a minute or two\n`);
  await step(python, ["-m", "pip", "install", "-r", requirements], `pip install -r ${REQUIREMENTS_FILE}`);
  writeFileSync(join(dir, STAMP), requirementsHash(root) + "\n");
  log(`forklab: the Jupyter environment is ready: ${dir}\n`);
  return dir;
}

/** Run one set-up step with its output on our stderr (pip's progress shows as it goes). */
function step(command: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // pip's stdout goes to stderr too: stdout is the command's own output.
    const child = spawn(command, args, { stdio: ["ignore", 2, 2] });
    child.once("error", (error) => reject(new JupyterEnvError(`${what} could not start: ${error.message}`)));
    child.once("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(new JupyterEnvError(`${what} failed (${signal ? `killed by ${signal}` : `exit code ${code}`}); its output is above. Fix the cause and run the command again: what is installed is reused.`));
    });
  });
}
