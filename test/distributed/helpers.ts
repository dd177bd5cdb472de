/**
 * Starting real `forklab worker` processes for the distributed tests, and waiting on what they
 * say: a worker is ready when it prints its banner (it has reached Redis and takes tasks).
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";

export const FORKLAB_BIN = path.join(__dirname, "..", "..", "bin", "forklab.js");

export interface RunningWorker {
  child: ChildProcess;
  pid: number;
  /** Everything it wrote to stderr so far. */
  log(): string;
  /** Resolves when it has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, and wait for it to finish its tasks and exit. */
  stop(): Promise<void>;
}

export interface WorkerFlags {
  concurrency?: number;
  root?: string;
  acceptSource?: boolean;
  lockTimeout?: number;
  /** Run the worker under this command prefix (e.g. `ip netns exec NAME`). */
  prefix?: string[];
  env?: NodeJS.ProcessEnv;
}

export async function startWorker(redisUrl: string, queue: string, flags: WorkerFlags = {}): Promise<RunningWorker> {
  const args = [FORKLAB_BIN, "worker", "--redis", redisUrl, "--queue", queue];
  if (flags.concurrency !== undefined) args.push("--concurrency", String(flags.concurrency));
  if (flags.root !== undefined) args.push("--root", flags.root);
  if (flags.acceptSource) args.push("--accept-source");
  args.push("--lock-timeout", String(flags.lockTimeout ?? 2));
  const [command, ...rest] = flags.prefix ? [...flags.prefix, process.execPath, ...args] : [process.execPath, ...args];
  const child = spawn(command!, rest, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...flags.env } });
  let log = "";
  child.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (/taking tasks of queue/.test(log)) resolve();
    };
    child.stderr!.on("data", check);
    void exited.then(({ code, signal }) => reject(new Error(`forklab worker exited (${code ?? signal}) before it was ready:\n${log}`)));
  });
  return {
    child,
    pid: child.pid!,
    log: () => log,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** A queue name of its own for each test, so that tests sharing a server never see each other's jobs. */
let count = 0;
export function freshQueue(label: string): string {
  return `${label}-${process.pid}-${++count}`;
}
