/**
 * Finding the Jupyter that tests use as the reference implementation: the project's environment
 * (.venv/, made by `npx forklab setup` or `npm start` with jupyter-requirements.txt), or the Python
 * FORKLAB_JUPYTER_PYTHON names. Tests that need it are skipped, loudly, when it is missing; with
 * FORKLAB_REQUIRE_JUPYTER=1 (as in .ci/run) a missing Jupyter fails the test file instead.
 */
import { spawnSync } from "node:child_process";
import { venvDir, venvExecutable } from "../../kernel/jupyter-env";
import { packageRoot } from "../../kernel/kernelspec";

/** An explicit FORKLAB_JUPYTER_PYTHON wins; otherwise the project's environment. */
const CANDIDATES = process.env.FORKLAB_JUPYTER_PYTHON
  ? [process.env.FORKLAB_JUPYTER_PYTHON]
  : [venvExecutable("python", venvDir(packageRoot()))];
const MODULES = "import jupyter_client, ipykernel, nbformat, nbclient, jupyter_kernel_test";

let cached: string | null | undefined;

/** The path of a Python that has the Jupyter stack the tests drive the kernel with, or undefined. */
export function findJupyterPython(): string | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  for (const python of CANDIDATES) {
    const probe = spawnSync(python, ["-c", MODULES], { encoding: "utf8", timeout: 30_000 });
    if (probe.status === 0) {
      cached = python;
      break;
    }
  }
  return cached ?? undefined;
}

/** An executable next to the Jupyter Python (`jupyter-lab`, `jupyter-notebook`), or undefined. */
export function jupyterExecutable(name: string): string | undefined {
  const python = findJupyterPython();
  if (!python) return undefined;
  const probe = spawnSync(python, ["-c", `import shutil, sys, os; print(shutil.which(${JSON.stringify(name)}, path=os.path.dirname(sys.executable)) or "")`], {
    encoding: "utf8",
    timeout: 30_000,
  });
  return probe.stdout.trim() || undefined;
}

/**
 * Whether the tests of `what` can run. Prints a warning when they cannot; throws (failing the
 * file) when FORKLAB_REQUIRE_JUPYTER=1.
 */
export function jupyterAvailable(what: string): boolean {
  if (findJupyterPython()) return true;
  const message =
    `Jupyter not found (tried ${CANDIDATES.join(", ")} for "${MODULES}"): ${what} need it. ` +
    `Create the project's environment with "npx forklab setup" (after npm install; about a minute), ` +
    `or point FORKLAB_JUPYTER_PYTHON at a Python that has jupyter-requirements.txt installed.`;
  if (process.env.FORKLAB_REQUIRE_JUPYTER === "1") throw new Error(`${message} (FORKLAB_REQUIRE_JUPYTER=1)`);
  console.warn(`\n!!! SKIPPED: ${message}\n`);
  return false;
}

/** Run a Python snippet with the Jupyter Python; returns stdout, throws with stderr on failure. */
export function python(code: string, options: { env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  const exe = findJupyterPython();
  if (!exe) throw new Error("no Jupyter Python");
  const result = spawnSync(exe, ["-c", code], {
    encoding: "utf8",
    env: { ...process.env, ...options.env },
    input: options.input,
    timeout: 60_000,
  });
  if (result.status !== 0) throw new Error(`python exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}
