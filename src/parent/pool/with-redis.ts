/**
 * `new Pool({ redis, queue })`: the same class name, with tasks run by `forklab worker`s through
 * Redis (a DistributedPool); any other arguments make the local Pool. A subclass whose constructor
 * makes the choice: `new Pool(2)` is the local Pool (an instance of both), and the local Pool's
 * code is not touched. The export below only adds the Redis form to the constructor's type.
 * The distributed Pool (and with it BullMQ and ioredis) is loaded only when `{ redis }` asks for it.
 */
import type { DistributedPool, DistributedPoolOptions } from "../distributed/pool";
import { isInstanceOrOnRedis } from "../../distributed/on-redis";
import { loadAfresh } from "../../protocol/lazy-require";
import { Pool as LocalPool, type PoolOptions } from "./pool";

function isRedisOptions(value: unknown): value is DistributedPoolOptions {
  return typeof value === "object" && value !== null && "redis" in value;
}

class PoolOnAnyTransport extends LocalPool {
  constructor(processes?: number | null, options?: PoolOptions) {
    if (isRedisOptions(processes)) {
      const { DistributedPool: OnRedis } = loadAfresh(() => require("../distributed/pool") as typeof import("../distributed/pool"));
      return new OnRedis(processes) as never;
    }
    super(processes, options);
  }

  /** A pool on Redis (`new Pool({ redis, queue })`) is a Pool too. */
  static [Symbol.hasInstance](value: unknown): boolean {
    return isInstanceOrOnRedis(this, PoolOnAnyTransport, value, ["Pool"]);
  }
}
Object.defineProperty(PoolOnAnyTransport, "name", { value: "Pool" });

export const Pool = PoolOnAnyTransport as typeof LocalPool & { new (options: DistributedPoolOptions): DistributedPool };
export type Pool = LocalPool;
