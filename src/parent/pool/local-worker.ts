/**
 * A pool worker on a local child process: the child runtime (src/child/main.ts) in "worker" mode,
 * reached over its channel on fd 3. Implements `WorkerTransport` for the scheduler.
 */
import type { Duplex } from "node:stream";
import { findUncloneable, uncloneableMessage } from "../../protocol/clone";
import { fromErrorRecord } from "../../protocol/errors";
import type { Message, TasksMessage } from "../../protocol/messages";
import { compactTasks, eachAnswer, packTasks } from "../../protocol/pool-batches";
import { childState } from "../../protocol/messages";
import { toReturncode } from "../signals";
import { startChild, startFailure, type ChildHandle, type ChildOptions } from "../process/child-handle";
import { nextIdentity } from "../process/registry";
import type { WorkerEvents, WorkerInit, WorkerStarter, WorkerTransport } from "./transport";

/** The errors of a batch in which none threw: one shared, never written, array. */
const NO_ERRORS: [number, unknown][] = Object.freeze([]) as unknown as [number, unknown][];
/** Characters of a worker's stderr kept for the error that reports its death. */
const STDERR_KEPT = 8192;
/**
 * Batches packed into one message stop growing at this many items: a worker starts on a message
 * only once all of it has arrived, so map's big chunks travel one per record (the worker runs the
 * first while the others are still in the pipe), and tiny ones still share a record by the hundred.
 */
const PACK_ITEMS = 1024;
/** After exit, how long to wait for the pipes to close (a grandchild may hold them open). */
const PIPES_GRACE_MS = 500;

interface TaskCall {
  call: string;
  firstIndex: number;
}

/**
 * The error of a batch that cannot be sent: the first value in it that cannot cross, named as the
 * caller wrote it. An apply's is in its argument list (`args[1]`); a map's item, which the caller
 * never saw as an argument list, by its place in the call's input (`iterable[7] (task 7 of
 * Pool-1.map())`, a starmap's argument as `iterable[7][1]`), with that index as the error's `index`.
 */
function unsendable(message: TasksMessage, call: TaskCall | undefined, error: unknown): TypeError {
  for (let i = 0; i < message.items.length; i++) {
    const item = message.items[i];
    const found = call ? findUncloneable(item, `iterable[${call.firstIndex + i}]`) : findUncloneable(message.star ? item : [item], "args");
    if (!found) continue;
    if (!call) return new TypeError(uncloneableMessage(found, "to a pool worker"));
    const index = call.firstIndex + i;
    const named = { ...found, path: `${found.path} (task ${index} of ${call.call})` };
    return Object.assign(new TypeError(uncloneableMessage(named, "to a pool worker")), { index });
  }
  return new TypeError(`The task's arguments cannot be cloned: ${(error as Error).message}`);
}

class LocalWorker implements WorkerTransport {
  readonly #handle: ChildHandle;
  readonly #events: WorkerEvents;
  readonly #stream: Duplex;
  readonly #defined = new Set<number>();
  #stderr = "";
  /** Messages of this tick, sent as one record (one serialization for many tiny tasks). */
  #outbox: Message[] = [];
  #blocked = false;
  #ended = false;
  /** Why a record from the worker could not be read, once one could not. */
  #fault: string | undefined;
  /** The map-like call of a batch's message, kept beside it (the record sent has no room for it): for naming what cannot be sent. */
  readonly #calls = new WeakMap<TasksMessage, TaskCall>();

  constructor(init: WorkerInit, events: WorkerEvents, options: ChildOptions) {
    this.#events = events;
    const who = `${init.poolName} worker ${init.workerIndex}`;
    let handle: ChildHandle;
    try {
      handle = startChild(options);
    } catch (error) {
      // Node throws at once for some refusals (ENOTDIR, E2BIG, ...), and reports others later.
      const code = (error as NodeJS.ErrnoException).code;
      throw code === undefined ? error : startFailure(who, options, code, error);
    }
    if (handle.pid === undefined) throw startFailure(who, options);
    this.#handle = handle;
    this.#stream = handle.child.stdio[3] as unknown as Duplex;
    const child = handle.child;
    const identity = nextIdentity();
    handle.channel.send({
      t: "init",
      proc: {
        name: `SpawnPoolWorker-${identity.at(-1)}`,
        daemon: true,
        identity,
        parentPid: process.pid,
        parentName: childState()?.proc.name ?? "MainProcess",
        mode: "worker",
      },
    });
    handle.channel.send({ t: "setup", initializer: init.initializer, initargs: init.initargs });
    // Bytes on the pipes were written behind Node's back (see src/child/worker.ts): their task is
    // whichever runs now, which the scheduler knows.
    child.stdout!.setEncoding("utf8").on("data", (text: string) => events.output(undefined, 0, "stdout", text));
    child.stderr!.setEncoding("utf8").on("data", (text: string) => {
      this.#keepStderr(text);
      events.output(undefined, 0, "stderr", text);
    });
    this.#stream.on("drain", () => {
      if (!this.#blocked) return;
      this.#blocked = false;
      events.drain();
    });
    child.once("exit", (code, signal) => {
      const timer = setTimeout(() => this.#end(code, signal), PIPES_GRACE_MS);
      timer.unref();
      child.once("close", () => (clearTimeout(timer), this.#end(code, signal)));
    });
    // A record that cannot be read may have been an answer: nothing after it is trusted, the worker
    // is ended, and its exit says why (the scheduler then fails every task it held).
    handle.onChannelFault = (fault) => {
      if (this.#fault !== undefined) return;
      this.#fault = fault;
      this.kill();
    };
    handle.listen((message) => {
      if (this.#fault === undefined) this.#receive(message);
    });
  }

  get pid(): number | undefined {
    return this.#handle.pid;
  }

  send(batch: Parameters<WorkerTransport["send"]>[0]): boolean {
    if (!this.#defined.has(batch.fid)) {
      this.#post({ t: "def", fid: batch.fid, target: batch.target });
      this.#defined.add(batch.fid);
    }
    const message: TasksMessage = { t: "tasks", id: batch.id, fid: batch.fid, items: batch.items, star: batch.star };
    if (batch.call !== undefined) this.#calls.set(message, { call: batch.call, firstIndex: batch.firstIndex });
    this.#post(message);
    // What earlier ticks wrote is still in the socket's buffer: past its mark, wait for "drain".
    if (this.#stream.writableNeedDrain) this.#blocked = true;
    return !this.#blocked;
  }

  close(): void {
    this.#post({ t: "close" });
  }

  #post(message: Message): void {
    if (this.#outbox.push(message) === 1) queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    const messages = this.#outbox;
    this.#outbox = [];
    // Neighbouring batches for one target travel as one packed `tasks` record, of PACK_ITEMS items
    // at most (a bigger batch goes alone); all records of the tick still share one write.
    let run: TasksMessage[] = [];
    let items = 0;
    const close = () => {
      if (run.length === 1) this.#sendOne(run[0]!);
      else if (run.length > 1) this.#sendPacked(run);
      run = [];
      items = 0;
    };
    for (const message of messages) {
      if (message.t !== "tasks") {
        close();
        this.#sendOne(message);
        continue;
      }
      const first = run[0];
      if (first && (first.fid !== message.fid || first.star !== message.star || items + message.items.length > PACK_ITEMS)) close();
      run.push(message);
      items += message.items.length;
    }
    close();
  }

  #sendPacked(run: TasksMessage[]): void {
    try {
      this.#handle.channel.send(compactTasks(packTasks(run)));
    } catch {
      // Some payload holds handles, or cannot cross at all: one by one, so that only its task fails.
      for (const message of run) this.#sendOne(message);
    }
  }

  #sendOne(message: Message): void {
    try {
      this.#handle.channel.send(message.t === "tasks" ? compactTasks(message) : message);
    } catch (error) {
      if (message.t !== "tasks") throw error;
      const failure = unsendable(message, this.#calls.get(message), error);
      this.#events.done(message.id, { values: [], errors: message.items.map((_, i) => [i, failure]) });
    }
  }

  kill(): void {
    if (this.#handle.usable) this.#handle.child.kill("SIGKILL");
  }

  /** Whether this worker keeps the parent's event loop alive (a pool with work to do does). */
  setRef(ref: boolean): void {
    this.#handle.setRef(ref);
  }

  #receive(message: Message): void {
    switch (message.t) {
      case "up":
        this.#events.ready(message.error ? fromErrorRecord(message.error) : undefined);
        return;
      case "done":
        eachAnswer(message, (id, values, errors, startedAt, endedAt) =>
          this.#events.done(id, {
            values,
            errors: errors ? errors.map(([position, record]) => [position, fromErrorRecord(record)]) : NO_ERRORS,
            startedAt: startedAt || undefined,
            endedAt: endedAt || undefined,
          }),
        );
        return;
      case "out":
        this.#events.output(message.id || undefined, message.i, message.s, message.text);
        if (message.s === "stderr") this.#keepStderr(message.text);
        return;
      default:
        return;
    }
  }

  #keepStderr(text: string): void {
    this.#stderr = (this.#stderr + text).slice(-STDERR_KEPT);
  }

  #end(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#handle.channel.destroy();
    this.#events.exit({
      pid: this.pid,
      exitCode: code === null && signal === null ? null : toReturncode(code, signal),
      signal,
      stderrTail: this.#stderr,
      ...(this.#fault === undefined ? {} : { channelFault: this.#fault }),
    });
  }
}

/** Workers as child processes of this one, started with `options`. */
export function localWorkers(options: ChildOptions): WorkerStarter {
  return (init, events) => new LocalWorker(init, events, options);
}
