/**
 * Start a kernel from a kernelspec, as jupyter_client's KernelManager does: free ports, a signed
 * connection file, the spec's argv with `{connection_file}` filled in. The kernel leads a process
 * group of its own, so that stopping it stops everything it started, and nothing is left behind
 * when the runner itself is interrupted or terminated.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type { ConnectionInfo } from "../wire";
import type { FoundKernelSpec } from "../kernelspec";

export interface KernelExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The kernel could not be started at all (its command is missing, or it failed at once). */
export class KernelStartError extends Error {
  override name = "KernelStartError";
}

const OUTPUT_TAIL = 4000;

export class KernelProcess {
  readonly exited: Promise<KernelExit>;
  #exit: KernelExit | undefined;
  #tail = "";
  #connectionDir: string;

  constructor(
    readonly spec: FoundKernelSpec,
    readonly connection: ConnectionInfo,
    readonly child: ChildProcess,
    connectionDir: string,
  ) {
    this.#connectionDir = connectionDir;
    const keep = (chunk: Buffer) => {
      this.#tail = (this.#tail + chunk.toString("utf8")).slice(-OUTPUT_TAIL);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
      child.once("error", (error) => {
        this.#tail += `\n${error.message}`;
        this.#exit ??= { code: null, signal: null };
        resolve(this.#exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get exitStatus(): KernelExit | undefined {
    return this.#exit;
  }

  get interruptMode(): "signal" | "message" {
    return this.spec.spec.interrupt_mode === "message" ? "message" : "signal";
  }

  /** The last few thousand characters the kernel wrote to its stdout and stderr. */
  get outputTail(): string {
    return this.#tail;
  }

  /** SIGINT to the kernel's process group, as jupyter_client does for interrupt_mode "signal". */
  signalInterrupt(): void {
    signalGroup(this.child, "SIGINT");
  }

  /** Kill the kernel and its whole process group, wait for the kernel to exit, and clean up. */
  async kill(): Promise<KernelExit> {
    killGroup(this.child);
    const exit = await this.exited;
    // Children that outlived the kernel are still in its group.
    killGroup(this.child);
    live.delete(this);
    releaseSignalHandlers();
    rmSync(this.#connectionDir, { recursive: true, force: true });
    return exit;
  }

  /** Synchronous last resort, for process exit and signal handlers. */
  killNow(): void {
    killGroup(this.child);
    rmSync(this.#connectionDir, { recursive: true, force: true });
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (process.platform === "win32") child.kill(signal);
    else process.kill(-child.pid, signal);
  } catch {
    // the group is already gone
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  if (process.platform === "win32") {
    spawnSync("taskkill", ["/pid", String(child.pid), "/T", "/F"], { stdio: "ignore" });
    return;
  }
  signalGroup(child, "SIGKILL");
}

export async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export async function newConnectionInfo(kernelName: string, ip = "127.0.0.1"): Promise<ConnectionInfo> {
  const ports = new Set<number>();
  while (ports.size < 5) ports.add(await freePort(ip));
  const [shell_port, iopub_port, stdin_port, control_port, hb_port] = [...ports];
  return {
    transport: "tcp",
    ip,
    shell_port,
    iopub_port,
    stdin_port,
    control_port,
    hb_port,
    key: randomUUID(),
    signature_scheme: "hmac-sha256",
    kernel_name: kernelName,
  };
}

export interface LaunchOptions {
  /** The kernel's working directory (the notebook's folder). */
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * A spec's "python" (as ipykernel writes it) is, for jupyter_client, the Python that runs Jupyter.
 * Here that is the Python of the environment the spec was found in (`PREFIX/share/jupyter/kernels/
 * NAME`), when it has one: the PATH's python may be another, without ipykernel.
 */
export function kernelExecutable(command: string, resourceDir: string, platform: NodeJS.Platform = process.platform): string {
  if (!/^python(\d+(\.\d+)?)?$/.test(command)) return command;
  const kernels = dirname(resolve(resourceDir));
  const shareJupyter = dirname(kernels);
  if (basename(kernels) !== "kernels" || basename(shareJupyter) !== "jupyter" || basename(dirname(shareJupyter)) !== "share") return command;
  const prefix = dirname(dirname(shareJupyter));
  const python = platform === "win32" ? join(prefix, "Scripts", "python.exe") : join(prefix, "bin", "python");
  return existsSync(python) ? python : command;
}

export async function launchKernel(found: FoundKernelSpec, options: LaunchOptions): Promise<KernelProcess> {
  const connection = await newConnectionInfo(found.name);
  const connectionDir = mkdtempSync(join(tmpdir(), "forklab-kernel-"));
  const connectionFile = join(connectionDir, `kernel-${randomUUID()}.json`);
  writeFileSync(connectionFile, JSON.stringify(connection, null, 1), { mode: 0o600 });
  const fill = (arg: string) =>
    arg.replace(/\{connection_file\}/g, connectionFile).replace(/\{resource_dir\}/g, found.resourceDir);
  const [written, ...args] = found.spec.argv.map(fill);
  const command = kernelExecutable(written!, found.resourceDir);
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...(options.env ?? process.env), ...(found.spec.env ?? {}) },
    // Its own process group: interrupts and the final kill reach everything the kernel started.
    detached: process.platform !== "win32",
    stdio: ["ignore", "pipe", "pipe"],
    windowsHide: true,
  });
  const kernel = new KernelProcess(found, connection, child, connectionDir);
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (error: NodeJS.ErrnoException) => {
      rmSync(connectionDir, { recursive: true, force: true });
      reject(
        new KernelStartError(
          `cannot start kernel ${JSON.stringify(found.name)}: ${command} ` +
            (error.code === "ENOENT" ? "was not found" : `failed (${error.message})`) +
            ` (kernelspec ${found.resourceDir})`,
        ),
      );
    });
  });
  track(kernel);
  return kernel;
}

// Kernels alive in this process, killed on exit, SIGINT and SIGTERM so that none is orphaned.
const live = new Set<KernelProcess>();
let handlersInstalled = false;

function track(kernel: KernelProcess): void {
  live.add(kernel);
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", killAll);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

function killAll(): void {
  for (const kernel of live) kernel.killNow();
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killAll();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  process.off("exit", killAll);
  handlersInstalled = false;
  process.stderr.write(`\nforklab: ${signal}, kernels stopped\n`);
  process.exit(signal === "SIGINT" ? 130 : 143);
}

/** Forget the process-wide handlers once no kernel is left (tests, library use). */
export function releaseSignalHandlers(): void {
  if (live.size > 0 || !handlersInstalled) return;
  process.off("exit", killAll);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  handlersInstalled = false;
}
