/**
 * Python's subprocess errors. Each message is built by one pure function below, and names the
 * command, the exit code or signal, the tail of stderr, and what to do.
 */
import { delimiter, dirname } from "node:path";
import { endedHow, outputTail, type Ending } from "../../protocol/ended";
import { registerErrorClass } from "../../protocol/errors";
import { signalName } from "../signals";

export type Output = Buffer | string | null;

/** How much of stderr a message quotes: more than a Process's error, as a program's own errors are the point. */
const TAIL_LINES = 20;
const TAIL_CHARS = 4000;

function stderrTail(output: Output | undefined): string {
  return outputTail(output, TAIL_LINES, TAIL_CHARS);
}

/** A returncode in Python's convention (minus the signal number for a signal) as an Ending. */
function endingOf(returncode: number): Ending {
  return { exitCode: returncode, signal: returncode < 0 ? (signalName(-returncode) ?? `signal ${-returncode}`) : null };
}

function advice(returncode: number, shell: boolean, stderrCaptured: boolean): string {
  if (returncode < 0) {
    const name = signalName(-returncode);
    if (name === "SIGKILL") return "It was killed by kill(), an interrupt, or the system (SIGKILL often means it ran out of memory).";
    if (name === "SIGINT") return "It was interrupted (Ctrl-C or the notebook's interrupt button).";
    if (name === "SIGTERM") return "It was terminated by terminate() or by another process.";
    return "Another process, or the program itself, sent it this signal.";
  }
  if (shell && returncode === 127) return "Exit code 127 from the shell means it did not find the program: check its name and PATH.";
  if (shell && returncode === 126) return "Exit code 126 from the shell means it found the program but could not run it: check that it is executable.";
  const where = stderrCaptured ? "Its stderr above says why" : "Its stderr was shown while it ran (pass captureOutput: true to keep it in this error)";
  return `${where}; pass check: false to get the exit code instead of an error.`;
}

export interface CalledProcessErrorInit {
  returncode: number;
  cmd: string | string[];
  display: string;
  stdout: Output;
  stderr: Output;
  shell: boolean;
  /** The end of stderr when it was shown rather than captured. */
  shownStderr?: string;
}

/** The message of a CalledProcessError; pure. */
export function calledProcessErrorMessage(init: CalledProcessErrorInit): string {
  const tail = stderrTail(init.stderr) || stderrTail(init.shownStderr);
  const ended = endedHow(endingOf(init.returncode), { code: "returncode", failure: true });
  return [`Command ${ended}: ${init.display}`, tail, advice(init.returncode, init.shell, init.stderr !== null)]
    .filter(Boolean)
    .join("\n\n");
}

/** Python's base class of the errors below. */
export class SubprocessError extends Error {
  override name = "SubprocessError";
}

/** The program ended with a non-zero exit code, or by a signal, and `check` was on. */
export class CalledProcessError extends SubprocessError {
  override name = "CalledProcessError";
  /** The exit code, or minus the signal number when a signal ended the program. */
  readonly returncode: number;
  readonly cmd: string | string[];
  readonly stdout: Output;
  readonly stderr: Output;

  constructor(init: CalledProcessErrorInit) {
    super(calledProcessErrorMessage(init));
    this.returncode = init.returncode;
    this.cmd = init.cmd;
    this.stdout = init.stdout;
    this.stderr = init.stderr;
  }

  /** Python's alias of stdout. */
  get output(): Output {
    return this.stdout;
  }

  /** The signal's name when a signal ended the program ("SIGKILL"), else undefined. */
  get signal(): string | undefined {
    return this.returncode < 0 ? signalName(-this.returncode) : undefined;
  }
}

export interface TimeoutExpiredInit {
  cmd: string | string[];
  display: string;
  /** Seconds. */
  timeout: number;
  stdout: Output;
  stderr: Output;
  /** Whether the program was killed (run, call) or is still running (communicate, wait). */
  killed: boolean;
}

/** The message of a TimeoutExpired; pure. */
export function timeoutExpiredMessage(init: TimeoutExpiredInit): string {
  const tail = stderrTail(init.stderr);
  const what = init.killed
    ? "It was killed. If it needs longer, raise timeout (in seconds)."
    : "It is still running: call communicate() or wait() again to keep waiting (no output is lost), or kill() it.";
  return [`Command timed out after ${init.timeout} seconds: ${init.display}`, tail, what].filter(Boolean).join("\n\n");
}

/** The program did not finish within `timeout` seconds. */
export class TimeoutExpired extends SubprocessError {
  override name = "TimeoutExpired";
  readonly cmd: string | string[];
  /** Seconds. */
  readonly timeout: number;
  /** What the program wrote to a pipe before the timeout (bytes, or text in text mode). */
  readonly stdout: Output;
  readonly stderr: Output;

  constructor(init: TimeoutExpiredInit) {
    super(timeoutExpiredMessage(init));
    this.cmd = init.cmd;
    this.timeout = init.timeout;
    this.stdout = init.stdout;
    this.stderr = init.stderr;
  }

  /** Python's alias of stdout. */
  get output(): Output {
    return this.stdout;
  }
}

export interface SpawnErrorInit {
  /** errno code from the system: ENOENT, EACCES, ... */
  code: string;
  program: string;
  display: string;
  cwd: string | undefined;
  cwdExists: boolean;
  /** The PATH used for the search, or undefined when env had none. */
  path: string | undefined;
  platform: NodeJS.Platform;
  shell: boolean;
  /** Whether the program exists as given (relative to cwd) although it was not found on PATH. */
  existsAsFile?: boolean;
  /** The missing interpreter named by the program's `#!` line. */
  interpreter?: string;
  /** Whether cwd names a file rather than a directory. */
  cwdIsFile?: boolean;
}

/** What the system's refusal means and what to do, for the codes that are not about PATH. */
const SYSTEM_ADVICE: Record<string, (init: SpawnErrorInit) => string> = {
  ENOTDIR: (init) =>
    init.cwd !== undefined && init.cwdIsFile
      ? `its working directory ${JSON.stringify(init.cwd)} is a file, not a directory (ENOTDIR).\n\nPass a directory as cwd (the file's folder is ${JSON.stringify(dirname(init.cwd))}).`
      : `a part of the path ${JSON.stringify(init.program)} is a file, not a directory (ENOTDIR).\n\nCheck the path: every part before the last must be a directory.`,
  E2BIG: () =>
    "the arguments and the environment together are larger than the system allows (E2BIG).\n\nPass large data through stdin (run's input option) or a file, not as arguments; or pass a smaller env.",
  ELOOP: (init) =>
    `too many symbolic links while resolving ${JSON.stringify(init.program)}${init.cwd ? ` or the working directory ${JSON.stringify(init.cwd)}` : ""}: a link points back to itself (ELOOP).\n\nFind the loop with readlink -f and fix the link.`,
  EBADF: () =>
    "a file descriptor given as stdin, stdout or stderr is not open (EBADF).\n\nPass an open descriptor (from fs.openSync, and not closed yet), or PIPE, DEVNULL or null.",
  EMFILE: () => "this process has too many open files (EMFILE).\n\nClose files and programs you no longer need (await their end), or raise the limit (ulimit -n).",
  ENFILE: () => "the system has too many open files (ENFILE).\n\nClose files and programs you no longer need, then try again.",
  EAGAIN: () => "the system has no processes left for this user (EAGAIN).\n\nWait for running programs to end (or end them), then try again.",
  ENOMEM: () => "the system is out of memory (ENOMEM).\n\nEnd other programs or processes, then try again.",
  ENAMETOOLONG: (init) => `the path ${JSON.stringify(init.program)} is longer than the system allows (ENAMETOOLONG).\n\nUse a shorter path (cwd plus a relative name).`,
};

/** The directories a program name is searched in, in order. */
export function pathDirectories(path: string | undefined, platform: NodeJS.Platform): string[] {
  if (!path) return [];
  return [...new Set(path.split(platform === "win32" ? ";" : delimiter).filter(Boolean))];
}

/** The message of a SpawnError or ProgramNotFoundError; pure. */
export function spawnErrorMessage(init: SpawnErrorInit): string {
  const name = JSON.stringify(init.program);
  if (init.cwdIsFile) return `Cannot run ${init.display}: ${SYSTEM_ADVICE.ENOTDIR!(init)}`;
  if (!init.cwdExists && init.cwd !== undefined) {
    return `Cannot run ${init.display}: its working directory ${JSON.stringify(init.cwd)} does not exist.\n\nCreate it first, or pass an existing cwd.`;
  }
  if (init.code === "EACCES") {
    return `Cannot run ${name}: permission denied (EACCES).\n\nMake it executable (chmod +x ${init.program}) or run it through its interpreter, e.g. [process.execPath, ${name}].`;
  }
  if (init.interpreter) {
    return `Cannot run ${name}: its #! line names the interpreter ${JSON.stringify(init.interpreter)}, which does not exist (the system says ENOENT).\n\n` +
      `Install that interpreter, fix the #! line (e.g. #!/usr/bin/env node), or run the script through an interpreter you have, e.g. ["sh", ${name}].`;
  }
  const system = SYSTEM_ADVICE[init.code];
  if (system) return `Cannot run ${init.display}: ${system(init)}`;
  if (init.code !== "ENOENT") {
    const windowsBatch = init.platform === "win32" && /\.(cmd|bat)$/i.test(init.program);
    return `Cannot run ${init.display}: the system refused to start it (${init.code}).` +
      (windowsBatch ? "\n\n.cmd and .bat files need a shell: pass shell: true (quote arguments with sh`...`)." : "");
  }
  const tips: string[] = [];
  if (/\s/.test(init.program) && !init.shell) {
    tips.push(`The name contains spaces: pass the program and its arguments as a list (${JSON.stringify(init.program.trim().split(/\s+/))}), or use sh\`...\` to run a command line.`);
  }
  if (/[\\/]/.test(init.program.trim().split(/\s+/)[0])) {
    const absolute = /^[\\/]|^[A-Za-z]:/.test(init.program);
    const where = absolute ? "" : ` (relative to ${JSON.stringify(init.cwd ?? process.cwd())})`;
    tips.push("Check the path; an absolute path avoids surprises with cwd.");
    return [`Program not found: ${name}${where} does not exist.`, tips.join("\n")].join("\n\n");
  }
  const lines = [`Program not found: ${name} is not in any directory of PATH.`];
  const dirs = pathDirectories(init.path, init.platform);
  if (init.path === undefined) {
    lines.push("env was given without PATH, so only the system's default directories were searched.");
  } else if (dirs.length === 0) {
    lines.push("PATH is empty.");
  } else {
    lines.push(`Searched ${dirs.length} director${dirs.length === 1 ? "y" : "ies"} of PATH:\n${dirs.map((d) => `  ${d}`).join("\n")}`);
  }
  if (init.existsAsFile) tips.push(`A file ${name} exists in the working directory: write ./${init.program} to run it.`);
  tips.push(`Install it, pass its full path, or add its directory to PATH (env: { ...process.env, PATH: \`/its/dir${init.platform === "win32" ? ";" : ":"}\${process.env.PATH}\` }).`);
  lines.push(tips.join("\n"));
  return lines.join("\n\n");
}

/** The program could not be started (Python raises OSError and its subclasses here). */
export class SpawnError extends Error {
  override name = "SpawnError";
  readonly code: string;
  /** The program as given. */
  readonly filename: string;
  readonly cmd: string | string[];

  constructor(init: SpawnErrorInit & { cmd: string | string[] }, options?: { cause?: unknown }) {
    super(spawnErrorMessage(init), options);
    this.code = init.code;
    this.filename = init.program;
    this.cmd = init.cmd;
  }
}

/** The program does not exist (Python's FileNotFoundError). `searched` lists PATH's directories. */
export class ProgramNotFoundError extends SpawnError {
  override name = "ProgramNotFoundError";
  readonly searched: string[];

  constructor(init: SpawnErrorInit & { cmd: string | string[] }, options?: { cause?: unknown }) {
    super(init, options);
    this.searched = /[\\/]/.test(init.program) ? [] : pathDirectories(init.path, init.platform);
  }
}

// Thrown in a child (a target that runs programs), these come back to the parent as themselves.
for (const ErrorClass of [SubprocessError, CalledProcessError, TimeoutExpired, SpawnError, ProgramNotFoundError]) registerErrorClass(ErrorClass);
