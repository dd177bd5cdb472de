/**
 * One of a worker host's task slots: a long-lived forklab child process in worker mode (the same
 * child runtime a local Pool uses) that runs chunk after chunk. A child that dies takes down the
 * chunk it held, not the worker: the chunk fails as a crash (BullMQ retries it) and the next chunk
 * gets a fresh child.
 */
import { ChildHandle, startChild, type ChildOptions } from "../parent/process/child-handle";
import { signalGroup } from "../parent/signals";
import type { ErrorRecord, Message, TargetSpec } from "../protocol/messages";

/** How long a stopping slot's child may take to end by itself before it is killed. */
const STOP_GRACE_MS = 2000;

/** The child process that ran a chunk died before answering. */
export class ChildCrashError extends Error {
  override name = "ChildCrashError";
  readonly pid: number | undefined;
  constructor(pid: number | undefined, code: number | null, signal: NodeJS.Signals | null) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    super(`The child process ${pid ?? "(not started)"} that ran this task ${how} before the task finished`);
    this.pid = pid;
  }
}

interface Call {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class Slot {
  readonly #options: ChildOptions;
  readonly #index: number;
  #handle: ChildHandle | undefined;
  /** The child that stop() was asked to end, until it has. */
  #stopping: ChildHandle | undefined;
  /** The child that holds the running chunk's calls. */
  #busy: ChildHandle | undefined;
  #defined = new Map<string, number>();
  #calls = new Map<number, Call>();
  #nextId = 1;
  #nextFid = 1;

  constructor(options: ChildOptions, index: number) {
    this.#options = options;
    this.#index = index;
  }

  /** The pid of the current child (starting one if needed). */
  get pid(): number | undefined {
    return this.#ensure().pid;
  }

  #ensure(): ChildHandle {
    if (this.#handle?.usable) return this.#handle;
    const handle = startChild(this.#options);
    this.#handle = handle;
    this.#defined = new Map();
    handle.child.stdout!.on("data", (chunk: Buffer) => process.stdout.write(chunk));
    handle.child.stderr!.on("data", (chunk: Buffer) => process.stderr.write(chunk));
    handle.child.once("exit", (code, signal) => {
      const calls = this.#calls;
      this.#calls = new Map();
      if (this.#handle === handle) this.#handle = undefined;
      for (const call of calls.values()) call.reject(new ChildCrashError(handle.pid, code, signal));
    });
    handle.listen((message) => this.#onMessage(message));
    handle.channel.send({
      t: "init",
      proc: {
        name: `ForkWorker-${this.#index}`,
        daemon: true,
        identity: [this.#index],
        parentPid: process.pid,
        parentName: "forklab worker",
        mode: "worker",
      },
    });
    return handle;
  }

  #onMessage(message: Message): void {
    if (message.t === "batch") {
      for (const inner of message.msgs) this.#onMessage(inner);
      return;
    }
    if (message.t !== "result" && message.t !== "error") return;
    const call = this.#calls.get(message.id);
    if (!call) return;
    this.#calls.delete(message.id);
    if (message.t === "result") call.resolve(message.value);
    else call.reject(new TargetFailure(message.error));
  }

  /**
   * Run `target` once per argument tuple; resolves with the results in order, rejects on the first
   * failure. `cancel` ends the chunk: aborted before the chunk reaches a child, it never starts (a
   * cancel that arrives while the slot's child is still starting must not be lost); aborted while it
   * runs, the child that holds it is SIGKILLed with its process group, so what the task started ends
   * with it. Its calls fail as a crash; the next chunk gets a fresh child.
   */
  async run(target: TargetSpec, argsList: unknown[][], cancel?: AbortSignal): Promise<unknown[]> {
    cancel?.throwIfAborted();
    const handle = this.#ensure();
    const key = JSON.stringify(target);
    let fid = this.#defined.get(key);
    if (fid === undefined) {
      fid = this.#nextFid++;
      this.#defined.set(key, fid);
      handle.channel.send({ t: "def", fid, target });
    }
    const results = argsList.map((args) => {
      const id = this.#nextId++;
      const promise = new Promise<unknown>((resolve, reject) => this.#calls.set(id, { resolve, reject }));
      handle.channel.send({ t: "run", id, target: fid!, args });
      return promise;
    });
    const kill = (): void => {
      if (handle.pid !== undefined) signalGroup(handle.pid, "SIGKILL");
    };
    cancel?.addEventListener("abort", kill, { once: true });
    this.#busy = handle;
    try {
      return await Promise.all(results);
    } finally {
      cancel?.removeEventListener("abort", kill);
      this.#busy = undefined;
    }
  }

  /** The pid of the child running a chunk now, if one is (never starts a child). */
  get busyPid(): number | undefined {
    return this.#busy?.pid;
  }

  /**
   * Stop the child: gracefully (`close`: it ends once what the tasks left behind is done, or
   * after STOP_GRACE_MS, since a timer a task left running would keep it for ever) or at once;
   * either way with its process group, as what the tasks started must not outlive the worker.
   */
  stop(now: boolean): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    if (!handle || !handle.usable) return Promise.resolve();
    this.#stopping = handle;
    const exited = new Promise<void>((resolve) => handle.child.once("exit", () => resolve()));
    if (now) this.kill();
    else {
      handle.channel.send({ t: "close" });
      const timer = setTimeout(() => this.kill(), STOP_GRACE_MS);
      void exited.then(() => clearTimeout(timer));
    }
    return exited;
  }

  /** SIGKILL the child (and its process group), the one running or the one being stopped. */
  kill(): void {
    for (const handle of [this.#handle, this.#stopping]) {
      if (handle?.pid !== undefined && handle.child.exitCode === null && handle.child.signalCode === null) signalGroup(handle.pid, "SIGKILL");
    }
  }
}

/** The target threw in the child: its error record travels on unchanged to the caller. */
export class TargetFailure {
  constructor(readonly record: ErrorRecord) {}
}
