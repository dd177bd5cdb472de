/**
 * `forklab worker --redis URL --queue NAME [--concurrency N] [--root DIR] [--accept-source]
 * [--lock-timeout S]`: the command line around ForklabWorker. Runs until SIGINT or SIGTERM, then
 * lets the running tasks finish (a second signal ends them, with what they started, and hands them
 * back to the queue for other workers) and leaves Redis.
 */
import { cpus } from "node:os";
import { RedisConnectionError } from "../distributed/errors";
import { ForklabWorker, type WorkerOptions } from "./worker";


export interface WorkerIo {
  out(text: string): void;
  err(text: string): void;
}

/** What each number option takes, for the message that refuses a value that is not a number. */
const NUMBER_FLAGS = { concurrency: "a whole number of task slots, 1 or more", "lock-timeout": "a number of seconds above 0" };

function numberFlag(flags: Map<string, string | true>, name: keyof typeof NUMBER_FLAGS): number | undefined {
  const raw = flags.get(name);
  if (raw === undefined) return undefined;
  // Refused here, as typed: Number() would make "abc" NaN (shown as null) and "" zero.
  const value = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : Number.NaN;
  if (Number.isNaN(value)) throw new TypeError(`--${name} must be ${NUMBER_FLAGS[name]}, got ${JSON.stringify(raw)}`);
  return value;
}

/** Parse what the CLI tokenized; a bad value is a usage error (exit 2) that names the option. */
export function workerOptions(flags: Map<string, string | true>): WorkerOptions {
  const redis = flags.get("redis");
  const queue = flags.get("queue");
  if (typeof redis !== "string") throw new TypeError(`"forklab worker" needs --redis URL, e.g. --redis redis://127.0.0.1:6379`);
  if (typeof queue !== "string") throw new TypeError(`"forklab worker" needs --queue NAME: the name the Pool was given as { queue }`);
  return {
    redis,
    queue,
    concurrency: numberFlag(flags, "concurrency"),
    root: flags.get("root") as string | undefined,
    acceptSource: flags.has("accept-source"),
    lockTimeout: numberFlag(flags, "lock-timeout"),
  };
}

export async function runWorker(flags: Map<string, string | true>, io: WorkerIo): Promise<number> {
  let worker: ForklabWorker;
  try {
    const options = workerOptions(flags);
    worker = await ForklabWorker.start(options);
    io.err(
      `forklab worker ${worker.id}: taking tasks of queue "${worker.queue}" with ${options.concurrency ?? 1} slot(s) ` +
        `(this host has ${cpus().length} cores); ${options.acceptSource ? "runs functions sent as source" : "runs module targets only"}\n`,
    );
  } catch (error) {
    if (error instanceof TypeError) {
      io.err(`forklab: ${error.message}\nRun "forklab --help" for usage.\n`);
      return 2;
    }
    if (error instanceof RedisConnectionError) {
      io.err(`forklab worker: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  await new Promise<void>((resolve) => {
    let signals = 0;
    const stop = (signal: NodeJS.Signals): void => {
      signals++;
      io.err(`forklab worker ${worker.id}: ${signal}, ${signals === 1 ? "finishing the running tasks" : "stopping now"}\n`);
      void worker.close(signals > 1).then(resolve);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  return 0;
}
