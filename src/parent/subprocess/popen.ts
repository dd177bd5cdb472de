/**
 * Popen: one running program, with Python's surface (`communicate`, `wait`, `poll`,
 * `returncode`, `pid`, `kill`, `terminate`, `sendSignal`, `stdin`/`stdout`/`stderr`).
 *
 * `new Popen(args, options)` starts the program at once and throws at once when it cannot be
 * started, as Python's constructor does; where Python blocks (`communicate`, `wait`) a promise is
 * returned.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { AsyncResource } from "node:async_hooks";
import { PassThrough, type Readable, type Writable } from "node:stream";
import { isatty } from "node:tty";
import { inspect } from "node:util";
import { onInterrupt, onShutdown, type MimeBundle } from "../../render/display";
import { renderTerminal, type TerminalChunk, type TerminalView } from "../../render/terminal";
import { decodeOutput, encodeInput, type TextMode } from "./encoding";
import { signalGroup, signalName, toReturncode } from "../signals";
import { reapWithParent } from "../reaper";
import { ProgramNotFoundError, SpawnError, TimeoutExpired, type Output } from "./errors";
import { ShownOutput } from "./live";
import { spawnFailure } from "./locate";
import { describe } from "../option-errors";
import { normalizeTimeout, timesOut } from "../timeouts";
import { normalizePopenOptions, type Args, type NormalizedPopenOptions, type PopenOptions, type StreamMode } from "./options";

/** Streams given to another Popen as its stdin: their data is that program's, not for communicate(). */
const handedOver = new WeakSet<Readable>();

/** Internal: options already normalized by run(). Not exported from the package. */
export const NORMALIZED = Symbol("forklab.subprocess.normalized");

type Collected = { chunks: Buffer[]; bytes: number; done: Promise<void> };

function ended(stream: Readable): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
  });
}

function spawnStdio(mode: StreamMode, showPiped: boolean): "pipe" | "ignore" | "inherit" | number {
  if (mode === "show") return showPiped ? "pipe" : "inherit";
  if (mode === "merge") return "pipe";
  return mode;
}

/** What communicate() gives for options `O`: text with `text: true` or an `encoding`, else bytes. */
export type OutputOf<O> = O extends { text: true } | { encoding: string } ? string : Buffer;

export class Popen<O extends PopenOptions = PopenOptions> {
  /** The command as given (Python's `args`). */
  readonly args: string | string[];
  /** The process id. */
  readonly pid: number;
  /** The program's stdin when it is `PIPE` (not a stream), else null. Write to it, then `end()` it. */
  readonly stdin: Writable | null;
  /** The program's stdout when it is `PIPE` (with stderr when stderr is `STDOUT`), else null. */
  readonly stdout: Readable | null;
  /** The program's stderr when it is `PIPE`, else null. */
  readonly stderr: Readable | null;

  readonly #options: NormalizedPopenOptions;
  readonly #child: ChildProcess;
  readonly #bind: <F extends (...args: never[]) => unknown>(fn: F) => F;
  readonly #start = performance.now();
  #end: number | undefined;
  #returncode: number | null = null;
  readonly #exited: Promise<void>;
  #shown: ShownOutput | undefined;
  #shownDone: Promise<void> = Promise.resolve();
  #collected: { stdout?: Collected; stderr?: Collected } | undefined;
  #communicationStarted = false;
  #unsubscribe: Array<() => void> = [];
  #note: string | undefined;
  #ownGroup = false;

  constructor(args: Args, options: O = {} as O) {
    const normalized: NormalizedPopenOptions =
      (options as { [NORMALIZED]?: NormalizedPopenOptions })[NORMALIZED] ?? normalizePopenOptions("Popen()", args, options);
    this.#options = normalized;
    const { command } = normalized;
    this.args = command.args;
    // Callbacks run in the async context of the code that started the program, so that a kernel
    // routes late output to the cell that started it. This is AsyncResource.bind, without the
    // deprecated accessors that bind() defines on every bound function.
    const resource = new AsyncResource("forklab.Popen");
    const bind = <F extends (...args: never[]) => unknown>(fn: F): F =>
      ((...args: unknown[]) => resource.runInAsyncScope(fn as unknown as (...a: unknown[]) => unknown, undefined, ...args)) as unknown as F;
    this.#bind = bind;

    const showPiped = normalized.live || normalized.inKernel;
    const stdoutInherited = normalized.stdout === "show" && !showPiped;
    let stderrSpawn = spawnStdio(normalized.stderr, showPiped);
    if (normalized.stderr === "merge") {
      // stderr goes where stdout goes.
      if (normalized.stdout === "ignore") stderrSpawn = "ignore";
      else if (typeof normalized.stdout === "number") stderrSpawn = normalized.stdout;
      else if (stdoutInherited) stderrSpawn = 1;
    }
    const stdio: StdioOptions = [spawnStdio(normalized.stdin, false), spawnStdio(normalized.stdout, showPiped), stderrSpawn];

    // Its own process group (as a shell gives each job), so that an interrupt sent to the kernel's
    // group does not reach it and ending it reaches what it started; but a program that reads
    // this process's terminal stays in the terminal's foreground group, where Ctrl-C reaches it.
    this.#ownGroup = process.platform !== "win32" && !(normalized.stdin === "inherit" && isatty(0));
    let child: ChildProcess;
    try {
      child = spawn(command.file, command.argv, {
        cwd: normalized.cwd,
        env: normalized.env,
        stdio,
        detached: this.#ownGroup,
        windowsHide: true,
        windowsVerbatimArguments: command.windowsVerbatimArguments,
      });
    } catch (error) {
      // Node throws at once for what it does not report later (ENOTDIR, E2BIG, ELOOP, EBADF, ...).
      throw this.#spawnError((error as NodeJS.ErrnoException).code, error);
    }
    this.#child = child;
    if (child.pid === undefined) {
      child.once("error", () => {});
      throw this.#spawnError();
    }
    this.pid = child.pid;
    this.#unsubscribe.push(reapWithParent(child.pid, this.#ownGroup));

    // Writing to a program that has closed its stdin fails with EPIPE: that is the program's
    // choice, not an error of this process (Python's communicate ignores it too).
    child.stdin?.on("error", () => {});
    this.stdin = normalized.stdinFrom ? null : child.stdin;
    if (normalized.stdinFrom && child.stdin) this.#feed(normalized.stdinFrom, child.stdin);

    const stdoutShown = normalized.stdout === "show" && showPiped;
    const stderrShown = (normalized.stderr === "show" || (normalized.stderr === "merge" && stdoutShown)) && showPiped;
    const mergedPipe = normalized.stderr === "merge" && normalized.stdout === "pipe";

    if (mergedPipe && child.stdout && child.stderr) {
      const merged = new PassThrough();
      let open = 2;
      const closeOne = () => {
        if (--open === 0) merged.end();
      };
      for (const source of [child.stdout, child.stderr]) {
        source.pipe(merged, { end: false });
        source.once("end", closeOne);
      }
      this.stdout = merged;
      this.stderr = null;
    } else {
      this.stdout = normalized.stdout === "pipe" ? child.stdout : null;
      this.stderr = normalized.stderr === "pipe" ? child.stderr : null;
    }

    if (stdoutShown || stderrShown) {
      const shown = new ShownOutput({
        live: normalized.live,
        command: command.display,
        encoding: normalized.textMode?.encoding,
        bind,
      });
      this.#shown = shown;
      const waits: Promise<void>[] = [];
      if (stdoutShown && child.stdout) {
        child.stdout.on("data", bind((chunk: Buffer) => shown.write("stdout", chunk)));
        waits.push(ended(child.stdout));
      }
      if (stderrShown && child.stderr) {
        const tag = normalized.stderr === "merge" ? "stdout" : "stderr";
        child.stderr.on("data", bind((chunk: Buffer) => shown.write(tag, chunk)));
        waits.push(ended(child.stderr));
      }
      shown.start(this.pid);
      this.#shownDone = Promise.all(waits).then(() => undefined);
    }

    this.#exited = new Promise<void>((resolve) => {
      child.once(
        "exit",
        bind((code: number | null, signal: NodeJS.Signals | null) => {
          this.#returncode = toReturncode(code, signal);
          this.#end = performance.now();
          this.#keepUnread();
          for (const unsubscribe of this.#unsubscribe) unsubscribe();
          this.#unsubscribe = [];
          resolve();
        }),
      );
    });
    // Errors after a successful start (a failed kill) must not crash the process.
    child.on("error", () => {});
    if (this.#shown) {
      const shown = this.#shown;
      this.#shownDone = Promise.all([this.#exited, this.#shownDone]).then(() => shown.finish(this.#returncode!, this.#finalExtra()));
    }

    // In a kernel: an interrupt of the cell that started the program ends it and what it
    // started (its process group); a shutdown ends them all.
    this.#unsubscribe.push(onInterrupt(() => this.#killAll()), onShutdown(() => this.#killAll()));
  }

  /**
   * A pipeline: the source's data goes to the program's stdin, with backpressure. When this
   * program ends, the source is closed, so a writer still writing gets SIGPIPE, as in Python once
   * the parent has closed its copy of `p1.stdout`.
   */
  #feed(source: Readable, stdin: Writable): void {
    handedOver.add(source);
    source.pipe(stdin);
    const stop = () => {
      source.unpipe(stdin);
      source.destroy();
    };
    stdin.once("error", stop);
    this.#child.once("exit", () => {
      if (!source.readableEnded) stop();
    });
  }

  /**
   * Once a program has exited, Node throws away what its pipes still hold unless something reads
   * them; Python leaves it in the pipe for a later communicate(). So keep it from now on. (Called
   * from the "exit" event, which Node emits before it discards.)
   */
  #keepUnread(): void {
    const unread = (stream: Readable | null) =>
      stream !== null && !handedOver.has(stream) && stream.readableFlowing !== true && stream.listenerCount("data") === 0 && stream.listenerCount("readable") === 0;
    if (unread(this.stdout) || unread(this.stderr)) this.#collect();
  }

  #spawnError(systemCode?: string, cause?: unknown): SpawnError {
    const { command, cwd, env } = this.#options;
    const init = { ...spawnFailure(command.file, command.display, cwd, env, command.shell, systemCode), cmd: command.args };
    const options = cause === undefined ? undefined : { cause };
    return init.code === "ENOENT" && init.cwdExists && !init.interpreter ? new ProgramNotFoundError(init, options) : new SpawnError(init, options);
  }

  #finalExtra(): Partial<TerminalView> {
    const rc = this.#returncode;
    return {
      signal: rc !== null && rc < 0 ? signalName(-rc) : undefined,
      durationMs: this.durationMs,
      note: this.#note,
    };
  }

  /** @internal A remark for the terminal block's status line ("timed out after 2 s"). */
  set terminalNote(note: string | undefined) {
    this.#note = note;
  }

  /** The exit code, minus the signal number if a signal ended it, or null while it runs. */
  get returncode(): number | null {
    return this.#returncode;
  }

  /** Milliseconds from start to exit (or until now while it runs). Not in Python. */
  get durationMs(): number {
    return (this.#end ?? performance.now()) - this.#start;
  }

  /** The text mode (encoding, errors) when `text` or `encoding` was given. */
  get textMode(): TextMode | undefined {
    return this.#options.textMode;
  }

  /** The command line as shown in the terminal block. */
  get commandLine(): string {
    return this.#options.command.display;
  }

  /** The returncode if the program has ended, else null (Python's None). Never waits. */
  poll(): number | null {
    return this.#returncode;
  }

  /**
   * Wait until the program ends; resolves to its returncode. With `timeout` (seconds), rejects
   * with TimeoutExpired and leaves the program running.
   *
   * Unlike Python, waiting never deadlocks on a full pipe: output in `PIPE` streams that nobody
   * reads is kept, and `communicate()` returns it later.
   */
  async wait(options: { timeout?: number | null } = {}): Promise<number> {
    const timeout = normalizeTimeout("Popen.wait()", options?.timeout);
    this.#collect();
    if (this.#returncode === null) {
      const timedOut = await timesOut(this.#exited, timeout);
      if (timedOut) {
        throw new TimeoutExpired({ cmd: this.args, display: this.commandLine, timeout: timeout!, stdout: null, stderr: null, killed: false });
      }
    }
    return this.#returncode!;
  }

  /**
   * Send `input` to stdin and close it, read stdout and stderr to the end, wait for the program
   * to end; resolves to `[stdout, stderr]` (null for a stream that is not `PIPE`), bytes unless
   * text mode is on.
   *
   * Python's rule on timeouts: with `timeout` (seconds), rejects with TimeoutExpired carrying
   * the output so far and leaves the program running; call `communicate()` again (without input)
   * to keep waiting: it returns all the output, nothing is lost.
   */
  async communicate(
    input?: string | Uint8Array | null,
    options: { timeout?: number | null } = {},
  ): Promise<[OutputOf<O> | null, OutputOf<O> | null]> {
    const timeout = normalizeTimeout("Popen.communicate()", options?.timeout);
    if (input !== undefined && input !== null) {
      if (typeof input !== "string" && !(input instanceof Uint8Array)) {
        throw new TypeError(`Popen.communicate(): input must be a string, a Buffer or a Uint8Array, got ${describe(input)}`);
      }
      if (this.#communicationStarted) {
        throw new TypeError("Popen.communicate(): cannot send input after communication started; call communicate() again without input to keep waiting");
      }
      if (!this.stdin) {
        throw new TypeError("Popen.communicate(): input needs a pipe to the program: start it with stdin: PIPE");
      }
    }
    if (!this.#communicationStarted) {
      this.#communicationStarted = true;
      if (this.stdin && !this.stdin.writableEnded) {
        if (input !== undefined && input !== null && input.length > 0) {
          this.stdin.end(encodeInput(input, this.#options.textMode?.encoding));
        } else {
          this.stdin.end();
        }
      }
    }
    const collected = this.#collect();
    const all = Promise.all([this.#exited, this.#shownDone, collected.stdout?.done, collected.stderr?.done]);
    const timedOut = await timesOut(all, timeout);
    if (timedOut) {
      throw new TimeoutExpired({
        cmd: this.args,
        display: this.commandLine,
        timeout: timeout!,
        stdout: this.#output("stdout"),
        stderr: this.#output("stderr"),
        killed: false,
      });
    }
    return [this.#output("stdout"), this.#output("stderr")] as [OutputOf<O> | null, OutputOf<O> | null];
  }

  /** Start keeping the output of PIPE streams (idempotent). */
  #collect(): { stdout?: Collected; stderr?: Collected } {
    if (this.#collected) return this.#collected;
    const collect = (stream: Readable): Collected => {
      const entry: Collected = { chunks: [], bytes: 0, done: ended(stream) };
      stream.on(
        "data",
        this.#bind((chunk: Buffer) => {
          entry.chunks.push(chunk);
          entry.bytes += chunk.length;
        }),
      );
      return entry;
    };
    this.#collected = {
      stdout: this.stdout && !handedOver.has(this.stdout) ? collect(this.stdout) : undefined,
      stderr: this.stderr ? collect(this.stderr) : undefined,
    };
    return this.#collected;
  }

  /** What a PIPE stream has delivered so far, as bytes or text; null when it is not a PIPE. */
  #output(name: "stdout" | "stderr"): Output {
    const entry = this.#collected?.[name];
    if (!entry) return null;
    if (entry.chunks.length !== 1) {
      const whole = Buffer.concat(entry.chunks, entry.bytes);
      entry.chunks = [whole];
    }
    const bytes = entry.chunks[0] ?? Buffer.alloc(0);
    return this.#options.textMode ? decodeOutput(bytes, this.#options.textMode) : bytes;
  }

  /** Send `signal` (a name like "SIGTERM" or a number); does nothing once the program has ended. */
  sendSignal(signal: NodeJS.Signals | number): void {
    if (this.#returncode !== null) return;
    this.#child.kill(signal);
  }

  /** SIGKILL to the program's process group (or the program alone when it has none). */
  #killAll(): void {
    if (this.#returncode !== null) return;
    if (this.#ownGroup) signalGroup(this.pid, "SIGKILL");
    else this.kill();
  }

  /** Ask the program to stop (SIGTERM; on Windows the same as kill). */
  terminate(): void {
    this.sendSignal("SIGTERM");
  }

  /** Stop the program at once (SIGKILL; on Windows TerminateProcess). */
  kill(): void {
    this.sendSignal("SIGKILL");
  }

  /** The output shown so far, or collected from pipes, as terminal chunks. */
  #chunks(): readonly TerminalChunk[] {
    if (this.#shown && this.#shown.chunks.length) return this.#shown.chunks;
    const chunks: TerminalChunk[] = [];
    for (const name of ["stdout", "stderr"] as const) {
      const output = this.#collected?.[name] ? this.#output(name) : null;
      if (output && output.length) chunks.push({ stream: name, text: typeof output === "string" ? output : output.toString("utf8") });
    }
    return chunks;
  }

  /** The terminal block of this program, as it is now. */
  toTerminalView(): TerminalView {
    const rc = this.#returncode;
    return {
      command: this.commandLine,
      chunks: this.#chunks(),
      returncode: rc,
      signal: rc !== null && rc < 0 ? signalName(-rc) : undefined,
      durationMs: this.durationMs,
      pid: this.pid,
      note: this.#note,
    };
  }

  [Symbol.for("Jupyter.display")](): MimeBundle {
    return renderTerminal(this.toTerminalView());
  }

  [inspect.custom](): string {
    const rc = this.#returncode === null ? "None" : String(this.#returncode);
    return `<Popen: returncode: ${rc} args: ${inspect(this.args)} pid: ${this.pid}>`;
  }

  /** @internal The end of what the program wrote to a shown stderr. */
  get shownStderrTail(): string | undefined {
    return this.#shown?.stderrTail;
  }

  /** @internal The shown output, for the CompletedProcess's terminal block. */
  get shownChunks(): readonly TerminalChunk[] | undefined {
    return this.#shown?.chunks;
  }
}
