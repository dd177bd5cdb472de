/**
 * The `forklab` command: install/uninstall the kernelspec, start the kernel, run notebooks, and
 * start the course. Exit codes: 0 success, 1 failure, 2 usage error.
 */
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { findKernelSpec, installKernelSpec, KernelSpecError, uninstallKernelSpec, type FoundKernelSpec, type InstallTarget } from "./kernelspec";
import { ensureJupyterEnv, JupyterEnvError } from "./jupyter-env";
import { forklabVersion } from "./kernel-info";
import { NotebookRunError } from "./runner/errors";
import { runNotebook, type ProgressEvent } from "./runner/execute";
import { KernelStartError } from "./runner/launch";
import { InvalidNotebookError, notebookStem, readNotebook, writeNotebook } from "./runner/notebook";
import { WORKER_USAGE } from "../src/worker/usage";

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is a terminal (progress then rewrites one line). */
  errIsTTY: boolean;
}

const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  errIsTTY: process.stderr.isTTY === true,
};

export const USAGE = `forklab: a Jupyter kernel for TypeScript, and a library for multi-process programming in notebooks

Usage:
  forklab install [--user | --sys-prefix | --prefix DIR] [--name NAME]
      Install the kernelspec (default name "forklab") where Jupyter finds it. No Python needed.
        --user         the user's Jupyter data folder (default; JUPYTER_DATA_DIR is honoured)
        --sys-prefix   the active environment: CONDA_PREFIX or VIRTUAL_ENV
        --prefix DIR   DIR/share/jupyter/kernels
  forklab uninstall [--user | --sys-prefix | --prefix DIR] [--name NAME]
      Remove that kernelspec.
  forklab kernel --connection-file FILE
      Start the kernel (Jupyter runs this, as the kernelspec says).
  forklab run [--out DIR | --inplace] [--timeout SECONDS] [--allow-errors] [--kernel NAME] NOTEBOOK...
      Execute notebooks through a kernel, as nbconvert --execute does, in the notebook's folder.
        (default)      write NAME.nbconvert.ipynb beside each notebook
        --out DIR      write DIR/NAME.ipynb
        --inplace      overwrite each notebook (not written when the run fails)
        --timeout S    seconds a cell may run before it is interrupted and the run fails;
                       0 for no limit (default 120)
        --allow-errors record cell errors in the output and go on (the exit code is still 0)
        --kernel NAME  a kernelspec installed for Jupyter, e.g. python3
                       (default: this installation's forklab kernel, no kernelspec needed)
      Stops a notebook at its first failing cell (unless --allow-errors), writes what ran so far,
      and goes on to the next notebook; exits 1 if any notebook failed. A file that is not an
      nbformat 4 notebook stops the command before anything runs, with exit code 2.
  forklab setup [--python PYTHON]
      Create (or update) the project's Jupyter environment in .venv/: a virtual environment with
      the pinned JupyterLab, Notebook and jupyter_client of jupyter-requirements.txt.
        --python PY    the Python 3.9+ to build it from (default: python3 on PATH)
  forklab start [--no-install] [-- JUPYTER_ARGS...]
      Install the kernelspec for this checkout if needed, then open notebooks/ in JupyterLab:
      the one in .venv/, else jupyter-lab on PATH, else a new .venv/ made as "forklab setup" does
      (then Jupyter Notebook on PATH). With none, run the course headless into notebooks/executed/.
        --no-install   never create or update .venv/
        -- ARGS        passed to Jupyter as they are (e.g. -- --port=8899 --no-browser)
${WORKER_USAGE}  forklab help | --help | -h
`;

const COMMANDS = ["install", "uninstall", "kernel", "run", "setup", "start", "worker", "help"] as const;
type Command = (typeof COMMANDS)[number];

/** A mistake in the command line: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

interface FlagSpec {
  /** Takes a value (`--out DIR` or `--out=DIR`). */
  value?: boolean;
  /** A one-letter form (`-f FILE`). */
  short?: string;
}

interface Parsed {
  flags: Map<string, string | true>;
  positional: string[];
  /** Everything after a bare `--`, untouched (for Jupyter, say). */
  rest: string[];
}

/** `--help` or `-h` among a command's own arguments: the CLI prints usage and exits 0. */
class HelpRequested extends Error {}

/**
 * A command's arguments, tokenized by node:util's parseArgs and checked here, so that each mistake
 * gets a message naming the option, the command and what is valid. `--help`/`-h` counts only
 * before `--`: what follows `--` belongs to another program.
 */
export function parseFlags(command: string, args: string[], specs: Record<string, FlagSpec>, allowRest = false): Parsed {
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [name, { type: spec.value ? "string" : "boolean", ...(spec.short ? { short: spec.short } : {}) } as const]),
  );
  // Not strict: unknown options and missing values come back as tokens, and are reported below.
  const { tokens } = parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, strict: false, allowPositionals: true, tokens: true });
  const terminator = tokens.findIndex((token) => token.kind === "option-terminator");
  const own = terminator < 0 ? tokens : tokens.slice(0, terminator);
  if (own.some((token) => token.kind === "option" && token.name === "help" && (token.rawName === "--help" || token.rawName === "-h"))) {
    throw new HelpRequested();
  }
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (const token of own) {
    if (token.kind === "positional") {
      positional.push(token.value);
      continue;
    }
    if (token.kind !== "option") continue;
    const spec = Object.hasOwn(specs, token.name) ? specs[token.name] : undefined;
    if (!spec || (token.rawName !== `--${token.name}` && token.rawName !== `-${spec.short}`)) {
      const valid = Object.entries(specs).map(([n, s]) => `--${n}${s.short ? ` (-${s.short})` : ""}`);
      throw new UsageError(
        `unknown option ${JSON.stringify(token.rawName)} for "forklab ${command}"; valid options: ${valid.length ? valid.join(", ") : "none"}`,
      );
    }
    if (spec.value) {
      if (token.value === undefined || token.value === "") throw new UsageError(`option --${token.name} of "forklab ${command}" needs a value`);
      flags.set(token.name, token.value);
    } else {
      if (token.value !== undefined) throw new UsageError(`option --${token.name} of "forklab ${command}" takes no value, got ${JSON.stringify(args[token.index])}`);
      flags.set(token.name, true);
    }
  }
  if (terminator >= 0 && !allowRest) throw new UsageError(`"forklab ${command}" takes no arguments after "--"`);
  const rest = terminator >= 0 ? args.slice(tokens[terminator]!.index + 1) : [];
  return { flags, positional, rest };
}

function noPositional(command: string, parsed: Parsed): void {
  if (parsed.positional.length) {
    throw new UsageError(`"forklab ${command}" takes no arguments, got ${parsed.positional.map((p) => JSON.stringify(p)).join(", ")}`);
  }
}

const TARGET_FLAGS: Record<string, FlagSpec> = { user: {}, "sys-prefix": {}, prefix: { value: true }, name: { value: true } };

function installTarget(parsed: Parsed): InstallTarget {
  const chosen = ["user", "sys-prefix", "prefix"].filter((f) => parsed.flags.has(f));
  if (chosen.length > 1) throw new UsageError(`choose one of --user, --sys-prefix and --prefix, not ${chosen.map((f) => "--" + f).join(" and ")}`);
  if (parsed.flags.has("sys-prefix")) return { kind: "sys-prefix" };
  if (parsed.flags.has("prefix")) return { kind: "prefix", prefix: String(parsed.flags.get("prefix")) };
  return { kind: "user" };
}

/** Run the command line; resolves with the exit code. */
export async function cli(argv: string[], io: Io = processIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (error) {
    if (error instanceof HelpRequested) {
      io.out(USAGE);
      return 0;
    }
    if (error instanceof UsageError) {
      io.err(`forklab: ${error.message}\nRun "forklab --help" for usage.\n`);
      return 2;
    }
    if (error instanceof KernelSpecError || error instanceof KernelStartError || error instanceof JupyterEnvError) {
      io.err(`forklab: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

async function dispatch(argv: string[], io: Io): Promise<number> {
  const [first, ...args] = argv;
  if (first === undefined) {
    io.err(USAGE);
    return 2;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    io.out(USAGE);
    return 0;
  }
  if (first === "--version" || first === "-V") {
    io.out(`${forklabVersion()}\n`);
    return 0;
  }
  if (!(COMMANDS as readonly string[]).includes(first)) {
    const what = first.startsWith("-") ? "option" : "command";
    throw new UsageError(`unknown ${what} ${JSON.stringify(first)}; valid commands: ${COMMANDS.join(", ")}`);
  }
  switch (first as Command) {
    case "install": {
      const parsed = parseFlags("install", args, TARGET_FLAGS);
      noPositional("install", parsed);
      const dir = installKernelSpec({ target: installTarget(parsed), name: parsed.flags.get("name") as string | undefined });
      io.out(`Installed kernelspec ${JSON.stringify(basename(dir))} in ${dir}\n`);
      return 0;
    }
    case "uninstall": {
      const parsed = parseFlags("uninstall", args, TARGET_FLAGS);
      noPositional("uninstall", parsed);
      const dir = uninstallKernelSpec({ target: installTarget(parsed), name: parsed.flags.get("name") as string | undefined });
      io.out(`Removed kernelspec ${JSON.stringify(basename(dir))} from ${dir}\n`);
      return 0;
    }
    case "kernel": {
      const parsed = parseFlags("kernel", args, { "connection-file": { value: true, short: "f" } });
      noPositional("kernel", parsed);
      const file = parsed.flags.get("connection-file");
      if (typeof file !== "string") throw new UsageError(`"forklab kernel" needs --connection-file FILE`);
      // Loaded lazily: installing or running notebooks must not load tslab.
      const { runKernel } = require("./server/main") as { runKernel(connectionFile: string): Promise<void> };
      await runKernel(resolve(file));
      return 0;
    }
    case "run":
      return runCommand(parseRunArgs(args), io);
    case "setup": {
      const parsed = parseFlags("setup", args, { python: { value: true } });
      noPositional("setup", parsed);
      const dir = await ensureJupyterEnv({ python: parsed.flags.get("python") as string | undefined, log: io.err });
      io.err(`The Jupyter environment is ${dir}\n`);
      return 0;
    }
    case "start": {
      const parsed = parseFlags("start", args, { "no-install": {} }, true);
      noPositional("start", parsed);
      const { start } = require("./start") as typeof import("./start");
      return start(io, { jupyterArgs: parsed.rest, noInstall: parsed.flags.has("no-install") });
    }
    case "worker": {
      const parsed = parseFlags("worker", args, {
        redis: { value: true },
        queue: { value: true },
        concurrency: { value: true },
        root: { value: true },
        "accept-source": {},
        "lock-timeout": { value: true },
      });
      noPositional("worker", parsed);
      // Loaded lazily: the other commands must not load BullMQ.
      const { runWorker } = require("../src/worker/command") as typeof import("../src/worker/command");
      return runWorker(parsed.flags, io);
    }
    case "help":
      io.out(USAGE);
      return 0;
  }
}

export interface RunCommandOptions {
  notebooks: string[];
  out?: string;
  inplace?: boolean;
  /** Seconds; 0 for no limit. */
  timeout: number;
  allowErrors: boolean;
  kernel?: string;
}

export function parseRunArgs(args: string[]): RunCommandOptions {
  const parsed = parseFlags("run", args, {
    out: { value: true },
    inplace: {},
    timeout: { value: true },
    "allow-errors": {},
    kernel: { value: true },
  });
  if (parsed.flags.has("out") && parsed.flags.has("inplace")) throw new UsageError("choose one of --out and --inplace");
  if (parsed.positional.length === 0) throw new UsageError(`"forklab run" needs at least one NOTEBOOK.ipynb`);
  let timeout = 120;
  if (parsed.flags.has("timeout")) {
    const raw = String(parsed.flags.get("timeout"));
    timeout = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(timeout) || timeout < 0) {
      throw new UsageError(`--timeout expects seconds, a number >= 0 (0 for no limit); got ${JSON.stringify(raw)}`);
    }
  }
  return {
    notebooks: parsed.positional,
    out: parsed.flags.get("out") as string | undefined,
    inplace: parsed.flags.has("inplace"),
    timeout,
    allowErrors: parsed.flags.has("allow-errors"),
    kernel: parsed.flags.get("kernel") as string | undefined,
  };
}

/** Where `forklab run` writes a notebook's output. */
export function outputPath(notebook: string, options: Pick<RunCommandOptions, "out" | "inplace">): string {
  if (options.inplace) return notebook;
  if (options.out) return join(options.out, `${notebookStem(notebook)}.ipynb`);
  return join(dirname(notebook), `${notebookStem(notebook)}.nbconvert.ipynb`);
}

function progressPrinter(io: Io): (event: ProgressEvent) => void {
  // On a terminal the progress rewrites one line; elsewhere (CI logs) each step is a line.
  const line = (text: string, final: boolean) => io.err(io.errIsTTY ? `\r\u001b[2K${text}${final ? "\n" : ""}` : `${text}\n`);
  return (event) => {
    const name = basename(event.file);
    if (event.type === "start") line(`${name}: starting kernel ${event.kernel} (${event.codeCells} code cell${event.codeCells === 1 ? "" : "s"})`, false);
    else if (event.type === "cell") line(`${name}: cell ${event.index + 1}/${event.total} (code cell ${event.codeCell}/${event.codeCells})`, false);
    else line(`${name}: done in ${(event.durationMs / 1000).toFixed(1)} s`, true);
  };
}

export async function runCommand(options: RunCommandOptions, io: Io): Promise<number> {
  const outputs = options.notebooks.map((nb) => outputPath(nb, options));
  const clash = outputs.find((o, i) => outputs.indexOf(o) !== i);
  if (clash) throw new UsageError(`two notebooks would be written to ${clash}; give them different names`);
  // Resolve --kernel once, so that a wrong name fails before anything runs.
  const kernel: FoundKernelSpec | undefined = options.kernel ? findKernelSpec(options.kernel) : undefined;
  // Every notebook is read before any runs: a broken file stops the command, not a later notebook.
  const unreadable = options.notebooks.flatMap((notebook) => {
    try {
      readNotebook(notebook);
      return [];
    } catch (error) {
      if (!(error instanceof InvalidNotebookError)) throw error;
      return [error];
    }
  });
  if (unreadable.length > 0) {
    for (const error of unreadable) io.err(`forklab: ${error.message}\n`);
    io.err(`forklab: nothing was run\n`);
    return 2;
  }
  const progress = progressPrinter(io);
  const failed: string[] = [];
  for (const [i, notebook] of options.notebooks.entries()) {
    const target = outputs[i];
    try {
      const result = await runNotebook(notebook, {
        kernel,
        allowErrors: options.allowErrors,
        cellTimeoutMs: options.timeout * 1000,
        onProgress: progress,
      });
      writeNotebook(target, result.notebook);
      const n = result.errors.length;
      const errors = n ? ` (${n === 1 ? "1 cell raised an error" : `${n} cells raised errors`}, kept in the output)` : "";
      io.err(`${basename(notebook)}: wrote ${target}${errors}\n`);
    } catch (error) {
      if (io.errIsTTY) io.err("\n");
      failed.push(notebook);
      if (error instanceof InvalidNotebookError || error instanceof KernelStartError || error instanceof KernelSpecError) {
        io.err(`forklab: ${error.message}\n`);
        continue;
      }
      if (!(error instanceof NotebookRunError)) throw error;
      io.err(`forklab: ${error.message}\n`);
      if (error.notebook && !options.inplace) {
        writeNotebook(target, error.notebook);
        io.err(`${basename(notebook)}: the outputs up to the failure are in ${target}\n`);
      }
    }
  }
  if (failed.length) {
    io.err(`forklab: ${failed.length} of ${options.notebooks.length} notebook${options.notebooks.length > 1 ? "s" : ""} failed: ${failed.join(", ")}\n`);
    return 1;
  }
  return 0;
}

/** Entry point of bin/forklab.js. */
export function main(argv: string[]): void {
  cli(argv).then(
    (code) => {
      // The kernel may resolve once it serves; it then lives until it shuts itself down.
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`forklab: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
