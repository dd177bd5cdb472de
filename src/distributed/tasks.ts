/**
 * What a task looks like in Redis, shared by the distributed Pool (which adds jobs) and
 * `forklab worker` (which runs them). Arguments and results cross as V8's structured-clone bytes
 * (base64 in the job's JSON), so Map, Set, Date, BigInt, typed arrays and errors arrive as they do
 * between a parent and its local child; the worker's Node must read what the caller's Node wrote
 * (same or newer major version).
 */
import { deserialize, serialize } from "node:v8";
import type { ErrorRecord } from "../protocol/messages";

/** A target as it travels to another host: a module named relative to the worker's --root, or source. */
export type RemoteTarget =
  | { kind: "module"; module: string; export: string }
  | { kind: "source"; source: string; name: string };

/** A job's data: one chunk of calls to one target. */
export interface TaskData {
  /** The pool that added it (its results go to that pool's caller). */
  pool: string;
  target: RemoteTarget;
  /** base64 of the serialized argument tuples, one per call in the chunk. */
  args: string;
  /** How many calls the chunk holds. */
  calls: number;
  /** Retry a task whose target threw (by default only crashes and dead workers are retried). */
  retryErrors?: boolean;
  /** The arguments hold queues on Redis, as markers that the task's child opens by URL and name. */
  queues?: boolean;
}

/** A job's return value. */
export interface TaskResult {
  /** base64 of the serialized results, in the order of the chunk's calls. */
  values: string;
  /** The worker that ran it: "host:pid". */
  worker: string;
  /** The pid of the forklab child process that ran it on that host. */
  child: number;
}

/** What a worker reports when it starts a task (the job's progress). */
export interface TaskStart {
  worker: string;
  child: number;
  attempt: number;
}

/**
 * What a worker reports when an attempt it ran failed (the job's progress again), before the task
 * goes back to the queue or fails for good: the queue's events do not tell a retry from a task
 * handed back by a stopping worker (both are "waiting", from "active").
 */
export interface TaskStopped {
  worker: string;
  attempt: number;
  failed: AttemptFailure["kind"];
}

/** A failed attempt, as the worker writes it into the job's log. */
export interface AttemptFailure {
  worker: string;
  attempt: number;
  /** "error": the target threw; "crash": its child process died; "refused": the worker would not run it. */
  kind: "error" | "crash" | "refused";
  error: ErrorRecord;
}

/** How a queue on Redis is passed to a child process (a handle; see src/protocol/handles.ts). */
export const REDIS_QUEUE_HANDLE = "forklab.redis-queue";
/** How one travels in a remote task's arguments: by URL and name, to be opened on the worker's host. */
export const REMOTE_QUEUE_HANDLE = "forklab.remote-redis-queue";

export const FAILURE_LOG_PREFIX = "forklab-failure ";
export const START_LOG_PREFIX = "forklab-start ";

export function encodeValue(value: unknown): string {
  return serialize(value).toString("base64");
}

export function decodeValue(text: string): unknown {
  return deserialize(Buffer.from(text, "base64"));
}

/** BullMQ job names: a label for dashboards; the pool and worker read only the data. */
export function jobName(target: RemoteTarget): string {
  return target.kind === "module" ? `${target.module}#${target.export}` : target.name || "(anonymous)";
}

/** The Redis key where workers of a queue say who they are (a hash: "host:pid" -> WorkerInfo JSON). */
export function workersKey(queue: string): string {
  return `forklab:${queue}:workers`;
}

/**
 * The Redis channel where a terminated pool says its id: every worker of the queue ends the tasks
 * of that pool it is running, and refuses those it takes later.
 */
export function cancelChannel(queue: string): string {
  return `forklab:${queue}:cancel`;
}

/**
 * The Redis key where terminated pools stay listed (a sorted set: pool id by when, in epoch ms),
 * for the workers that were not listening on the cancel channel when it was said: one that started
 * later, or was reconnecting. Kept for as long as a pool's failed tasks are (a day).
 */
export function terminatedKey(queue: string): string {
  return `forklab:${queue}:terminated`;
}

/** How long a terminated pool stays listed, and remembered by workers. */
export const TERMINATED_KEPT_MS = 24 * 3600 * 1000;

export interface WorkerInfo {
  host: string;
  pid: number;
  concurrency: number;
  acceptSource: boolean;
  /** Epoch ms when it started, and when it last said it was alive. */
  started: number;
  seen: number;
  /** Milliseconds between its beats (each renews `seen`): a reader calls it gone after a few missed. */
  every?: number;
  running: number;
  done: number;
  failed: number;
}
