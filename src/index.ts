import type * as OnRedisPool from "./parent/distributed/pool";
import type * as OnRedisQueue from "./distributed/queue";
import { loadAfresh } from "./protocol/lazy-require";

export { display, clearOutput, input, onInterrupt, onShutdown, isInKernel } from "./render/display";
export type { MimeBundle, DisplayOptions } from "./render/display";
export { EOFError } from "./render/stdin-lines";
export * from "./parent/subprocess";
export { renderTerminal } from "./render/terminal";
export type { TerminalView, TerminalChunk } from "./render/terminal";
export { spawn, Process, ProcessError, activeChildren, setStartMethod, getStartMethod } from "./parent/process";
export type { ProcessInit, ProcessOptions, ModuleTarget, Target, StartMethod } from "./parent/process";
export { currentProcess, parentProcess, cpuCount } from "./parent/current";
export type { ProcessInfo } from "./parent/current";
export { TargetError } from "./parent/target-check";
export { RemoteTraceback } from "./protocol/errors";
export { renderProcessCard } from "./render/process-card";
export type { ProcessCardData } from "./render/process-card";
export { DistributedTaskError, PoolTerminatedError, RedisConnectionError } from "./distributed/errors";
export type { FailedAttempt } from "./distributed/errors";
export type { DistributedPoolOptions, RemoteModuleTarget } from "./parent/distributed/pool";
export { AsyncResult as DistributedAsyncResult, TimeoutError as DistributedTimeoutError } from "./parent/distributed/async-result";
export { renderDistributedPool } from "./render/distributed-pool";
export type { RedisQueueOptions } from "./distributed/queue";
export type DistributedPool = OnRedisPool.DistributedPool;
export declare const DistributedPool: typeof OnRedisPool.DistributedPool;
export type RedisQueue<T = unknown> = OnRedisQueue.RedisQueue<T>;
export declare const RedisQueue: typeof OnRedisQueue.RedisQueue;
export type RedisJoinableQueue<T = unknown> = OnRedisQueue.RedisJoinableQueue<T>;
export declare const RedisJoinableQueue: typeof OnRedisQueue.RedisJoinableQueue;
export { Pool, AsyncResult, TimeoutError, AbortError, WorkerLostError, BrokenPoolError } from "./parent/pool";
export type { PoolOptions, ApplyOptions, PoolStats, TaskStats } from "./parent/pool";
export { renderPoolTimeline } from "./render/pool-timeline";
export type { PoolSnapshot } from "./render/pool-timeline";
export { SimpleQueue } from "./ipc/queue";
export { Queue, JoinableQueue } from "./distributed/queue-classes";
export type { QueueOptions, BlockingOptions } from "./ipc/queue";
export { Pipe, Connection } from "./ipc/pipe";
export { BrokenPipeError, Empty, Full } from "./ipc/errors";
export { renderQueueFlow } from "./render/queue-flow";

/*
 * The classes on Redis are loaded when first read: BullMQ and ioredis cost ~120 ms to load, which a
 * process that never uses Redis should not pay. Each getter returns the module's own class, so
 * `instanceof` holds; `new Pool({ redis })` and `new Queue({ redis })` load them the same way.
 * Getters of the form `return lazy.Name`, so that importers from ES modules see the names. Such an
 * importer reads every name when it imports, so it does load the Redis client: notebook cells
 * (tslab compiles them to CommonJS) and `require` do not.
 */
// An interrupted first load is forgotten whole, so that the next use loads it again (lazy-require.ts).
const lazy = {} as { DistributedPool: unknown; RedisQueue: unknown; RedisJoinableQueue: unknown };
Object.defineProperty(lazy, "DistributedPool", { get: () => loadAfresh(() => require("./parent/distributed/pool") as typeof OnRedisPool).DistributedPool });
Object.defineProperty(lazy, "RedisQueue", { get: () => loadAfresh(() => require("./distributed/queue") as typeof OnRedisQueue).RedisQueue });
Object.defineProperty(lazy, "RedisJoinableQueue", { get: () => loadAfresh(() => require("./distributed/queue") as typeof OnRedisQueue).RedisJoinableQueue });
Object.defineProperty(exports, "DistributedPool", { enumerable: true, get: function () { return lazy.DistributedPool; } });
Object.defineProperty(exports, "RedisQueue", { enumerable: true, get: function () { return lazy.RedisQueue; } });
Object.defineProperty(exports, "RedisJoinableQueue", { enumerable: true, get: function () { return lazy.RedisJoinableQueue; } });
