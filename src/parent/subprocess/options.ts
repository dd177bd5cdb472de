/**
 * Options of Popen and run: normalized, then validated, with messages that give the expected
 * value, the actual value and its type.
 */
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { isInKernel } from "../../render/display";
import { DEVNULL, PIPE, STDOUT, type StderrSpec, type StdioSpec } from "./constants";
import { encodeInput, isKnownEncoding, type DecodeErrors, type TextMode } from "./encoding";
import { displayJoin, join, ShellCommand } from "./sh";
import { describe, optionError } from "../option-errors";
import { normalizeTimeout } from "../timeouts";
import { checkEnv } from "../env-check";

/**
 * The program and its arguments: a list (`["ls", "-l"]`, no shell involved), a string (the
 * program's name, or a command line with `shell: true`), or an `sh` template (a command line for
 * the shell with its values quoted).
 */
export type Args = readonly string[] | string | ShellCommand;

export type Env = Record<string, string | undefined>;

export interface PopenOptions {
  /**
   * Also a readable stream, such as another Popen's `stdout`, whose data this process feeds to
   * the program: Python's `Popen(b, stdin=a.stdout)` pipeline. @default null (inherited; Python's None)
   */
  stdin?: StdioSpec | Readable;
  /** @default null (shown: live in the cell in a notebook, inherited in a script) */
  stdout?: StdioSpec;
  /** @default null (shown); `STDOUT` merges it into stdout */
  stderr?: StderrSpec;
  /** Working directory of the program. @default this process's */
  cwd?: string | URL;
  /**
   * The program's whole environment (it replaces this process's, as in Python); to add to it,
   * pass `{ ...process.env, NAME: "value" }`. @default process.env
   */
  env?: Env;
  /** Run a string command line through `/bin/sh -c` (cmd.exe on Windows). @default false */
  shell?: boolean;
  /**
   * Decode output as utf-8 text instead of returning bytes; as in Python's text mode, "\r\n" and
   * "\r" become "\n". @default false
   */
  text?: boolean;
  /** Decode output with this TextDecoder label (e.g. "gbk"); implies text. */
  encoding?: string;
  /** What to do with undecodable bytes in text mode. @default "replace" (Python: "strict") */
  errors?: DecodeErrors;
  /**
   * Show the program's shown output live in the cell (a terminal block updated as it runs).
   * @default true inside a Jupyter kernel, false elsewhere
   */
  live?: boolean;
}

/** How one standard stream of the child is connected. */
export type StreamMode = "pipe" | "ignore" | "inherit" | "show" | "merge" | number;

export interface NormalizedCommand {
  /** What Python calls `args`: the command as the caller gave it. */
  args: string | string[];
  file: string;
  argv: string[];
  /** One line for people: `$ <display>`. */
  display: string;
  shell: boolean;
  windowsVerbatimArguments: boolean;
}

export interface NormalizedPopenOptions {
  command: NormalizedCommand;
  stdin: StreamMode;
  /** With stdin "pipe": the stream fed into it (a pipeline), instead of the caller's writes. */
  stdinFrom: Readable | undefined;
  stdout: StreamMode;
  stderr: StreamMode;
  cwd: string | undefined;
  env: Env | undefined;
  textMode: TextMode | undefined;
  live: boolean;
  /** "show" streams go to a live display (true) or to process.stdout/stderr writes (false). */
  inKernel: boolean;
}

function fail(where: string, option: string, expected: string, value: unknown): never {
  throw optionError(where, option, expected, value);
}

const KNOWN_POPEN_OPTIONS = new Set(["stdin", "stdout", "stderr", "cwd", "env", "shell", "text", "encoding", "errors", "live"]);

export function checkUnknownOptions(where: string, options: object, known: ReadonlySet<string>): void {
  for (const key of Object.keys(options)) {
    if (known.has(key)) continue;
    const snake = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const hint = known.has(snake) ? `; in TypeScript it is spelled ${snake}` : `; known options: ${[...known].join(", ")}`;
    throw new TypeError(`${where}: unknown option ${key}${hint}`);
  }
}

export function normalizeArgs(where: string, args: unknown, shellOption: unknown): NormalizedCommand {
  if (shellOption !== undefined && typeof shellOption !== "boolean") fail(where, "shell", "true or false", shellOption);
  let shell = shellOption === true;
  let original: string | string[];
  if (args instanceof ShellCommand) {
    if (shellOption === false) {
      throw new TypeError(`${where}: an sh\`...\` command runs through the shell; drop shell: false, or pass a list of arguments`);
    }
    shell = true;
    original = args.command;
  } else if (typeof args === "string") {
    original = args;
  } else if (Array.isArray(args)) {
    if (args.length === 0) {
      throw new TypeError(`${where}: args must name a program, got an empty array; pass e.g. [process.execPath, "--version"]`);
    }
    args.forEach((arg: unknown, i) => {
      if (typeof arg !== "string") {
        throw new TypeError(
          `${where}: args[${i}] must be a string, got ${describe(arg)}; convert it with String(), as the program receives text`,
        );
      }
    });
    original = [...(args as string[])];
  } else {
    fail(where, "args", "an array of strings, a string or an sh`...` command", args);
  }
  if (typeof original === "string" && original === "") {
    throw new TypeError(`${where}: args must name a program, got an empty string`);
  }

  if (!shell) {
    const list = typeof original === "string" ? [original] : original;
    return {
      args: original,
      file: list[0],
      argv: list.slice(1),
      display: displayJoin(list),
      shell: false,
      windowsVerbatimArguments: false,
    };
  }
  const [line, ...extra] = typeof original === "string" ? [original] : original;
  if (process.platform === "win32") {
    const full = extra.length ? `${line} ${join(extra, "win32")}` : line;
    return {
      args: original,
      file: process.env.ComSpec || "cmd.exe",
      argv: ["/d", "/s", "/c", `"${full}"`],
      display: full,
      shell: true,
      windowsVerbatimArguments: true,
    };
  }
  // As in Python: further list items become the shell's positional parameters $0, $1, ...
  return {
    args: original,
    file: "/bin/sh",
    argv: ["-c", line, ...extra],
    display: extra.length ? `${line}  # with ${displayJoin(extra)}` : line,
    shell: true,
    windowsVerbatimArguments: false,
  };
}

function normalizeStream(where: string, name: string, value: unknown): StreamMode {
  if (value === PIPE) return "pipe";
  if (value === DEVNULL) return "ignore";
  if (value === null || value === undefined) return "show";
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
  if (value === STDOUT && name === "stderr") return "merge";
  const allowed =
    name === "stderr"
      ? "PIPE, STDOUT, DEVNULL, null or a file descriptor"
      : name === "stdin"
        ? "PIPE, DEVNULL, null, a file descriptor or a readable stream (another Popen's stdout)"
        : "PIPE, DEVNULL, null or a file descriptor";
  const popenGiven = typeof value === "object" && value !== null && "communicate" in value && "stdout" in value;
  const hint = value === STDOUT ? " (STDOUT is only for stderr)" : popenGiven && name === "stdin" ? " (pass its .stdout, started with stdout: PIPE)" : "";
  return fail(where, name, allowed + hint, value);
}

export function normalizePopenOptions(where: string, args: unknown, options: PopenOptions, extraKnown?: ReadonlySet<string>): NormalizedPopenOptions {
  if (options === null || typeof options !== "object") fail(where, "options", "an object", options);
  if (extraKnown) {
    checkUnknownOptions(where, options, new Set([...KNOWN_POPEN_OPTIONS, ...extraKnown]));
  } else {
    checkUnknownOptions(where, options, KNOWN_POPEN_OPTIONS);
  }
  const command = normalizeArgs(where, args, options.shell);

  const stdinFrom = options.stdin instanceof Readable ? checkStdinSource(where, options.stdin) : undefined;
  let stdin = stdinFrom ? "pipe" : normalizeStream(where, "stdin", options.stdin);
  if (stdin === "show") stdin = "inherit";
  const stdout = normalizeStream(where, "stdout", options.stdout);
  const stderr = normalizeStream(where, "stderr", options.stderr);

  let cwd: string | undefined;
  if (options.cwd instanceof URL) cwd = fileURLToPath(options.cwd);
  else if (typeof options.cwd === "string" && options.cwd !== "") cwd = options.cwd;
  else if (options.cwd !== undefined && options.cwd !== null) fail(where, "cwd", "a directory path (string or file: URL)", options.cwd);

  let env: Env | undefined;
  if (options.env !== undefined && options.env !== null) {
    checkEnv(where, options.env);
    env = options.env;
  }

  if (options.text !== undefined && options.text !== null && typeof options.text !== "boolean") fail(where, "text", "true or false", options.text);
  if (options.encoding !== undefined && options.encoding !== null) {
    if (typeof options.encoding !== "string" || !isKnownEncoding(options.encoding)) {
      fail(where, "encoding", 'an encoding label TextDecoder knows ("utf-8", "gbk", "shift_jis", "latin1", ...)', options.encoding);
    }
  }
  if (options.errors !== undefined && options.errors !== "strict" && options.errors !== "replace") {
    fail(where, "errors", '"strict" or "replace"', options.errors);
  }
  const wantsText = options.text === true || typeof options.encoding === "string" || options.errors !== undefined;
  const textMode = wantsText ? { encoding: options.encoding ?? "utf-8", errors: options.errors ?? "replace" } : undefined;

  if (options.live !== undefined && typeof options.live !== "boolean") fail(where, "live", "true or false", options.live);
  const inKernel = stdout === "show" || stderr === "show" ? isInKernel() : false;
  const live = options.live ?? inKernel;

  return { command, stdin, stdinFrom, stdout, stderr, cwd, env, textMode, live, inKernel };
}

/** A stream given as stdin must still have all its data: nobody else may be reading it. */
function checkStdinSource(where: string, source: Readable): Readable {
  if (source.destroyed || source.readableEnded) {
    throw new TypeError(`${where}: option stdin is a stream that is already closed or read to the end; pass a stream that still has its data`);
  }
  if (source.readableFlowing === true || source.listenerCount("data") > 0) {
    throw new TypeError(
      `${where}: option stdin is a stream that something else is already reading (communicate(), wait(), a "data" listener); ` +
        "pass the other program's stdout before reading it or waiting for it",
    );
  }
  return source;
}

export interface RunOptions extends PopenOptions {
  /** Bytes or text written to the program's stdin, which is then closed. */
  input?: string | Uint8Array | null;
  /** Capture stdout and stderr (Python's `capture_output`). @default false */
  captureOutput?: boolean;
  /** Short for `captureOutput`. */
  capture?: boolean;
  /** Seconds (as in Python) before the program is killed and TimeoutExpired is thrown. */
  timeout?: number | null;
  /** Throw CalledProcessError when the exit code is not 0. @default false */
  check?: boolean;
}

export interface NormalizedRunOptions {
  popen: NormalizedPopenOptions;
  rawInput: string | Uint8Array | undefined;
  timeout: number | undefined;
  check: boolean;
}

const RUN_ONLY = new Set(["input", "captureOutput", "capture", "timeout", "check"]);

export function normalizeRunOptions(where: string, args: unknown, options: RunOptions): NormalizedRunOptions {
  if (options === null || typeof options !== "object") fail(where, "options", "an object", options);
  const capture = options.captureOutput ?? options.capture;
  if (capture !== undefined && typeof capture !== "boolean") fail(where, "captureOutput", "true or false", capture);
  if (options.check !== undefined && typeof options.check !== "boolean") fail(where, "check", "true or false", options.check);
  const input = options.input ?? undefined;
  if (input !== undefined && typeof input !== "string" && !(input instanceof Uint8Array)) {
    fail(where, "input", "a string, a Buffer or a Uint8Array", input);
  }
  if (input !== undefined && options.stdin !== undefined && options.stdin !== null) {
    throw new TypeError(`${where}: stdin and input may not both be used; drop stdin, input makes stdin a pipe`);
  }
  if (capture && ((options.stdout ?? null) !== null || (options.stderr ?? null) !== null)) {
    throw new TypeError(`${where}: stdout and stderr may not be used with captureOutput; drop one of them`);
  }
  const popenOptions: PopenOptions = { ...options };
  for (const key of RUN_ONLY) delete (popenOptions as Record<string, unknown>)[key];
  if (capture) {
    popenOptions.stdout = PIPE;
    popenOptions.stderr = PIPE;
  }
  if (input !== undefined) popenOptions.stdin = PIPE;
  const popen = normalizePopenOptions(where, args, popenOptions, RUN_ONLY);
  // Encoded now, so that an encoding that cannot encode the input fails before the program starts.
  let rawInput: string | Uint8Array | undefined = input;
  if (typeof input === "string") {
    try {
      rawInput = encodeInput(input, popen.textMode?.encoding);
    } catch (error) {
      throw new TypeError(`${where}: ${(error as Error).message}`);
    }
  }
  return {
    popen,
    rawInput,
    timeout: normalizeTimeout(where, options.timeout),
    check: options.check === true,
  };
}
