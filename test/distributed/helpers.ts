/**
 * Starting real `forklab worker` processes for the distributed tests, and waiting on what they
 * say: a worker is ready when it prints its banner (it has reached Redis and takes tasks). And the
 * set-up a describe block shares: one redis-server, the workers and pools its tests start, all
 * ended in its afterAll.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { DistributedPool, type DistributedPoolOptions } from "../../dist/src/index.js";
import { reapWithParent } from "../../src/parent/reaper";
import { TestRedis, type RedisServerOptions } from "../support/redis";

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
  /** Reach Redis at this URL instead of the set-up's server (e.g. a HoldingRelay's). */
  redisUrl?: string;
  /** The worker's working folder (its default --root). */
  cwd?: string;
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
  const child = spawn(command!, rest, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...flags.env }, ...(flags.cwd ? { cwd: flags.cwd } : {}) });
  let log = "";
  child.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString("utf8")));
  // Ended by the library's reaper if this test process dies before it stops the worker (the
  // worker's own reaper then ends its task children): no test leaves a worker behind.
  const unreap = reapWithParent(child.pid!, false);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      unreap();
      resolve({ code, signal });
    }),
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
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      // A worker finishes its running tasks first; a test that failed may have left one that never
      // ends: a second SIGTERM makes the worker end its task children and exit at once.
      const again = setTimeout(() => child.kill("SIGTERM"), 10_000);
      await exited;
      clearTimeout(again);
    },
  };
}

/** A queue name of its own for each test, so that tests sharing a server never see each other's jobs. */
let count = 0;
export function freshQueue(label: string): string {
  return `${label}-${process.pid}-${++count}`;
}

export interface DistributedSetup {
  /** The describe block's redis-server (started in its beforeAll). */
  readonly redis: TestRedis;
  /** A worker on `queue` (--accept-source and the set-up's root unless the flags say otherwise), stopped in afterAll. */
  worker(queue: string, flags?: WorkerFlags): Promise<RunningWorker>;
  /** A DistributedPool on `queue`, terminated in afterAll. */
  pool(queue: string, options?: Partial<DistributedPoolOptions>): DistributedPool;
}

/**
 * Call inside a describe block: a redis-server for its tests, and what they start on it, ended in
 * afterAll in order (pools, then workers, then the server), even when a test failed.
 */
export function distributedSetup(options: RedisServerOptions & { root?: string } = {}): DistributedSetup {
  let redis: TestRedis | undefined;
  const workers: RunningWorker[] = [];
  const pools: DistributedPool[] = [];
  beforeAll(async () => {
    redis = await TestRedis.start({ persist: options.persist, bind: options.bind, password: options.password });
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.terminate()));
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.dispose();
  });
  const server = (): TestRedis => {
    if (!redis) throw new Error("the redis-server of this describe block has not started (use it inside a test)");
    return redis;
  };
  return {
    get redis() {
      return server();
    },
    async worker(queue, flags = {}) {
      const w = await startWorker(flags.redisUrl ?? server().url, queue, { acceptSource: true, ...(options.root ? { root: options.root } : {}), ...flags });
      workers.push(w);
      return w;
    },
    pool(queue, poolOptions = {}) {
      const p = new DistributedPool({ redis: server().url, queue, ...poolOptions });
      pools.push(p);
      return p;
    },
  };
}

export interface HoldingRelay {
  /** redis:// URL of the relay. */
  url: string;
  /** Resolves when a client has sent the marker: that command, and all it sends after, are held. */
  held: Promise<void>;
  /** Whether the bytes held so far include `text` (a command sent after the marked one has reached the relay). */
  holds(text: string): boolean;
  /** Pass the held bytes on, and everything after. */
  release(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay in front of a redis-server that holds back the first command carrying `marker` (or
 * the first bytes `marker` accepts, for a command told apart by more than one string), and
 * everything its connection sends after it, until release(): a test can then act while a process
 * waits on that command's answer, in a known order rather than by luck of timing.
 */
export async function holdingRelay(redisPort: number, marker: string | ((chunk: Buffer) => boolean)): Promise<HoldingRelay> {
  const marks = typeof marker === "string" ? (chunk: Buffer) => chunk.includes(marker) : marker;
  const heldSoFar: Buffer[] = [];
  let markHeld!: () => void;
  const held = new Promise<void>((resolve) => (markHeld = resolve));
  let triggered = false;
  const waiting: (() => void)[] = [];
  let released = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(redisPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    upstream.pipe(client);
    let holding: Buffer[] | undefined;
    client.on("data", (chunk: Buffer) => {
      if (holding) {
        if (!released) heldSoFar.push(chunk);
        return void holding.push(chunk);
      }
      if (!triggered && marks(chunk)) {
        triggered = true;
        holding = [chunk];
        heldSoFar.push(chunk);
        const pass = (): void => {
          for (const part of holding!) upstream.write(part);
          holding = undefined;
        };
        if (released) pass();
        else waiting.push(pass);
        markHeld();
        return;
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    held,
    holds(text) {
      return Buffer.concat(heldSoFar).includes(text);
    },
    release() {
      released = true;
      for (const pass of waiting.splice(0)) pass();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface LingeringRelay {
  /** redis:// URL of the relay. */
  url: string;
  /** Resolves when a client whose bytes carried the marker has closed, and its upstream is kept open. */
  lingering: Promise<void>;
  /** Close the upstream connections kept open, and keep none from now on. */
  release(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay in front of a redis-server that, when a client whose bytes carried `marker` closes,
 * keeps that client's upstream connection open until release(): Redis goes on serving what that
 * connection asked for (a blocked command) after the client has gone, as it may when the close
 * reaches it late. A test can then act in that window, in a known order.
 */
export async function lingeringRelay(redisPort: number, marker: string): Promise<LingeringRelay> {
  const needle = Buffer.from(marker);
  let markLingering!: () => void;
  const lingering = new Promise<void>((resolve) => (markLingering = resolve));
  let released = false;
  const kept = new Set<net.Socket>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(redisPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    let marked = false;
    client.on("error", () => client.destroy());
    upstream.on("error", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("close", () => {
      upstream.unpipe(client);
      if (marked && !released) {
        kept.add(upstream);
        markLingering();
      } else upstream.destroy();
    });
    upstream.pipe(client);
    client.on("data", (chunk: Buffer) => {
      if (chunk.includes(needle)) marked = true;
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    lingering,
    release() {
      released = true;
      for (const socket of kept) socket.destroy();
      kept.clear();
    },
    async close() {
      released = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Pair = [client: net.Socket, upstream: net.Socket];

/**
 * What the cutting and answer-losing relays share: a loopback server that gives each client its
 * own connection to Redis (`connected` wires the two; either ending ends both) unless `accept`
 * refuses it; close() ends them all, then the server.
 */
async function relayServer(
  redisPort: number,
  connected: (pair: Pair, end: () => void) => void,
  accept: (client: net.Socket) => boolean = () => true,
): Promise<{ url: string; pairs: Set<Pair>; close(): Promise<void> }> {
  const pairs = new Set<Pair>();
  const server = net.createServer((client) => {
    if (!accept(client)) return;
    const upstream = net.connect(redisPort, "127.0.0.1");
    const pair: Pair = [client, upstream];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    connected(pair, end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    pairs,
    async close() {
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface CuttingRelay {
  /** redis:// URL of the relay. */
  url: string;
  /** Connections reset while cut. */
  readonly refused: number;
  /** Reset every connection, and each new one, until mend(): to its clients, Redis is away. */
  cut(): void;
  mend(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay in front of a redis-server that a test can cut: its clients see their connections
 * reset and every reconnect refused, as when the server is away, while the server itself (shared
 * with other tests) runs on.
 */
export async function cuttingRelay(redisPort: number): Promise<CuttingRelay> {
  let cut = false;
  let refused = 0;
  const relay = await relayServer(
    redisPort,
    ([client, upstream]) => {
      client.pipe(upstream);
      upstream.pipe(client);
    },
    (client) => {
      if (!cut) return true;
      refused++;
      client.resetAndDestroy();
      return false;
    },
  );
  return {
    url: relay.url,
    get refused() {
      return refused;
    },
    cut() {
      cut = true;
      for (const [client, upstream] of [...relay.pairs]) {
        client.resetAndDestroy();
        upstream.destroy();
      }
    },
    mend() {
      cut = false;
    },
    close: relay.close,
  };
}

export interface AnswerLosingRelay {
  /** redis:// URL of the relay. */
  url: string;
  /**
   * From now on, the first command carrying `marker` reaches Redis and its answer does not come
   * back: the relay drops what Redis says next on that connection and closes it (the client
   * reconnects through the relay, which passes everything from then on). Resolves once it has.
   * With `keep`, the first `keep` answers of what Redis says next pass and the rest is lost: a
   * pipeline answered in part.
   */
  loseNextAnswerTo(marker: string, keep?: number): Promise<void>;
  close(): Promise<void>;
}

/** Where the Redis answer (RESP2 or RESP3) that starts at `at` in `buffer` ends, or -1 if it is not all there. */
function answerEnd(buffer: Buffer, at: number): number {
  const line = buffer.indexOf("\r\n", at);
  if (line < 0) return -1;
  const type = String.fromCharCode(buffer[at]!);
  const size = Number(buffer.subarray(at + 1, line).toString());
  let end = line + 2;
  if ("$!=".includes(type)) return size < 0 ? end : end + size + 2 <= buffer.length ? end + size + 2 : -1;
  if (!"*~>%|".includes(type) || size < 0) return end;
  for (let i = 0; i < ("%|".includes(type) ? 2 * size : size); i++) {
    end = answerEnd(buffer, end);
    if (end < 0) return -1;
  }
  return end;
}

/**
 * A TCP relay in front of a redis-server that loses one answer, as a connection that breaks just
 * after Redis ran a command and before its answer reached the client: the command ran, and the
 * client, reconnected, sends it again.
 */
export async function answerLosingRelay(redisPort: number): Promise<AnswerLosingRelay> {
  let armed: { needle: Buffer; keep: number; lost: () => void } | undefined;
  const relay = await relayServer(redisPort, (pair, end) => {
    const [client, upstream] = pair;
    let losing: { keep: number; lost: () => void } | undefined;
    let answered = Buffer.alloc(0);
    client.on("data", (chunk: Buffer) => {
      if (armed && chunk.includes(armed.needle)) {
        losing = armed;
        armed = undefined;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!losing) return void client.write(chunk);
      const { keep, lost } = losing;
      if (keep === 0) {
        losing = undefined;
        end();
        return void lost();
      }
      // The answers kept pass whole, then the connection ends after them (not reset, which could
      // drop them on the way): the client reads them, and not the rest.
      answered = Buffer.concat([answered, chunk]);
      let kept = 0;
      for (let i = 0; i < keep && kept >= 0; i++) kept = answerEnd(answered, kept);
      if (kept < 0) return;
      losing = undefined;
      relay.pairs.delete(pair);
      upstream.removeAllListeners("close").destroy();
      client.end(answered.subarray(0, kept));
      lost();
    });
  });
  return {
    url: relay.url,
    loseNextAnswerTo(marker, keep = 0) {
      return new Promise<void>((lost) => (armed = { needle: Buffer.from(marker), keep, lost }));
    },
    close: relay.close,
  };
}
