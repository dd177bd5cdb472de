/**
 * The child runtime: started by path (`node dist/src/child/main.js`) with the channel on fd 3.
 *
 * It announces itself (`ready`), learns who it is (`init`), then runs tasks (`run`) and answers
 * each with `result` or `error` carrying the task's id. In "process" mode it runs one task and then
 * lets the process end as Node does (when nothing is left to do); in "worker" mode it takes tasks
 * until `close`. It ends as soon as the parent's channel closes, and a watchdog thread catches a
 * parent that died while this thread was busy.
 *
 * Never imports the parent side or the renderers: only the protocol.
 */
import { writeSync } from "node:fs";
import { Socket } from "node:net";
import type { Worker } from "node:worker_threads";
import { Channel } from "../protocol/channel";
import { CHANNEL_LOST_EXIT_CODE, CHANNEL_LOST_MARKER } from "../protocol/ended";
import { RecordError } from "../protocol/framing";
import { ClassInstanceError, findUncloneable, uncloneableMessage } from "../protocol/clone";
import { describeThrown, isError, safeGet, toErrorRecord } from "../protocol/errors";
import type { HandleContext } from "../protocol/handles";
import { setChildState, type ChildIdentity, type Message, type RunMessage, type TargetSpec } from "../protocol/messages";
import { loadTarget } from "./targets";
import { WorkerLoop } from "./worker";

type AnyFunction = (...args: unknown[]) => unknown;

const parentPid = process.ppid;
// First, so that its thread boots while this one loads and waits for the first task.
const watchdog: Worker | undefined =
  process.env.FORKLAB_NO_WATCHDOG === "1" ? undefined : (require("./watchdog") as typeof import("./watchdog")).startWatchdog(parentPid);
const socket = new Socket({ fd: 3, readable: true, writable: true });
const portListeners = new Map<number, Set<(data: unknown) => void>>();
const defined = new Map<number, TargetSpec>();
const loaded = new Map<number, AnyFunction>();
let identity: ChildIdentity | undefined;
let running = 0;
let closing = false;
/** In "worker" mode (a pool's worker), the loop that runs its batches. */
let worker: WorkerLoop | undefined;

const handleContext: HandleContext = {
  side: "child",
  peerPid: parentPid,
  sendPort: (port, data) => channel.send({ t: "port", port, data }),
  onPort: (port, listener) => {
    let set = portListeners.get(port);
    if (!set) portListeners.set(port, (set = new Set()));
    set.add(listener);
    return () => set!.delete(listener);
  },
};

const channel = new Channel(socket, {
  onMessage,
  onClose: parentGone,
  // A task whose arguments could not be revived fails with that error, as if its target threw it.
  onError: (error, message, during) => {
    if (during !== "revive" || !message) throw error;
    if (message.t === "run") void runTask(message, { error });
    else if (message.t === "tasks") channel.send({ t: "done", id: message.id, values: [], errors: message.items.map((_, i) => [i, errorRecord(error)]), at: [0, 0] });
    else throw error;
  },
  handleContext,
});

function parentGone(error?: Error): void {
  if (parentAlive()) {
    // The parent lives, so the target broke fd 3 (closed it, or replaced it): say so, in words the
    // parent recognises (ended.ts), rather than ending as if the target had called process.exit().
    const why = error ? ` (${error.message})` : "";
    const text = `${CHANNEL_LOST_MARKER} while the parent still runs${why}: fd 3 belongs to forklab, and a target must not close, write or read it\n`;
    try {
      writeSync(2, text);
    } catch {
      // stderr is gone too: the exit code still says it
    }
    // Straight out: fd 3 may now be another file (its number reused), and the usual exit would close
    // the socket's handle on it, which aborts.
    (process as unknown as { reallyExit(code: number): never }).reallyExit(CHANNEL_LOST_EXIT_CODE);
  }
  // The parent died or dropped us: a child never outlives its parent.
  process.exit(process.exitCode === undefined || process.exitCode === 0 ? 0 : Number(process.exitCode));
}

function parentAlive(): boolean {
  if (process.ppid !== parentPid) return false;
  try {
    process.kill(parentPid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function onMessage(message: Message): void {
  switch (message.t) {
    case "init": {
      identity = message.proc;
      setChildState({ proc: identity });
      if (identity.mode === "process") process.title = `node ${identity.name}`;
      else worker = new WorkerLoop({ send: (m) => channel.send(m), resolve, errorRecord, finish, flush: () => channel.flush() });
      return;
    }
    case "setup":
      worker?.setup(message);
      return;
    case "tasks":
      worker?.enqueue(message);
      return;
    case "def":
      defined.set(message.fid, message.target);
      return;
    case "run":
      void runTask(message);
      return;
    case "port":
      for (const listener of portListeners.get(message.port) ?? []) listener(message.data);
      return;
    case "close":
      if (worker) return worker.close();
      closing = true;
      if (running === 0) finish();
      return;
    default:
      return;
  }
}

function resolve(target: TargetSpec | number): AnyFunction {
  if (typeof target !== "number") return loadTarget(target);
  let fn = loaded.get(target);
  if (!fn) {
    const spec = defined.get(target);
    if (!spec) throw new Error(`Task names target #${target}, which was never defined in this child`);
    loaded.set(target, (fn = loadTarget(spec)));
  }
  return fn;
}

async function runTask(message: RunMessage, failed?: { error: unknown }): Promise<void> {
  running++;
  const { id } = message;
  try {
    if (failed) throw failed.error;
    const fn = resolve(message.target);
    const value = await fn(...message.args);
    sendResult(id, value);
  } catch (error) {
    reportError(id, error);
  } finally {
    running--;
    if (identity?.mode !== "worker" || (closing && running === 0)) finish();
  }
}

function sendResult(id: number, value: unknown): void {
  try {
    channel.send({ t: "result", id, value });
  } catch (failure) {
    // Over the size cap: that error says so. Otherwise name what in the value cannot be cloned.
    if (failure instanceof RecordError || failure instanceof ClassInstanceError) return reportError(id, failure);
    const found = findUncloneable(value, "result");
    const error = new TypeError(
      found ? uncloneableMessage(found, "back to the parent") : "The return value could not be sent back to the parent",
    );
    reportError(id, error);
  }
}

const RUNTIME_FRAME = new RegExp(
  `\\(${escapeRegExp(require("node:path").join(__dirname, ".."))}|\\(node:internal|\\(node:events|^\\s+at (async )?runTask `,
);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Lines before the target's source in the function evaluateSource builds: its header (two lines,
 * `function anonymous(...`), "use strict" and `return (`.
 */
const LINES_BEFORE_TARGET = 4;

/**
 * Drop the runtime's own frames and name the target's source frames `<target>`, with the line
 * and column in the target function's own text (what the parent can find in its source).
 */
function cleanStack(stack: string): string {
  return stack
    .split("\n")
    .map((line) =>
      line.replace(/eval at evaluateSource \([^)]*\), <anonymous>:(\d+):(\d+)/, (_m, l: string, c: string) => `<target>:${Number(l) - LINES_BEFORE_TARGET}:${c}`),
    )
    .filter((line) => !(/^\s+at /.test(line) && RUNTIME_FRAME.test(line)))
    .join("\n");
}

/** Causes whose stacks are cleaned, as many as toErrorRecord sends (past that, a loop of rethrows). */
const MAX_CAUSES = 8;

function errorRecord(error: unknown): ReturnType<typeof toErrorRecord> {
  // The error's own stack and those of its causes (an error thrown with `{ cause }` in the target
  // has the target's frames too); each once, for a chain of causes may go round.
  const seen = new Set<unknown>();
  for (let at = error; isError(at) && !seen.has(at) && seen.size <= MAX_CAUSES; at = safeGet(at, "cause", undefined)) {
    seen.add(at);
    try {
      if (typeof at.stack === "string") at.stack = cleanStack(at.stack);
    } catch {
      // a frozen error, or one whose stack getter throws, keeps its stack; its causes are cleaned
    }
  }
  return toErrorRecord(error, process.pid);
}

function reportError(id: number, error: unknown): void {
  const record = errorRecord(error);
  // As Python does, the child prints its traceback before it ends with exit code 1.
  if (identity?.mode !== "worker") {
    process.exitCode = 1;
    process.stderr.write(`Process ${identity?.name ?? process.pid}:\n${describeThrown(error)}\n`);
  }
  channel.send({ t: "error", id, error: record });
}

function finish(): void {
  // Let the process end when the target's own work is done, as Node would; the parent's channel
  // no longer keeps it alive, but its closing still ends the child.
  channel.flush(() => {
    channel.unref();
    watchdog?.unref();
  });
}

// "ready" once the watchdog thread runs too: a spare that says ready is idle.
if (watchdog) watchdog.once("online", () => channel.send({ t: "ready", pid: process.pid }));
else channel.send({ t: "ready", pid: process.pid });
