/**
 * `new Queue({ redis })` and `new Pool({ redis })` return objects of other classes (RedisQueue,
 * DistributedPool), yet a reader of Python's tutorial expects `q instanceof Queue` to hold. Those
 * objects carry this mark, which the local constructors' `instanceof` reads, so the check needs
 * neither the Redis classes nor their modules (BullMQ, ioredis) loaded.
 */
export const ON_REDIS = Symbol.for("forklab.onRedis");

export type OnRedisKind = "Queue" | "JoinableQueue" | "Pool";

/** What `value` is on Redis, if it is one of forklab's Redis queues or pools. */
export function onRedisKind(value: unknown): OnRedisKind | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  return (value as { [ON_REDIS]?: OnRedisKind })[ON_REDIS];
}

/** `instanceof`'s own answer, or true for a Redis object of a kind `kinds` lists, when tested against `exact` itself (not a subclass). */
export function isInstanceOrOnRedis(tested: Function, exact: Function, value: unknown, kinds: readonly OnRedisKind[]): boolean {
  if (Function.prototype[Symbol.hasInstance].call(tested, value)) return true;
  const kind = onRedisKind(value);
  return tested === exact && kind !== undefined && kinds.includes(kind);
}
