/**
 * A queue on Redis that a remote caller passed in a task's arguments (see
 * src/parent/distributed/remote-args.ts) arrives here as a marker naming it by URL and name. The
 * worker does not open it itself: it becomes a handle for the task's child process, which opens
 * the queue with this host's copy of forklab, exactly as a local child receives a parent's queue.
 */
import { REDIS_QUEUE_HANDLE, REMOTE_QUEUE_HANDLE } from "../distributed/tasks";
import { makeHandleable, registerHandleKind, reviveHandles } from "../protocol/handles";

/** This host's module that opens a queue on Redis in a child (resolved, not loaded here). */
const QUEUE_MODULE = require.resolve("../distributed/queue");

registerHandleKind(REMOTE_QUEUE_HANDLE, (state) => {
  const { options, joinable } = state as { options: unknown; joinable: boolean };
  const forChild = {};
  makeHandleable(forChild, () => ({ kind: REDIS_QUEUE_HANDLE, module: QUEUE_MODULE, state: { options, kind: joinable ? "JoinableQueue" : "Queue" } }));
  return forChild;
});

/** A task's decoded arguments with their queue markers made into handles for the child. */
export function withQueuesForChild<T>(args: T): T {
  return reviveHandles(args) as T;
}
