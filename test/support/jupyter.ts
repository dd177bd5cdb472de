/**
 * Finding the Debian Jupyter (jupyter_client, ipykernel, nbformat under /usr/bin/python3) that
 * tests use as the reference implementation. Tests that need it are skipped, loudly, when it is
 * missing; with FORKLAB_REQUIRE_JUPYTER=1 a missing Jupyter fails the test file instead.
 */
import { spawnSync } from "node:child_process";

/** Pythons to try, first match wins; FORKLAB_JUPYTER_PYTHON replaces the default. */
const CANDIDATES = process.env.FORKLAB_JUPYTER_PYTHON ? [process.env.FORKLAB_JUPYTER_PYTHON] : ["/usr/bin/python3"];
const MODULES = "import jupyter_client, ipykernel, nbformat";

let cached: string | null | undefined;

/** The path of a Python that has jupyter_client, ipykernel and nbformat, or undefined. */
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

/**
 * Whether the tests of `what` can run. Prints a warning when they cannot; throws (failing the
 * file) when FORKLAB_REQUIRE_JUPYTER=1.
 */
export function jupyterAvailable(what: string): boolean {
  if (findJupyterPython()) return true;
  const message =
    `Jupyter not found (tried ${CANDIDATES.join(", ")} for "${MODULES}"): ${what} need it. ` +
    `Install Debian's python3-jupyter-client, python3-ipykernel and python3-nbformat, ` +
    `or point FORKLAB_JUPYTER_PYTHON at a Python that has them.`;
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
