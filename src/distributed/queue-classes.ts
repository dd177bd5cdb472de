/**
 * Queue and JoinableQueue as the library exports them: the local classes (src/ipc/queue.ts), whose
 * constructors make the queue on Redis when given `{ redis, name }`. Typed here, so that
 * `new Queue<number>({ redis, name })` is a RedisQueue<number> and `new Queue<number>()` the local
 * one; a parameter typed `Queue<T>` takes either.
 */
import { JoinableQueue as LocalJoinableQueue, Queue as LocalQueue } from "../ipc/queue";
import type { RedisJoinableQueue, RedisQueue, RedisQueueOptions } from "./queue";

export const Queue = LocalQueue as { new <T = unknown>(options: RedisQueueOptions): RedisQueue<T> } & typeof LocalQueue;
export type Queue<T = unknown> = LocalQueue<T> | RedisQueue<T>;

export const JoinableQueue = LocalJoinableQueue as { new <T = unknown>(options: RedisQueueOptions): RedisJoinableQueue<T> } & typeof LocalJoinableQueue;
export type JoinableQueue<T = unknown> = LocalJoinableQueue<T> | RedisJoinableQueue<T>;
