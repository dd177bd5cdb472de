/**
 * Process: Python's `multiprocessing.Process` on a Node child.
 *
 * `new Process({ target, args, name, daemon }).start()` or `spawn(target, args, options)`. The
 * target is a function (its source crosses; see target-check.ts) or a module export; args and the
 * result cross by structured clone. Output is piped, kept (bounded) in `stdout`/`stderr`, and shown
 * live in a card that this process owns in the cell that started it.
 *
 * Daemon, adapted from Python: a non-daemon process keeps a Node script alive until it ends (as
 * Python joins non-daemon children at exit); a daemon process does not (unless something awaits
 * its `join()` or `result`), and is terminated when the parent exits. Either way no child outlives its parent: each ends when the parent's channel closes.
 * As in Python, a daemon process cannot start children.
 */
import { AsyncResource } from "node:async_hooks";
import * as util from "node:util";
import { ClassInstanceError, findUncloneable, uncloneableMessage } from "../../protocol/clone";
import { fromErrorRecord, setTargetSource } from "../../protocol/errors";
import { RecordError } from "../../protocol/framing";
import { encodeMessage } from "../../protocol/handles";
import { childState, type Message } from "../../protocol/messages";
import { JUPYTER_DISPLAY, LIVE_DISPLAY_ID } from "../../protocol/kernel-bridge";
import { isInKernel, onInterrupt, type MimeBundle } from "../../render/display";
import { LiveDisplay } from "../../render/live";
import { renderProcessCard, renderProcessText, type ProcessCardData, type ProcessState } from "../../render/process-card";
import { signalGroup, toReturncode } from "../signals";
import { normalizeTimeout, setLongTimeout, timesOut, type LongTimer } from "../timeouts";
import { ProcessError } from "./errors";
import { BoundedText, LineTail } from "./output";
import { ChildToBe, prepareSpare, startChild, startFailure, takeSpare, type ChildHandle, type ChildOptions } from "./child-handle";
import { checkProcessOptions, type ProcessOptions } from "./options";
import { getStartMethod, nextIdentity, track, untrack } from "./registry";
import { toTargetSpec, type Target } from "./target";

export type { ProcessOptions } from "./options";

export interface ProcessInit<A extends unknown[] = unknown[], R = unknown> extends ProcessOptions {
  target: Target<A, R>;
  args?: A;
}


function short(value: unknown): string {
  const text = util.inspect(value, { depth: 2, breakLength: Infinity, maxArrayLength: 10, maxStringLength: 200 });
  return text.length > 240 ? text.slice(0, 237) + "..." : text;
}

export class Process<R = unknown> {
  /** Python's `name`: can be changed until the process starts (and after; it is only a label). */
  name: string;
  readonly parentPid = process.pid;
  readonly #target: Target;
  /** The target's text as the child got it, when it crossed as source: where its error's frames point. */
  #targetSource: string | undefined;
  readonly #args: unknown;
  readonly #options: ProcessOptions;
  readonly #identity: number[];
  #daemon: boolean;
  /** Someone awaited its result or join(): it keeps the script alive, daemon or not. */
  #awaited = false;
  #label = "";
  #handle: ChildHandle | undefined;
  #state: ProcessState = "initial";
  #exitCode: number | null = null;
  #signal: string | null = null;
  #startedAt: number | undefined;
  #endedAt: number | undefined;
  #stoppedBy: string | undefined;
  #killTimer: LongTimer | undefined;
  #stdout: BoundedText;
  #stderr: BoundedText;
  #tail = new LineTail(12);
  #outcome: ProcessCardData["outcome"];
  #settled = false;
  readonly #result: Promise<R>;
  #resolve!: (value: R) => void;
  #reject!: (error: unknown) => void;
  readonly #finished: Promise<void>;
  #markFinished!: () => void;
  readonly #live = new LiveDisplay(() => this.#bundle(), { kind: "forklab-process" });
  #unsubscribeInterrupt: (() => void) | undefined;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(init: ProcessInit<any[], R>) {
    if (typeof init !== "object" || init === null || !("target" in init)) {
      throw new TypeError(`new Process() needs { target, args? }, got ${String(init)}; e.g. new Process({ target: runProc, args: ["test"] })`);
    }
    const { target, args = [], ...options } = init;
    checkProcessOptions("Process()", options);
    this.#target = target as Target;
    this.#args = args;
    this.#options = options;
    this.#identity = nextIdentity();
    this.name = options.name ?? `Process-${this.#identity.join(":")}`;
    this.#daemon = options.daemon ?? childState()?.proc.daemon ?? false;
    const limit = options.outputLimit ?? 1_000_000;
    this.#stdout = new BoundedText(limit);
    this.#stderr = new BoundedText(limit);
    this.#result = new Promise<R>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Nobody has to await `result`: a failed target must not become an unhandled rejection.
    this.#result.catch(() => {});
    this.#finished = new Promise<void>((resolve) => (this.#markFinished = resolve));
  }

  /** Python's `daemon`: settable only before start(). */
  get daemon(): boolean {
    return this.#daemon;
  }

  set daemon(value: boolean) {
    if (this.#state !== "initial") throw new Error(`${this.name} has already started; set daemon before start()`);
    this.#daemon = Boolean(value);
  }

  /** The child's pid once started (undefined before, as Python's None). */
  get pid(): number | undefined {
    return this.#handle?.pid;
  }

  /** Python's `ident` (same as pid). */
  get ident(): number | undefined {
    return this.pid;
  }

  /** null while running (or not started); the exit code; or minus the signal number if killed. */
  get exitCode(): number | null {
    return this.#exitCode;
  }

  /** The signal that ended the child ("SIGTERM", "SIGKILL"), or null. */
  get signal(): string | null {
    return this.#signal;
  }

  /**
   * The target's return value, or the error it threw (rebuilt here, the child's stack as cause).
   * It settles as soon as the target returns; `join()` waits for the child to exit and for all of
   * its output, as in Python.
   */
  get result(): Promise<R> {
    this.#keepAliveWhileAwaited();
    return this.#result;
  }

  /** Everything the child wrote to stdout so far (the last `outputLimit` characters). */
  get stdout(): string {
    return this.#stdout.text;
  }

  get stderr(): string {
    return this.#stderr.text;
  }

  /** Start the child and run the target there. Returns this process. */
  start(): this {
    if (this.#state !== "initial") {
      throw new Error(`${this.name} was already started (pid ${this.pid}); a Process runs once: create a new one to run again`);
    }
    const current = childState();
    if (current?.proc.daemon) {
      throw new Error(
        `${current.proc.name} is a daemon process, and daemon processes cannot start children (as in Python); ` +
          `start ${this.name} from the main process, or make ${current.proc.name} non-daemon`,
      );
    }
    const cwd = this.#options.cwd ?? process.cwd();
    const { spec, label } = toTargetSpec(this.#target, process.cwd());
    this.#label = label;
    if (spec.kind === "source") this.#targetSource = spec.source;
    if (!Array.isArray(this.#args)) {
      throw new TypeError(`args must be an array of the target's arguments, got ${short(this.#args)}; e.g. spawn(fn, [1, "a"])`);
    }
    let record: Buffer;
    // A pipe end among the arguments is held by the child from now on, until it ends (pipe.ts).
    const receiver = new ChildToBe();
    try {
      record = encodeMessage({ t: "run", id: 1, target: spec, args: this.#args }, receiver.context);
    } catch (error) {
      receiver.startedAs(undefined);
      if (error instanceof RecordError || error instanceof ClassInstanceError) throw error;
      const found = findUncloneable(this.#args, "args");
      throw new TypeError(
        found ? uncloneableMessage(found, `to ${this.name}`) : `The arguments of ${this.name} cannot be cloned: ${(error as Error).message}`,
      );
    }

    const childOptions: ChildOptions = { cwd, env: this.#options.env ?? process.env, execArgv: this.#options.execArgv ?? [] };
    const method = this.#options.startMethod ?? getStartMethod();
    let handle = method === "warm" ? takeSpare(childOptions) : undefined;
    if (!handle) {
      try {
        handle = startChild(childOptions);
      } catch (error) {
        receiver.startedAs(undefined);
        // Node throws at once for some refusals (ENOTDIR, E2BIG, ...), and reports others later.
        const code = (error as NodeJS.ErrnoException).code;
        if (code === undefined) throw error;
        throw startFailure(this.name, childOptions, code, error);
      }
    }
    receiver.startedAs(handle);
    if (handle.pid === undefined) throw startFailure(this.name, childOptions);
    if (method === "warm") prepareSpare(childOptions, this.#result);
    this.#handle = handle;
    this.#state = "running";
    this.#startedAt = performance.now();
    handle.setRef(!this.#daemon);

    const child = handle.child;
    const output = this.#options.output ?? (isInKernel() ? "display" : "forward");
    // Bound now, so that output and updates that arrive after the cell finished go to its outputs.
    child.stdout!.on("data", AsyncResource.bind((chunk: Buffer) => this.#onOutput("stdout", chunk, output)));
    child.stderr!.on("data", AsyncResource.bind((chunk: Buffer) => this.#onOutput("stderr", chunk, output)));
    const exited = new Promise<void>((resolve) =>
      child.once("exit", AsyncResource.bind((code: number | null, signal: NodeJS.Signals | null) => (this.#onExit(code, signal), resolve()))),
    );
    // 'close' (exited, pipes drained) normally comes first; output may still be in the pipes, and
    // a grandchild could even hold them open: finish once, at 'close' or 500 ms after exit.
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    const shortlyAfterExit = exited.then(() => new Promise<void>((resolve) => setTimeout(resolve, 500).unref()));
    void Promise.race([closed, shortlyAfterExit]).then(AsyncResource.bind(() => this.#finish()));
    handle.listen(AsyncResource.bind((message: Message) => this.#onMessage(message)));

    handle.channel.send({
      t: "init",
      proc: {
        name: this.name,
        daemon: this.#daemon,
        identity: this.#identity,
        parentPid: process.pid,
        parentName: current?.proc.name ?? "MainProcess",
        mode: "process",
      },
    });
    handle.channel.sendRecord(record);

    track(this);
    this.#unsubscribeInterrupt = onInterrupt(() => {
      if (this.isAlive()) this.terminate("interrupt");
    });
    if (output === "display") {
      this.#live.show();
    }
    return this;
  }

  /** Whether the child is running (started and not yet exited). */
  isAlive(): boolean {
    return this.#state === "running";
  }

  /**
   * Wait until the child has ended and its output has been read; with `timeout` (seconds, as in
   * Python), stop waiting after that long (the process may still run: check `exitCode`).
   */
  join(timeout?: number | null): Promise<void> {
    let seconds: number | undefined;
    try {
      seconds = normalizeTimeout("join()", timeout);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#state === "initial") return Promise.reject(new Error(`${this.name} was not started: call start() before join()`));
    this.#keepAliveWhileAwaited();
    if (seconds === undefined || this.#state === "stopped") return this.#finished;
    return timesOut(this.#finished, seconds).then(() => undefined);
  }

  /**
   * SIGTERM to the child's process group now (the child and what it started), then SIGKILL if the
   * child still runs after `killGrace` seconds. Python's terminate() never escalates; forklab's
   * does, so that a child that ignores SIGTERM cannot outlive the cell.
   */
  terminate(reason = "terminate()"): void {
    if (!this.isAlive() || !this.#handle) return;
    this.#stoppedBy ??= reason;
    this.#signalGroup("SIGTERM");
    if (!this.#killTimer) {
      this.#killTimer = setLongTimeout(() => {
        if (this.isAlive()) this.#signalGroup("SIGKILL");
      }, this.#options.killGrace ?? 2).unref();
    }
  }

  /** SIGKILL to the child's process group now. */
  kill(): void {
    if (!this.isAlive() || !this.#handle) return;
    this.#stoppedBy ??= "kill()";
    this.#signalGroup("SIGKILL");
  }

  /** The child leads its own process group: signal the group, so that its own children end too. */
  #signalGroup(signal: NodeJS.Signals): void {
    const pid = this.#handle?.pid;
    if (pid !== undefined) signalGroup(pid, signal);
  }

  /** The data the card shows (also useful to inspect state in one object). */
  snapshot(): ProcessCardData {
    const end = this.#endedAt ?? performance.now();
    return {
      name: this.name,
      pid: this.pid,
      parentPid: this.parentPid,
      state: this.#state,
      exitCode: this.#exitCode,
      signal: this.#signal,
      daemon: this.#daemon,
      target: this.#label || (typeof this.#target === "function" ? `${this.#target.name || "(anonymous function)"}()` : "module"),
      durationMs: this.#startedAt === undefined ? undefined : end - this.#startedAt,
      tail: this.#tail.lines(),
      omittedLines: this.#tail.omitted,
      outcome: this.#outcome,
    };
  }

  /** The id of this process's card in the notebook, once shown (see LIVE_DISPLAY_ID). */
  get [LIVE_DISPLAY_ID](): string | undefined {
    return this.#live.displayId;
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return this.#bundle();
  }

  [util.inspect.custom](): string {
    return renderProcessText(this.snapshot());
  }

  toString(): string {
    return `<Process name='${this.name}' pid=${this.pid ?? "-"} ${this.#state}>`;
  }

  /** A daemon does not keep a script running, except while someone waits for it. */
  #keepAliveWhileAwaited(): void {
    this.#awaited = true;
    if (this.#daemon && this.#state === "running") this.#handle?.setRef(true);
  }

  /**
   * While running, keep this process's parent alive until the returned function is called (a
   * daemon does not otherwise): a queue's wait there that nothing else can end may be ended by it.
   */
  keepAlive(): (() => void) | undefined {
    if (this.#state !== "running") return undefined;
    this.#handle?.setRef(true);
    return () => {
      if (this.#daemon && !this.#awaited && this.#state === "running") this.#handle?.setRef(false);
    };
  }

  #bundle(): MimeBundle {
    return renderProcessCard(this.snapshot());
  }

  #onOutput(stream: "stdout" | "stderr", chunk: Buffer, output: string): void {
    const text = (stream === "stdout" ? this.#stdout : this.#stderr).push(chunk);
    this.#tail.push(stream, text);
    if (output === "forward") (stream === "stdout" ? process.stdout : process.stderr).write(chunk);
    else if (output === "display") this.#live.changed();
  }

  #onMessage(message: Message): void {
    if (this.#settled) return;
    if (message.t === "result" && message.id === 1) {
      this.#settled = true;
      // A target that returns nothing (like Python's) has no result worth a line on its card.
      if (message.value !== undefined) this.#outcome = { ok: true, text: short(message.value) };
      this.#showOutcome();
      this.#resolve(message.value as R);
    } else if (message.t === "error" && message.id === 1) {
      this.#settled = true;
      const error = fromErrorRecord(message.error);
      if (this.#targetSource !== undefined) setTargetSource(error, this.#targetSource);
      this.#outcome = { ok: false, text: error instanceof Error ? `${error.name}: ${error.message}` : short(error) };
      this.#showOutcome();
      this.#reject(error);
    }
  }

  /**
   * Put the outcome on the card as soon as it is known: a cell that awaits `result` may end
   * before the child has exited, and a notebook saved then shows this state.
   */
  #showOutcome(): void {
    this.#live.updateNow();
  }


  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.#state = "stopped";
    this.#endedAt = performance.now();
    this.#signal = signal;
    this.#exitCode = code === null && signal === null ? null : toReturncode(code, signal);
    this.#killTimer?.clear();
    untrack(this);
    this.#unsubscribeInterrupt?.();
  }

  #finish(): void {
    this.#tail.push("stdout", this.#stdout.end());
    this.#tail.push("stderr", this.#stderr.end());
    if (!this.#settled) {
      this.#settled = true;
      const error = new ProcessError({
        name: this.name,
        pid: this.pid,
        exitCode: this.#exitCode,
        signal: this.#signal,
        stderr: this.#stderr.text,
        stoppedBy: this.#stoppedBy,
        channelFault: this.#handle?.channelFault,
      });
      this.#outcome = {
        ok: false,
        text: this.#signal ? `stopped by ${this.#signal} before returning` : `exited with code ${this.#exitCode} before returning`,
      };
      this.#reject(error);
    }
    this.#live.final();
    this.#markFinished();
  }
}
