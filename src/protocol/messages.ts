/**
 * The messages that travel between a parent and its child over the channel (fd 3), shared by both
 * sides. One child runtime serves both a single `Process` (one task, then exit) and a pool worker
 * (task after task): every unit of work is a task with an id, so a parent always knows which tasks
 * a child holds and can reject exactly those when the child dies.
 *
 * Wire format: see `framing.ts`. Messages are plain data (structured clone); a field `h: 1` says
 * the payload contains handle markers (see `handles.ts`) that the receiver must revive.
 */
import type { NumberColumn } from "./number-column";

/** What a child runs: a function sent as source, or an export of a module loaded by path. */
export type TargetSpec =
  | { kind: "source"; source: string; name: string }
  | { kind: "module"; path: string; export: string; specifier: string };

/** Who the child is; sent once, first. Mirrors Python's process name, daemon flag and identity. */
export interface ChildIdentity {
  name: string;
  daemon: boolean;
  /** Python's `_identity`: [1] for the first child of the main process, [1, 2] for its second child. */
  identity: number[];
  parentPid: number;
  parentName: string;
  /** "process": run one task, then let the child end. "worker": take tasks until `close`. */
  mode: "process" | "worker";
}

/** Parent -> child: who you are. */
export interface InitMessage { t: "init"; proc: ChildIdentity }
/** Parent -> child: remember a target under a number, so tasks can name it cheaply (pools). */
export interface DefineMessage { t: "def"; fid: number; target: TargetSpec }
/** Parent -> child: run a target with arguments; the answer carries the same id. */
export interface RunMessage { t: "run"; id: number; target: TargetSpec | number; args: unknown[]; h?: 1 }
/**
 * Parent -> pool worker: a batch of tasks for target `fid` (defined earlier by `def`), run one
 * after the other: `fn(...item)` when `star`, else `fn(item)` (Python's `mapstar`/`starmapstar`).
 * Several batches of one tick for the same target travel as one message (`packTasks`): `ids`
 * lists them (`id` is the first), `ends[k]` is where batch k's items end (omitted: one item each).
 * With `nums` (number-column.ts), `items` is empty and task i is `fn(nums[i])`: the items were all
 * numbers, or, with `star`, all argument lists of one number.
 */
export interface TasksMessage { t: "tasks"; id: number; fid: number; items: unknown[]; star: boolean; h?: 1; ids?: number[] | NumberColumn; ends?: number[] | NumberColumn; nums?: NumberColumn }
/** Parent -> pool worker, once after `init`: run `initializer(...initargs)` before the first task. */
export interface SetupMessage { t: "setup"; initializer?: TargetSpec; initargs: unknown[]; h?: 1 }
/** Parent -> child: no more tasks will come; finish the ones held, then end. */
export interface CloseMessage { t: "close" }
/** Either side: data for a handle's port (queues, pipes): routed by number to whoever owns it. */
export interface PortMessage { t: "port"; port: number; data: unknown; h?: 1 }
/** Either side: several messages serialized as one record (chunks of tiny tasks or results). */
export interface BatchMessage { t: "batch"; msgs: Message[] }

/** Child -> parent: the runtime is up and listening (sent before any task runs). */
export interface ReadyMessage { t: "ready"; pid: number }
/** Child -> parent: a task's return value. */
export interface ResultMessage { t: "result"; id: number; value: unknown; h?: 1 }
/** Child -> parent: a task threw (or its promise rejected). */
export interface ErrorMessage { t: "error"; id: number; error: ErrorRecord }
/** Pool worker -> parent: `setup` ran (with `error` if the initializer threw; the worker then ends). */
export interface SetUpMessage { t: "up"; error?: ErrorRecord }
/**
 * Pool worker -> parent: the answer to a `tasks` batch: a value per task (by position), the
 * errors of those that threw, and when the batch started and ended (ms since the epoch). The
 * answers of one turn travel as one message, packed as `TasksMessage` packs batches: `ids`, `ends`,
 * error positions counted across all of them, and `at` a start and end per batch. With `nums`,
 * `values` is empty and the values, all numbers, are the column's.
 */
export interface DoneMessage {
  t: "done"; id: number; values: unknown[]; errors?: [number, ErrorRecord][]; at: number[] | NumberColumn; h?: 1;
  ids?: number[] | NumberColumn; ends?: number[] | NumberColumn; nums?: NumberColumn;
}
/** Pool worker -> parent: text a task printed (batch `id`, task `i` in it; id 0 outside any task). */
export interface OutputMessage { t: "out"; id: number; i: number; s: "stdout" | "stderr"; text: string }

export type ParentMessage =
  | InitMessage | DefineMessage | RunMessage | TasksMessage | SetupMessage | CloseMessage | PortMessage | BatchMessage;
export type ChildMessage =
  | ReadyMessage | ResultMessage | ErrorMessage | SetUpMessage | DoneMessage | OutputMessage | PortMessage | BatchMessage;
export type Message = ParentMessage | ChildMessage;

/**
 * An error as it crosses: enough to rebuild one with the same name, message and own properties,
 * plus the child's stack and pid. A thrown non-Error crosses as `thrown`.
 */
export interface ErrorRecord {
  name: string;
  message: string;
  stack?: string;
  /** Own enumerable properties that could be cloned; others are described as strings. */
  props: Record<string, unknown>;
  cause?: ErrorRecord | { thrown: unknown };
  pid: number;
  /** The name a forklab error class was registered under (see registerErrorClass): rebuilt as it. */
  errorClass?: string;
  /** Set when a non-Error value was thrown: the value itself (if it could be cloned). */
  thrown?: unknown;
  isError: boolean;
}

/**
 * Set on `globalThis` by the child runtime, so that library code loaded in a child (a target that
 * calls `currentProcess()` or starts its own children) knows who it is without importing the child.
 */
export const CHILD_STATE = Symbol.for("forklab.child");

export interface ChildState {
  proc: ChildIdentity;
}

/** Who this process is when it is a child; undefined in the main process. */
export function childState(): ChildState | undefined {
  return (globalThis as { [CHILD_STATE]?: ChildState })[CHILD_STATE];
}

/** Set by the child runtime once it knows who it is. */
export function setChildState(state: ChildState): void {
  (globalThis as { [CHILD_STATE]?: ChildState })[CHILD_STATE] = state;
}
