/**
 * Kernelspecs without Python: where Jupyter looks for them (jupyter_core's paths, reproduced),
 * installing and removing ours, and finding any kernelspec by name for the notebook runner.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { venvDir } from "./jupyter-env";
import { packageRoot } from "./package-root";

export { packageRoot };

export const DEFAULT_KERNEL_NAME = "forklab";
export const DISPLAY_NAME = "TypeScript (forklab)";
export const LOGO_FILES = ["logo-32x32.png", "logo-64x64.png", "logo.svg"] as const;

/** kernel.json, as Jupyter reads it. */
export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode?: "signal" | "message";
  env?: Record<string, string>;
  metadata?: Record<string, unknown>;
}

/** A kernelspec found on disk: its name, folder and parsed kernel.json. */
export interface FoundKernelSpec {
  name: string;
  resourceDir: string;
  spec: KernelSpec;
}

/** Where to install: `user` (the default), `sys-prefix`, or an explicit `prefix`. */
export type InstallTarget = { kind: "user" } | { kind: "sys-prefix" } | { kind: "prefix"; prefix: string };

/** A problem the user can fix; the CLI prints the message alone and exits 1. */
export class KernelSpecError extends Error {
  override name = "KernelSpecError";
}

type Env = Record<string, string | undefined>;

/** The command that starts this installation's kernel; `{connection_file}` is filled in by Jupyter. */
export function kernelArgv(root: string = packageRoot()): string[] {
  return [process.execPath, join(root, "bin", "forklab.js"), "kernel", "--connection-file", "{connection_file}"];
}

/**
 * The kernelspec for this installation.
 *
 * interrupt_mode: "signal" on POSIX. jupyter_client then sends SIGINT to the kernel's whole process
 * group, so children started from a cell are interrupted too (as Python's are), and a SIGINT can
 * break into synchronous code, which a message cannot reach while the event loop is blocked.
 * Windows has no SIGINT for a process without a console of its own (jupyter_client uses an
 * event handle only ipykernel understands), so there it is "message" (interrupt_request).
 */
export function forklabKernelSpec(root: string = packageRoot(), platform: NodeJS.Platform = process.platform): KernelSpec {
  return {
    argv: kernelArgv(root),
    display_name: DISPLAY_NAME,
    language: "typescript",
    interrupt_mode: platform === "win32" ? "message" : "signal",
    metadata: {},
  };
}

/** jupyter_core.paths.jupyter_data_dir(): the user's Jupyter data folder. */
export function userDataDir(env: Env = process.env, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  if (env.JUPYTER_DATA_DIR) return resolve(env.JUPYTER_DATA_DIR);
  if (platform === "darwin") return join(home, "Library", "Jupyter");
  if (platform === "win32") return env.APPDATA ? join(env.APPDATA, "jupyter") : join(home, ".jupyter", "data");
  return join(env.XDG_DATA_HOME || join(home, ".local", "share"), "jupyter");
}

/** The environment prefix `--sys-prefix` means, known without Python only from an activated env. */
export function sysPrefix(env: Env = process.env): string {
  const prefix = env.CONDA_PREFIX || env.VIRTUAL_ENV;
  if (!prefix) {
    throw new KernelSpecError(
      "--sys-prefix installs into the active Python environment, but none is active " +
        "(neither CONDA_PREFIX nor VIRTUAL_ENV is set), and forklab does not run Python to ask. " +
        "Activate the environment that runs Jupyter, or pass its prefix explicitly: " +
        `--prefix "$(python3 -c 'import sys; print(sys.prefix)')"`,
    );
  }
  return resolve(prefix);
}

/** The `kernels` folder a target installs into. */
export function kernelsDir(target: InstallTarget, env: Env = process.env, platform: NodeJS.Platform = process.platform): string {
  switch (target.kind) {
    case "user":
      return join(userDataDir(env, platform), "kernels");
    case "sys-prefix":
      return join(sysPrefix(env), "share", "jupyter", "kernels");
    case "prefix":
      return join(resolve(target.prefix), "share", "jupyter", "kernels");
  }
}

/**
 * jupyter_client's KernelSpecManager.kernel_dirs, in its order of precedence: JUPYTER_PATH, the
 * user folder, the active environment (or the project's), the system folders, then IPython's
 * legacy folder.
 */
export function kernelSearchDirs(
  env: Env = process.env,
  platform: NodeJS.Platform = process.platform,
  home = homedir(),
  projectEnv: string = venvDir(packageRoot(), env),
): string[] {
  const dataDirs: string[] = [];
  if (env.JUPYTER_PATH) {
    const sep = platform === "win32" ? ";" : delimiter;
    dataDirs.push(...env.JUPYTER_PATH.split(sep).filter(Boolean).map((p) => resolve(p)));
  }
  dataDirs.push(userDataDir(env, platform, home));
  // With no environment active, the project's own (`npx forklab setup`), which `npm start` runs
  // Jupyter from: its kernels (python3 among them) are the ones that Jupyter lists, by its sys.prefix.
  const envPrefix = env.CONDA_PREFIX || env.VIRTUAL_ENV || projectEnv;
  dataDirs.push(join(envPrefix, "share", "jupyter"));
  if (platform === "win32") {
    if (env.PROGRAMDATA) dataDirs.push(join(env.PROGRAMDATA, "jupyter"));
  } else {
    dataDirs.push("/usr/local/share/jupyter", "/usr/share/jupyter");
  }
  const dirs = dataDirs.map((d) => join(d, "kernels"));
  dirs.push(join(env.IPYTHONDIR || join(home, ".ipython"), "kernels"));
  return [...new Set(dirs)];
}

const KERNEL_NAME = /^[a-z0-9._-]+$/i;

export function validateKernelName(name: string): string {
  if (!KERNEL_NAME.test(name)) {
    throw new KernelSpecError(
      `invalid kernel name ${JSON.stringify(name)}: use letters, digits, ".", "_" and "-" only`,
    );
  }
  // jupyter_client lowercases names on install; do the same so `--kernel NAME` finds it.
  return name.toLowerCase();
}

export interface InstallOptions {
  target?: InstallTarget;
  /** @default "forklab" */
  name?: string;
  /** @default this installation */
  root?: string;
  env?: Env;
}

/** Write the kernelspec folder (replacing an older one of that name); returns its path. */
export function installKernelSpec(options: InstallOptions = {}): string {
  const name = validateKernelName(options.name ?? DEFAULT_KERNEL_NAME);
  const root = options.root ?? packageRoot();
  const dir = join(kernelsDir(options.target ?? { kind: "user" }, options.env), name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "kernel.json"), JSON.stringify(forklabKernelSpec(root), null, 1) + "\n");
  for (const logo of LOGO_FILES) {
    const source = join(root, "kernel", logo);
    if (existsSync(source)) copyFileSync(source, join(dir, logo));
  }
  return dir;
}

/** Remove the kernelspec folder; returns its path, or throws when it is not there. */
export function uninstallKernelSpec(options: Omit<InstallOptions, "root"> = {}): string {
  const name = validateKernelName(options.name ?? DEFAULT_KERNEL_NAME);
  const dir = join(kernelsDir(options.target ?? { kind: "user" }, options.env), name);
  if (!existsSync(join(dir, "kernel.json"))) {
    throw new KernelSpecError(`no kernelspec ${JSON.stringify(name)} to remove: ${dir} does not exist`);
  }
  rmSync(dir, { recursive: true, force: true });
  return dir;
}

export function readKernelSpec(dir: string, name: string): FoundKernelSpec {
  const file = join(dir, "kernel.json");
  let spec: unknown;
  try {
    spec = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new KernelSpecError(`cannot read kernelspec ${file}: ${(error as Error).message}`);
  }
  const argv = (spec as KernelSpec | null)?.argv;
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")) {
    throw new KernelSpecError(`kernelspec ${file} has no "argv" list of strings`);
  }
  return { name, resourceDir: dir, spec: spec as KernelSpec };
}

/** Every kernelspec on Jupyter's paths, the first of each name winning, as in jupyter_client. */
export function listKernelSpecs(env: Env = process.env): Map<string, string> {
  const found = new Map<string, string>();
  for (const kernels of kernelSearchDirs(env)) {
    let entries: string[];
    try {
      entries = readdirSync(kernels);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const name = entry.toLowerCase();
      if (!found.has(name) && existsSync(join(kernels, entry, "kernel.json"))) found.set(name, join(kernels, entry));
    }
  }
  return found;
}

export function findKernelSpec(name: string, env: Env = process.env): FoundKernelSpec {
  const all = listKernelSpecs(env);
  const dir = all.get(name.toLowerCase());
  if (!dir) {
    const known = [...all.keys()].sort();
    throw new KernelSpecError(
      `no kernelspec named ${JSON.stringify(name)}; ` +
        (known.length ? `installed: ${known.join(", ")}` : "none is installed") +
        ` (searched ${kernelSearchDirs(env).join(", ")})`,
    );
  }
  return readKernelSpec(dir, name.toLowerCase());
}

/** True when the user kernelspec `name` exists and starts this installation's kernel. */
export function isInstalledHere(name = DEFAULT_KERNEL_NAME, root = packageRoot(), env: Env = process.env): boolean {
  const dir = join(kernelsDir({ kind: "user" }, env), name);
  try {
    const { spec } = readKernelSpec(dir, name);
    return JSON.stringify(spec.argv) === JSON.stringify(kernelArgv(root));
  } catch {
    return false;
  }
}
