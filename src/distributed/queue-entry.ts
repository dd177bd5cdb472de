/**
 * The way in from the local queue constructors: `new Queue({ redis, name })` and
 * `new JoinableQueue({ redis, name })` make the queue on Redis. The Redis client is loaded only
 * then, so a process that never asks for Redis never loads it.
 */
import { loadAfresh } from "../protocol/lazy-require";
import type { RedisQueueOptions } from "./queue";

/** The queue on Redis when `arg` asks for one (`{ redis, ... }`), otherwise undefined. */
export function redisQueueFor(kind: "Queue" | "JoinableQueue", arg: unknown): object | undefined {
  if (typeof arg !== "object" || arg === null || !("redis" in arg)) return undefined;
  const { RedisQueue, RedisJoinableQueue } = loadAfresh(() => require("./queue") as typeof import("./queue"));
  return kind === "JoinableQueue" ? new RedisJoinableQueue(arg as RedisQueueOptions) : new RedisQueue(arg as RedisQueueOptions);
}
