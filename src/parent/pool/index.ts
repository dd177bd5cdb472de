export { defaultChunksize, type PoolOptions, type ApplyOptions } from "./pool";
export { Pool } from "./with-redis";
export { AsyncResult } from "./async-result";
export { TimeoutError, AbortError, WorkerLostError, BrokenPoolError } from "./errors";
export type { PoolStats, TaskStats } from "./snapshot";
export type { WorkerTransport, WorkerStarter, WorkerEvents, WorkerInit, WorkerEnd, TaskBatch, BatchOutcome } from "./transport";
