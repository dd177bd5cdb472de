/**
 * A forklab kernel started and driven by jupyter_client, for tests that look at the messages.
 *
 * driver.py runs the client; this side sends it commands and keeps every message the kernel sent,
 * in order, so a test can wait for the message it expects (never for a time) and then assert on
 * what came before it.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { packageRoot } from "../../../kernel/kernelspec";
import { findJupyterPython } from "../../support/jupyter";
import { waitFor } from "../../support/processes";

export interface KernelMessage {
  channel: "shell" | "iopub" | "control" | "stdin";
  msg_type: string;
  msg_id: string;
  /** The msg_id of the request this message answers. */
  parent: string | undefined;
  content: Record<string, any>;
  metadata: Record<string, unknown>;
}

/** How long a test waits for a message before it fails, naming what it waited for. */
const DEADLINE_MS = 60_000;

export class KernelSession {
  readonly messages: KernelMessage[] = [];
  /** The kernel's process id. */
  pid = 0;
  readonly #driver: ChildProcessWithoutNullStreams;
  readonly #work: string;
  readonly #answers = new Map<number, Record<string, any>>();
  #nextRef = 1;
  #driverError = "";
  #ended = false;

  private constructor(driver: ChildProcessWithoutNullStreams, work: string) {
    this.#driver = driver;
    this.#work = work;
    driver.stderr.on("data", (chunk) => (this.#driverError += chunk));
    driver.on("exit", () => (this.#ended = true));
    createInterface({ input: driver.stdout }).on("line", (line) => {
      const record = JSON.parse(line);
      if (record.ready) this.pid = record.pid;
      else if (record.ref !== undefined) this.#answers.set(record.ref, record);
      else this.messages.push(record as KernelMessage);
    });
  }

  /**
   * Install the kernelspec into a temporary prefix and start a kernel from it, in a fresh folder;
   * `env` is added to the environment the client and so the kernel run in.
   */
  static async start({ env = {} }: { env?: NodeJS.ProcessEnv } = {}): Promise<KernelSession> {
    const work = mkdtempSync(path.join(tmpdir(), "forklab-session-"));
    const root = packageRoot();
    const install = spawnSync(process.execPath, [path.join(root, "bin", "forklab.js"), "install", "--prefix", path.join(work, "prefix")], { encoding: "utf8" });
    if (install.status !== 0) throw new Error(`forklab install failed: ${install.stderr}`);
    const cwd = path.join(work, "cwd");
    spawnSync("mkdir", [cwd]);
    const driver = spawn(findJupyterPython()!, [path.join(__dirname, "driver.py")], {
      env: { ...process.env, ...env, JUPYTER_PATH: path.join(work, "prefix", "share", "jupyter") },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const session = new KernelSession(driver, work);
    driver.stdin.write(JSON.stringify({ kernel: "forklab", cwd, stderr: session.stderrFile }) + "\n");
    await session.#until("the kernel to start", () => session.pid !== 0);
    return session;
  }

  /** Where the kernel's stderr goes. */
  get stderrFile(): string {
    return path.join(this.#work, "kernel-stderr.log");
  }

  kernelStderr(): string {
    try {
      return readFileSync(this.stderrFile, "utf8");
    } catch {
      return "";
    }
  }

  /** Send a request; resolves with its msg_id once the client has sent it. */
  async send(channel: "shell" | "control", msgType: string, content: Record<string, unknown>): Promise<string> {
    return (await this.#command({ op: "send", channel, msg_type: msgType, content })).msg_id;
  }

  execute(code: string, options: Record<string, unknown> = {}): Promise<string> {
    return this.send("shell", "execute_request", {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
      ...options,
    });
  }

  /** Run a cell to its end: its reply, and its IOPub messages up to its idle status. */
  async run(code: string, options: Record<string, unknown> = {}): Promise<{ reply: KernelMessage; outputs: KernelMessage[] }> {
    const msgId = await this.execute(code, options);
    return { reply: await this.replyTo(msgId), outputs: await this.outputsOf(msgId) };
  }

  /** The shell or control reply to `msgId`: matched by parent, whatever else arrives first. */
  replyTo(msgId: string): Promise<KernelMessage> {
    return this.waitForMessage(`the reply to ${msgId}`, (m) => m.parent === msgId && (m.channel === "shell" || m.channel === "control"));
  }

  /** IOPub messages whose parent is `msgId`, once its idle status has arrived. */
  async outputsOf(msgId: string): Promise<KernelMessage[]> {
    await this.waitForMessage(`idle after ${msgId}`, (m) => isStatus(m, "idle") && m.parent === msgId);
    const outputs = this.messages.filter((m) => m.channel === "iopub" && m.parent === msgId);
    return outputs.slice(0, outputs.findIndex((m) => isStatus(m, "idle")) + 1);
  }

  /** The first message (received so far or later) that matches. */
  async waitForMessage(what: string, matches: (m: KernelMessage) => boolean): Promise<KernelMessage> {
    await this.#until(what, () => this.messages.some(matches));
    return this.messages.find(matches)!;
  }

  /** Send four frames (header, parent_header, metadata, content) as given, signed or badly signed. */
  sendRaw(channel: "shell" | "control", parts: [string, string, string, string], { signed = true } = {}): Promise<unknown> {
    return this.#command({ op: "raw", channel, parts, signed });
  }

  input(value: string): Promise<unknown> {
    return this.#command({ op: "input", value });
  }

  /** Send a signal to the kernel's process group, as jupyter_client's interrupt does. */
  signal(name: "SIGINT" | "SIGTERM" | "SIGKILL"): Promise<unknown> {
    return this.#command({ op: "signal", name });
  }

  /** The kernel's exit code once it has ended (negative: the signal that ended it). */
  async exitStatus(): Promise<number> {
    let code: number | null = null;
    await this.#until("the kernel to exit", async () => (code = (await this.#command({ op: "exit_status" })).returncode) !== null);
    return code!;
  }

  /** Stop the client and shut the kernel down (if it still runs); remove the temporary folder. */
  async stop(): Promise<void> {
    if (!this.#ended) {
      this.#driver.stdin.write(JSON.stringify({ op: "stop" }) + "\n");
      await this.#until("the client to stop", () => this.#ended);
    }
    rmSync(this.#work, { recursive: true, force: true });
  }

  async #command(command: Record<string, unknown>): Promise<Record<string, any>> {
    const ref = this.#nextRef++;
    this.#driver.stdin.write(JSON.stringify({ ...command, ref }) + "\n");
    await this.#until(`the answer to ${String(command.op)}`, () => this.#answers.has(ref));
    const answer = this.#answers.get(ref)!;
    this.#answers.delete(ref);
    return answer;
  }

  #until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
    return waitFor(what, async () => {
      if (await condition()) return true;
      if (this.#ended) throw new Error(`the jupyter_client driver ended while waiting for ${what}: ${this.#driverError}`);
      return false;
    }, DEADLINE_MS);
  }
}

export function isStatus(message: KernelMessage, state: "busy" | "idle"): boolean {
  return message.channel === "iopub" && message.msg_type === "status" && message.content.execution_state === state;
}

/** The text of the stream messages among `outputs`, joined. */
export function streamText(outputs: KernelMessage[], name: "stdout" | "stderr" = "stdout"): string {
  return outputs.filter((m) => m.msg_type === "stream" && m.content.name === name).map((m) => m.content.text).join("");
}
