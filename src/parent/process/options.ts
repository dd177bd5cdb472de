/**
 * Process options: checked in the constructor, before anything starts, each with a TypeError
 * that names the option, the value and its type, and what is allowed.
 */
import { describe, optionError } from "../option-errors";
import { checkEnv } from "../env-check";
import { normalizeTimeout } from "../timeouts";
import type { StartMethod } from "./registry";

export interface ProcessOptions {
  /** @default "Process-N" (as Python: N counts the processes this process started) */
  name?: string;
  /** @default false, or the current process's daemon flag (as Python) */
  daemon?: boolean;
  /** Working directory of the child. @default process.cwd() */
  cwd?: string;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Node flags for the child (e.g. ["--max-old-space-size=256"]). @default [] */
  execArgv?: string[];
  /**
   * Where the child's output goes, besides `stdout`/`stderr`: "display" shows a live card in the
   * cell, "forward" writes it to this process's stdout/stderr, "none" only keeps it.
   * @default "display" in a notebook kernel, "forward" elsewhere
   */
  output?: "display" | "forward" | "none";
  /** Seconds terminate() waits after SIGTERM before it sends SIGKILL. @default 2 */
  killGrace?: number;
  /** "spawn" starts a fresh child; "warm" takes a booted spare. @default getStartMethod() */
  startMethod?: StartMethod;
  /** Characters of each stream kept in `stdout`/`stderr` (older text is dropped). @default 1_000_000 */
  outputLimit?: number;
}

const KNOWN = ["name", "daemon", "cwd", "env", "execArgv", "output", "killGrace", "startMethod", "outputLimit"];
const RENAMED: Record<string, string> = { killGraceMs: "killGrace (in seconds, as every duration in forklab)" };
const OUTPUTS = ["display", "forward", "none"];
const START_METHODS = ["spawn", "warm"];

function oneOf(where: string, option: string, allowed: string[], value: unknown): void {
  if (value !== undefined && !allowed.includes(value as string)) {
    throw optionError(where, option, `one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`, value);
  }
}

function boolean(where: string, option: string, value: unknown): void {
  if (value !== undefined && typeof value !== "boolean") throw optionError(where, option, "true or false", value);
}

export function checkProcessOptions(where: string, options: Record<string, unknown>): void {
  for (const key of Object.keys(options)) {
    if (KNOWN.includes(key)) continue;
    const hint = RENAMED[key] ? `; it is now ${RENAMED[key]}` : `; known options: target, args, ${KNOWN.join(", ")}`;
    throw new TypeError(`${where}: unknown option ${key}${hint}`);
  }
  const { name, daemon, cwd, env, execArgv, output, killGrace, startMethod, outputLimit } = options;
  if (name !== undefined && typeof name !== "string") throw optionError(where, "name", "a string (e.g. \"worker-1\")", name);
  boolean(where, "daemon", daemon);
  if (cwd !== undefined && (typeof cwd !== "string" || cwd === "")) throw optionError(where, "cwd", "a directory path (a non-empty string)", cwd);
  if (env !== undefined) checkEnv(where, env);
  if (execArgv !== undefined && (!Array.isArray(execArgv) || execArgv.some((a) => typeof a !== "string"))) {
    const bad = Array.isArray(execArgv) ? execArgv.find((a) => typeof a !== "string") : execArgv;
    throw new TypeError(`${where}: option execArgv must be an array of strings (Node flags, e.g. ["--max-old-space-size=256"]), got ${describe(bad)}${Array.isArray(execArgv) ? " in it" : ""}`);
  }
  oneOf(where, "output", OUTPUTS, output);
  normalizeTimeout(where, killGrace, "killGrace");
  oneOf(where, "startMethod", START_METHODS, startMethod);
  if (outputLimit !== undefined && (typeof outputLimit !== "number" || !Number.isInteger(outputLimit) || outputLimit < 0)) {
    throw optionError(where, "outputLimit", "a whole number of characters >= 0 (e.g. 100_000)", outputLimit);
  }
}
