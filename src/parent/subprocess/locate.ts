/**
 * Why a program could not be started, found out after the fact from the file system, so that
 * Popen can throw at once (as Python does) with a message that says what to do.
 */
import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { pathDirectories, type SpawnErrorInit } from "./errors";
import type { Env } from "./options";

export interface SpawnDiagnosis {
  code: string;
  cwdExists: boolean;
  /** The PATH the system searched, or undefined when env was given without one. */
  path: string | undefined;
  existsAsFile: boolean;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** "missing", "executable" or "not-executable" (a directory counts as not executable). */
function probe(path: string, platform: NodeJS.Platform): "missing" | "executable" | "not-executable" {
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) return "not-executable";
    if (platform === "win32") return "executable";
    accessSync(path, constants.X_OK);
    return "executable";
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR"
      ? "missing"
      : "not-executable";
  }
}

function candidates(path: string, platform: NodeJS.Platform, env: Env): string[] {
  if (platform !== "win32" || /\.[^\\/.]+$/.test(path)) return [path];
  const exts = (env.PATHEXT ?? process.env.PATHEXT ?? ".COM;.EXE;.BAT;.CMD").split(";").filter(Boolean);
  return [path, ...exts.map((ext) => path + ext)];
}

function diagnoseSpawnFailure(
  program: string,
  cwd: string | undefined,
  env: Env | undefined,
  platform: NodeJS.Platform = process.platform,
): SpawnDiagnosis {
  const cwdExists = cwd === undefined || isDirectory(cwd);
  const effectiveEnv = env ?? process.env;
  const path = env ? (env.PATH ?? env.Path) : (process.env.PATH ?? process.env.Path);
  const base = cwd ?? process.cwd();
  const existsAsFile = probe(resolve(base, program), platform) !== "missing";
  if (!cwdExists) return { code: "ENOENT", cwdExists, path, existsAsFile };

  const verdict = (paths: string[]): string => {
    let denied = false;
    for (const candidate of paths) {
      const state = probe(candidate, platform);
      if (state === "executable") return "UNKNOWN";
      if (state === "not-executable") denied = true;
    }
    return denied ? "EACCES" : "ENOENT";
  };

  if (/[\\/]/.test(program)) {
    const full = isAbsolute(program) ? program : resolve(base, program);
    return { code: verdict(candidates(full, platform, effectiveEnv)), cwdExists, path, existsAsFile };
  }
  const dirs = path === undefined ? ["/usr/local/bin", "/usr/bin", "/bin"] : pathDirectories(path, platform);
  const all = dirs.flatMap((dir) => candidates(join(dir, program), platform, effectiveEnv));
  return { code: verdict(all), cwdExists, path, existsAsFile };
}

/** What a SpawnError says about `program`, which could not be started: the diagnosis, as its init. */
export function spawnFailure(
  program: string,
  display: string,
  cwd: string | undefined,
  env: Env | undefined,
  shell: boolean,
): SpawnErrorInit {
  const { code, cwdExists, path, existsAsFile } = diagnoseSpawnFailure(program, cwd, env);
  return { code, program, display, cwd, cwdExists, path, platform: process.platform, shell, existsAsFile };
}
