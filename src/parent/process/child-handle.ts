/**
 * Starting a child runtime, and the warm spare.
 *
 * Like CPython's `Popen` classes, this is the small layer under `Process` (and later a pool's
 * workers): start `node dist/src/child/main.js` with stdout/stderr piped and the channel on fd 3.
 * Children get their own process group (so a Jupyter interrupt, which signals the kernel's whole
 * group, reaches them only through the library) and end when the parent's channel closes.
 *
 * The "warm" start method keeps one spare child booted and idle (one in all, for the options of
 * the last start); `spawn` hands it the task and
 * boots the next spare in the background. That is Python's forkserver idea: pay the interpreter's
 * start-up before the user asks.
 */
import { spawn as spawnChild, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import type { Readable } from "node:stream";
import { Channel } from "../../protocol/channel";
import { channelFaultText } from "../../protocol/ended";
import { toErrorRecord } from "../../protocol/errors";
import type { HandleContext } from "../../protocol/handles";
import type { Message } from "../../protocol/messages";
import { SpawnError } from "../subprocess/errors";
import { spawnFailure } from "../subprocess/locate";
import { signalGroup } from "../signals";
import { reapWithParent } from "../reaper";

export const CHILD_MAIN = path.join(__dirname, "..", "..", "child", "main.js");

export interface ChildOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  execArgv: string[];
}

/** A started child runtime; messages are held until someone listens. */
export class ChildHandle {
  readonly child: ChildProcess;
  readonly channel: Channel;
  readonly key: string;
  #listener: ((message: Message) => void) | undefined;
  #held: Message[] = [];
  #closed = false;
  /** Why a record from the child could not be read, if one could not (see ended.ts). */
  channelFault: string | undefined;
  /** Told at once when a record cannot be read (a pool worker's tasks cannot wait for its exit). */
  onChannelFault: ((fault: string) => void) | undefined;
  #markBooted!: () => void;
  /** Told with the pid once the child has exited (see HandleContext.onPeerEnd). */
  #onExit: ((pid: number) => void)[] | undefined = [];
  /** Resolves when the child runtime has started and announced itself. */
  readonly booted = new Promise<void>((resolve) => (this.#markBooted = resolve));

  constructor(options: ChildOptions, key: string) {
    if (!existsSync(CHILD_MAIN)) {
      throw new Error(`The child runtime ${CHILD_MAIN} is missing; build the library first (npx tsc -p .)`);
    }
    this.key = key;
    this.child = spawnChild(process.execPath, [...options.execArgv, CHILD_MAIN], {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
      detached: process.platform !== "win32",
      windowsHide: true,
    });
    // Without a handler, a failed spawn (EAGAIN, ENOMEM) would crash the parent.
    this.child.on("error", () => {});
    // The child ends when its channel closes; what it started without forklab ends through the
    // reaper, which signals the child's whole group if this process dies first.
    if (this.child.pid !== undefined && process.platform !== "win32") this.child.once("exit", reapWithParent(this.child.pid, true));
    const pid = this.child.pid ?? 0;
    const ended = () => {
      const told = this.#onExit ?? [];
      this.#onExit = undefined;
      for (const listener of told) listener(pid);
    };
    this.child.once("exit", ended);
    // A child that could not start never exits: what was sent to it is told at once.
    if (this.child.pid === undefined) this.child.once("error", ended);
    const handleContext: HandleContext = {
      side: "parent",
      peerPid: this.child.pid,
      sendPort: (port, data) => this.channel.send({ t: "port", port, data }),
      onPort: () => () => {},
      onPeerEnd: (listener) => this.onExit(listener),
    };
    this.channel = new Channel(this.child.stdio[3] as unknown as import("node:stream").Duplex, {
      onMessage: (message) => this.#deliver(message),
      // A result whose handles could not be revived becomes that task's error.
      onError: (error, message, during) => {
        // Bytes that are not a record: the target wrote to fd 3. Kept, to say so when it ends.
        if (during === "decode") {
          this.channelFault ??= channelFaultText(error);
          this.onChannelFault?.(this.channelFault);
          return;
        }
        if (message?.t !== "result" || during !== "revive") throw error;
        this.#deliver({ t: "error", id: message.id, error: toErrorRecord(error, process.pid) });
      },
      onClose: () => {
        this.#closed = true;
      },
      handleContext,
    });
  }

  #deliver(message: Message): void {
    if (message.t === "ready") this.#markBooted();
    if (this.#listener) this.#listener(message);
    else this.#held.push(message);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Calls `listener` with the child's pid once it has exited (at once if it has). Returns what forgets the listener. */
  onExit(listener: (pid: number) => void): () => void {
    if (!this.#onExit) {
      queueMicrotask(() => listener(this.child.pid ?? 0));
      return () => {};
    }
    this.#onExit.push(listener);
    return () => {
      const at = this.#onExit?.indexOf(listener) ?? -1;
      if (at >= 0) this.#onExit!.splice(at, 1);
    };
  }

  /** Alive and reachable: not exited, channel open. */
  get usable(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && !this.#closed && this.child.pid !== undefined;
  }

  listen(listener: (message: Message) => void): void {
    this.#listener = listener;
    const held = this.#held;
    this.#held = [];
    for (const message of held) listener(message);
  }

  /** Whether this child keeps the parent's event loop alive (a non-daemon process does). */
  setRef(ref: boolean): void {
    const handles = [this.child.stdout, this.child.stderr] as (Readable & { ref?(): void; unref?(): void })[];
    if (ref) {
      this.child.ref();
      this.channel.ref();
      for (const h of handles) h?.ref?.();
    } else {
      this.child.unref();
      this.channel.unref();
      for (const h of handles) h?.unref?.();
    }
  }
}

/**
 * The handle context of a message encoded before its child exists (Process checks its arguments
 * before it starts anything). What waits for the child's end waits for the child given to
 * `startedAs`; with none (it could not start), it is told at once.
 */
export class ChildToBe {
  /** Each listener, and once the child exists, what forgets it there. */
  #waiting: { listener: (pid: number) => void; forget?: () => void }[] = [];
  readonly context: HandleContext = {
    side: "parent",
    peerPid: undefined,
    sendPort: () => {
      throw new Error("A handle encoded before its child started cannot send to a port");
    },
    onPort: () => () => {},
    onPeerEnd: (listener) => {
      const entry: { listener: (pid: number) => void; forget?: () => void } = { listener };
      this.#waiting.push(entry);
      return () => {
        entry.forget?.();
        const at = this.#waiting.indexOf(entry);
        if (at >= 0) this.#waiting.splice(at, 1);
      };
    },
  };

  startedAs(handle: ChildHandle | undefined): void {
    for (const entry of this.#waiting) {
      if (handle) entry.forget = handle.onExit(entry.listener);
      else entry.listener(0);
    }
    // Those that could still be forgotten are kept (a child that could not start has none).
    if (!handle) this.#waiting = [];
  }
}

/**
 * Why starting a child for `who` failed, and what to do, as a SpawnError. The system's own code
 * (`systemCode`) is kept when it says more than the file system can; ENOENT comes also for a
 * missing working directory, so that is looked up.
 */
export function startFailure(who: string, options: ChildOptions, systemCode?: string, cause?: unknown): SpawnError {
  const failure = { ...spawnFailure(process.execPath, who, options.cwd, options.env, false, systemCode), cmd: [process.execPath, ...options.execArgv, CHILD_MAIN] };
  const error = new SpawnError(failure, cause === undefined ? undefined : { cause });
  if (!failure.cwdExists || failure.code !== "UNKNOWN") return error;
  error.message = `Could not start a child process for ${who} (${process.execPath}); the system may be out of processes or memory`;
  return error;
}

/** The message of startFailure(), for callers that build their own error. */
export function startFailureMessage(who: string, options: ChildOptions, systemCode?: string): string {
  return startFailure(who, options, systemCode).message;
}

function envKey(env: NodeJS.ProcessEnv): string {
  let key = "";
  for (const name in env) key += `${name}=${env[name]}\0`;
  return key;
}

export function childKey(options: ChildOptions): string {
  return `${options.cwd}\0${options.execArgv.join("\0")}\0\0${envKey(options.env)}`;
}

const spares = new Set<ChildHandle>();

/** Start a child now. */
export function startChild(options: ChildOptions): ChildHandle {
  return new ChildHandle(options, childKey(options));
}

/** Take the spare if it was started with the same options and is still alive. */
export function takeSpare(options: ChildOptions): ChildHandle | undefined {
  const key = childKey(options);
  for (const spare of spares) {
    if (!spare.usable) {
      spares.delete(spare);
      if (spare.pid !== undefined) signalGroup(spare.pid, "SIGKILL");
      continue;
    }
    if (spare.key !== key) continue;
    spares.delete(spare);
    return spare;
  }
  return undefined;
}

/**
 * Boot a spare for these options (one at a time). With `after`, wait until it settles (or 50 ms):
 * starting a process costs the parent a few milliseconds of fork and setup, which should not
 * delay the result of the process that just took the previous spare.
 */
export function prepareSpare(options: ChildOptions, after?: Promise<unknown>): void {
  const key = childKey(options);
  for (const spare of spares) if (spare.key === key && spare.usable) return;
  if (after) {
    const timer = setTimeout(() => prepareSpare(options), 50);
    timer.unref();
    void after.then(
      () => (clearTimeout(timer), prepareSpare(options)),
      () => (clearTimeout(timer), prepareSpare(options)),
    );
    return;
  }
  const timer = setImmediate(() => {
    for (const spare of spares) if (spare.key === key && spare.usable) return;
    // One spare at a time: a spare for other options (another cwd, env or execArgv) goes.
    discardSpares();
    let spare: ChildHandle;
    try {
      spare = new ChildHandle(options, key);
    } catch {
      return;
    }
    spare.setRef(false);
    spare.child.once("exit", () => spares.delete(spare));
    spares.add(spare);
  });
  timer.unref();
}

/** Resolves once a spare for these options has booted (benchmarks wait on it). */
export async function spareBooted(options: ChildOptions): Promise<void> {
  const key = childKey(options);
  for (;;) {
    for (const spare of spares) {
      if (spare.key !== key || !spare.usable) continue;
      // A spare does not keep the loop alive; while someone waits for it, it must.
      spare.setRef(true);
      await spare.booted;
      if (spares.has(spare)) spare.setRef(false);
      return;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Stop every spare (start method changed, or the parent is exiting). */
export function discardSpares(): void {
  for (const spare of spares) {
    spare.channel.destroy();
    if (spare.pid !== undefined) signalGroup(spare.pid, "SIGKILL");
  }
  spares.clear();
}
