/**
 * The errors of the Redis paths, in a module that loads no Redis client: `import "forklab"` can
 * export them (and `e instanceof RedisConnectionError` works) without loading BullMQ and ioredis,
 * which are loaded only when a Pool or Queue on Redis is made.
 */

/** Redis could not be reached, or refused us: names the address and what to check. */
export class RedisConnectionError extends Error {
  override name = "RedisConnectionError";
  readonly address: string;
  readonly code: string | undefined;
  constructor(message: string, address: string, code: string | undefined, cause: unknown) {
    super(message, { cause });
    this.address = address;
    this.code = code;
  }
}

/** One failed attempt, as the error reports it. */
export interface FailedAttempt {
  attempt: number;
  /** The worker, "host:pid", or "unknown" for a worker that died before it said. */
  worker: string;
  kind: "error" | "crash" | "refused" | "stalled";
  message: string;
}

/** A task failed after all its attempts (or was refused): how many times, and where. */
export class DistributedTaskError extends Error {
  override name = "DistributedTaskError";
  readonly jobId: string;
  /** How many attempts ran (or were refused): as many as `failures` lists, when they left a record. */
  readonly attempts: number;
  readonly failures: FailedAttempt[];
  constructor(message: string, jobId: string, attempts: number, failures: FailedAttempt[], cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.jobId = jobId;
    this.attempts = attempts;
    this.failures = failures;
  }
}

/** The pool was terminated while the task was pending. */
export class PoolTerminatedError extends Error {
  override name = "PoolTerminatedError";
}
