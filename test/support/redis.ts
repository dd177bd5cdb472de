/**
 * A real redis-server for the distributed tests: Debian's binary on a free loopback port, in a
 * temporary directory, bound to 127.0.0.1 only (or to the one private address a test gives),
 * stopped by its pid. No persistence unless a test asks for it (a restart test needs the
 * append-only file to find its jobs again). It never outlives the test process: it runs in the
 * foreground (`--daemonize no`) under the library's reaper, which ends it when the test process
 * dies by any means, even when the afterAll that stops it timed out or never ran.
 *
 * Without redis-server the tests that need it are skipped, loudly; with FORKLAB_REQUIRE_REDIS=1
 * or FORKLAB_REQUIRE_JUPYTER=1 (CI sets it) its absence fails the test file instead.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { freePort } from "../../kernel/runner/launch";
import { reapWithParent } from "../../src/parent/reaper";

const CANDIDATES = ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "redis-server"];

let found: string | null | undefined;

/** The path of a runnable redis-server, or undefined. */
export function findRedisServer(): string | undefined {
  if (found !== undefined) return found ?? undefined;
  found = null;
  for (const candidate of CANDIDATES) {
    const probe = spawnSync(candidate, ["--version"], { encoding: "utf8", timeout: 10_000 });
    if (probe.status === 0) {
      found = candidate;
      break;
    }
  }
  return found ?? undefined;
}

/** Whether the tests of `what` can run: warns when they cannot, throws when CI requires Redis. */
export function redisAvailable(what: string): boolean {
  if (findRedisServer()) return true;
  const message =
    `redis-server not found (tried ${CANDIDATES.join(", ")}): ${what} need it. ` +
    `Install Debian's redis-server package (apt-get install redis-server).`;
  if (process.env.FORKLAB_REQUIRE_REDIS === "1" || process.env.FORKLAB_REQUIRE_JUPYTER === "1") {
    throw new Error(`${message} (required here: FORKLAB_REQUIRE_REDIS or FORKLAB_REQUIRE_JUPYTER is 1)`);
  }
  console.warn(`\n!!! SKIPPED: ${message}\n`);
  return false;
}

export interface RedisServerOptions {
  /** Keep data across a restart: the append-only file, written on every command. @default false */
  persist?: boolean;
  /** The one address it listens on (a private one, never a public interface). @default "127.0.0.1" */
  bind?: string;
  /** Require this password (Redis refuses clients from other hosts without one, in protected mode). */
  password?: string;
}

/** A running redis-server owned by this test process. */
export class TestRedis {
  readonly dir: string;
  readonly port: number;
  readonly persist: boolean;
  readonly host: string;
  readonly #password: string | undefined;
  #child: ChildProcess | undefined;

  private constructor(dir: string, host: string, port: number, persist: boolean, password: string | undefined) {
    this.dir = dir;
    this.host = host;
    this.port = port;
    this.persist = persist;
    this.#password = password;
  }

  static async start(options: RedisServerOptions = {}): Promise<TestRedis> {
    const dir = mkdtempSync(path.join(tmpdir(), "forklab-redis-"));
    const host = options.bind ?? "127.0.0.1";
    const server = new TestRedis(dir, host, await freePort(host), options.persist === true, options.password);
    await server.#launch();
    return server;
  }

  get url(): string {
    return `redis://${this.#password ? `:${encodeURIComponent(this.#password)}@` : ""}${this.host}:${this.port}`;
  }

  get pid(): number {
    const pid = this.#child?.pid;
    if (pid === undefined) throw new Error("redis-server is not running");
    return pid;
  }

  async #launch(): Promise<void> {
    const exe = findRedisServer();
    if (!exe) throw new Error("redis-server not found");
    const persistence = this.persist
      ? ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
      : ["--appendonly", "no", "--save", ""];
    const child = spawn(
      exe,
      [
        ...["--port", String(this.port), "--bind", this.host, "--protected-mode", "yes", "--dir", this.dir, "--daemonize", "no", ...persistence],
        ...(this.#password ? ["--requirepass", this.#password] : []),
      ],
      { cwd: this.dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.#child = child;
    if (child.pid !== undefined) child.once("exit", reapWithParent(child.pid, false));
    let log = "";
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        log += chunk.toString("utf8");
        if (log.includes("Ready to accept connections")) {
          child.stdout!.off("data", onData);
          resolve();
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString("utf8")));
      child.once("exit", (code, signal) => reject(new Error(`redis-server exited (${code ?? signal}) before it was ready:\n${log}`)));
      child.once("error", reject);
    });
    // Drain its log so that a chatty server never blocks on a full pipe.
    child.stdout!.resume();
    child.stderr!.resume();
  }

  /** Stop the server by its pid and wait until it has exited. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    process.kill(child.pid!, "SIGTERM");
    await exited;
  }

  /** Stop the server and start it again on the same port and directory (what it persisted survives). */
  async restart(): Promise<void> {
    await this.stop();
    await this.#launch();
  }

  /** Stop the server and remove its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
