/**
 * Python's high-level helpers: run, call, checkCall, checkOutput. Each starts a Popen,
 * communicates with it and waits; where Python blocks they return a promise.
 *
 * Timeouts are in seconds, as in Python: `run(args, { timeout: 2.5 })`.
 */
import { CompletedProcess, setCompletedDetails } from "./completed";
import { TimeoutExpired, type Output } from "./errors";
import { NORMALIZED, Popen } from "./popen";
import { normalizeRunOptions, type Args, type PopenOptions, type RunOptions } from "./options";
import { PIPE } from "./constants";

/** Options that turn the output into text. */
export type TextOutput = { text: true } | { encoding: string };

async function runNormalized(where: string, args: Args, options: RunOptions): Promise<CompletedProcess<Buffer | string>> {
  const normalized = normalizeRunOptions(where, args, options);
  const popen = new Popen(args, { [NORMALIZED]: normalized.popen } as PopenOptions);
  let stdout: Output;
  let stderr: Output;
  try {
    [stdout, stderr] = await popen.communicate(normalized.rawInput, { timeout: normalized.timeout });
  } catch (error) {
    if (!(error instanceof TimeoutExpired)) throw error;
    // As in Python: kill the program, wait for it, and report the output so far.
    // In the unit the timeout was given in, as the TimeoutExpired message says it.
    popen.terminalNote = `timed out after ${normalized.timeout} s`;
    popen.kill();
    await popen.wait();
    throw new TimeoutExpired({
      cmd: popen.args,
      display: popen.commandLine,
      timeout: normalized.timeout!,
      stdout: error.stdout,
      stderr: error.stderr,
      killed: true,
    });
  }
  const completed = new CompletedProcess(popen.args, popen.returncode!, stdout, stderr);
  setCompletedDetails(completed, {
    display: popen.commandLine,
    shell: normalized.popen.command.shell,
    pid: popen.pid,
    durationMs: popen.durationMs,
    shownChunks: popen.shownChunks,
    shownStderrTail: popen.shownStderrTail,
  });
  if (normalized.check) completed.checkReturncode();
  return completed;
}

/**
 * Run a program, wait for it, and return a CompletedProcess (Python's `subprocess.run`).
 *
 * - `input`: bytes or text for stdin. `captureOutput` (or `capture`): keep stdout and stderr.
 * - `timeout`: seconds; when it passes, the program is killed and TimeoutExpired is thrown.
 * - `check`: throw CalledProcessError when the exit code is not 0.
 * - Output is bytes (Buffer) unless `text: true` or an `encoding` is given.
 * - Output that is not captured is shown: live in the cell in a notebook.
 */
export function run(args: Args, options: RunOptions & TextOutput): Promise<CompletedProcess<string>>;
export function run(args: Args, options?: RunOptions): Promise<CompletedProcess<Buffer>>;
export function run(args: Args, options: RunOptions = {}): Promise<CompletedProcess<Buffer | string>> {
  return runNormalized("run()", args, options);
}

/** Options of call and checkCall: Popen's, and a timeout in seconds. */
export type CallOptions = PopenOptions & { timeout?: number | null };

/** Run a program and resolve to its returncode (Python's `subprocess.call`). */
export async function call(args: Args, options: CallOptions = {}): Promise<number> {
  return (await runNormalized("call()", args, options)).returncode;
}

/** Run a program; resolve to 0, or throw CalledProcessError (Python's `subprocess.check_call`). */
export async function checkCall(args: Args, options: CallOptions = {}): Promise<0> {
  await runNormalized("checkCall()", args, { ...options, check: true });
  return 0;
}

/** Options of checkOutput: run's, without what checkOutput decides itself. */
export type CheckOutputOptions = Omit<RunOptions, "stdout" | "check" | "captureOutput" | "capture">;

/**
 * Run a program and resolve to its stdout; throw CalledProcessError when it fails (Python's
 * `subprocess.check_output`). Pass `stderr: STDOUT` to include stderr.
 */
export function checkOutput(args: Args, options: CheckOutputOptions & TextOutput): Promise<string>;
export function checkOutput(args: Args, options?: CheckOutputOptions): Promise<Buffer>;
export async function checkOutput(args: Args, options: CheckOutputOptions = {}): Promise<Buffer | string> {
  const completed = await runNormalized("checkOutput()", args, { ...options, stdout: PIPE, check: true });
  return completed.stdout!;
}
