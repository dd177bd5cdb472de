/**
 * Why a program could not be started, found out after the fact from the file system, so that
 * Popen can throw at once (as Python does) with a message that says what to do.
 */
import { accessSync, closeSync, constants, openSync, readSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { pathDirectories, type SpawnErrorInit } from "./errors";
import type { Env } from "./options";

export interface SpawnDiagnosis {
  code: string;
  cwdExists: boolean;
  /** The PATH the system searched, or undefined when env was given without one. */
  path: string | undefined;
  existsAsFile: boolean;
  /** The interpreter named by the program's `#!` line, when that interpreter does not exist. */
  interpreter?: string;
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

/** The interpreter on `file`'s `#!` line if that interpreter does not exist (else undefined). */
function missingInterpreter(file: string, platform: NodeJS.Platform): string | undefined {
  if (platform === "win32") return undefined;
  let head: string;
  try {
    const fd = openSync(file, "r");
    try {
      const buffer = Buffer.alloc(256);
      head = buffer.toString("latin1", 0, readSync(fd, buffer, 0, buffer.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const line = /^#!\s*(\S+)/.exec(head);
  if (!line) return undefined;
  return probe(line[1]!, platform) === "executable" ? undefined : line[1];
}

/**
 * Where the system looks for `program`, in order: the path itself when it has a slash (relative
 * to `base`), else each directory of `path` (the system's defaults when there is no PATH).
 */
function searchPaths(program: string, base: string, path: string | undefined, platform: NodeJS.Platform, env: Env): string[] {
  if (/[\\/]/.test(program)) return candidates(isAbsolute(program) ? program : resolve(base, program), platform, env);
  const dirs = path === undefined ? ["/usr/local/bin", "/usr/bin", "/bin"] : pathDirectories(path, platform);
  return dirs.flatMap((dir) => candidates(join(dir, program), platform, env));
}

/**
 * The file the system would run for `program` (a name searched on env's PATH, or a path), or
 * undefined when there is none that is executable: the one PATH search of forklab.
 */
export function findProgram(program: string, env: Env = process.env, cwd: string = process.cwd()): string | undefined {
  const path = env.PATH ?? env.Path;
  return searchPaths(program, cwd, path, process.platform, env).find((candidate) => probe(candidate, process.platform) === "executable");
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

  let interpreter: string | undefined;
  const verdict = (paths: string[]): string => {
    let denied = false;
    for (const candidate of paths) {
      const state = probe(candidate, platform);
      if (state === "executable") {
        // Found and executable, yet the system said ENOENT: a script whose #! interpreter is missing.
        interpreter = missingInterpreter(candidate, platform);
        return interpreter ? "ENOENT" : "UNKNOWN";
      }
      if (state === "not-executable") denied = true;
    }
    return denied ? "EACCES" : "ENOENT";
  };

  const code = verdict(searchPaths(program, base, path, platform, effectiveEnv));
  return { code, cwdExists, path, existsAsFile, interpreter };
}

/** The codes the file system can explain better than the system's error can (it says ENOENT alike). */
const DIAGNOSED = new Set([undefined, "ENOENT", "EACCES", "UNKNOWN"]);

/**
 * What a SpawnError says about `program`, which could not be started: the diagnosis, as its init.
 * `systemCode` is the system's own error code when there is one (ENOTDIR, E2BIG, ELOOP, EBADF,
 * ...): kept as it is, since the file system cannot tell more.
 */
export function spawnFailure(
  program: string,
  display: string,
  cwd: string | undefined,
  env: Env | undefined,
  shell: boolean,
  systemCode?: string,
): SpawnErrorInit {
  const diagnosis = diagnoseSpawnFailure(program, cwd, env);
  const { cwdExists, path, existsAsFile, interpreter } = diagnosis;
  const cwdIsFile = cwd !== undefined && !cwdExists && probe(cwd, process.platform) !== "missing";
  const code = cwdIsFile ? "ENOTDIR" : DIAGNOSED.has(systemCode) || !cwdExists ? diagnosis.code : systemCode!;
  return { code, program, display, cwd, cwdExists, path, platform: process.platform, shell, existsAsFile, interpreter, cwdIsFile };
}
