/**
 * A queue on Redis that a remote caller passed in a task's arguments (see
 * src/parent/distributed/remote-args.ts) arrives here as a marker naming it by URL and name. The
 * worker does not open it itself: it becomes a handle for the task's child process, which opens
 * the queue with this host's copy of forklab, exactly as a local child receives a parent's queue.
 * A queue on the pool's own Redis is opened with this worker's --redis address and options: the
 * caller's URL for it (say redis://127.0.0.1) names the server as the caller reaches it.
 */
import { REDIS_QUEUE_HANDLE, REMOTE_QUEUE_HANDLE } from "../distributed/tasks";
import type { RedisConnectionOptions } from "../distributed/connection";
import { makeHandleable, registerHandleKind, reviveHandles } from "../protocol/handles";

/** This host's module that opens a queue on Redis in a child (resolved, not loaded here). */
const QUEUE_MODULE = require.resolve("../distributed/queue");

/** This worker's own way to its Redis, for the queues on the pool's Redis. */
let ownRedis: { redis: string; redisOptions?: RedisConnectionOptions } | undefined;

export function useWorkerRedis(redis: string, redisOptions: RedisConnectionOptions): void {
  ownRedis = { redis, ...(Object.keys(redisOptions).length ? { redisOptions } : {}) };
}

registerHandleKind(REMOTE_QUEUE_HANDLE, (state) => {
  const { options: theirs, joinable, poolsRedis } = state as { options: Record<string, unknown>; joinable: boolean; poolsRedis?: boolean };
  let options: Record<string, unknown> = theirs;
  if (poolsRedis && ownRedis) {
    const { redis: _, redisOptions: __, ...rest } = theirs;
    options = { ...rest, ...ownRedis };
  }
  const forChild = {};
  makeHandleable(forChild, () => ({ kind: REDIS_QUEUE_HANDLE, module: QUEUE_MODULE, state: { options, kind: joinable ? "JoinableQueue" : "Queue" } }));
  return forChild;
});

/** A task's decoded arguments with their queue markers made into handles for the child. */
export function withQueuesForChild<T>(args: T): T {
  return reviveHandles(args) as T;
}
