/**
 * `new Pool({ redis, queue })`: the same class name, with tasks run by `forklab worker`s through
 * Redis (a DistributedPool); any other arguments make the local Pool. A Proxy keeps `instanceof
 * Pool`, the static members and the local Pool's type as they are.
 */
import { DistributedPool, type DistributedPoolOptions } from "../distributed/pool";
import { Pool as LocalPool } from "./pool";

function isRedisOptions(value: unknown): value is DistributedPoolOptions {
  return typeof value === "object" && value !== null && "redis" in value;
}

export const Pool = new Proxy(LocalPool, {
  construct(target, args, newTarget) {
    if (isRedisOptions(args[0])) return new DistributedPool(args[0]);
    return Reflect.construct(target, args, newTarget) as object;
  },
}) as typeof LocalPool & { new (options: DistributedPoolOptions): DistributedPool };
export type Pool = LocalPool;
