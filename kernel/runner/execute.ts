/**
 * Run a notebook through a kernel, as nbclient does: start the kernel in the notebook's folder,
 * wait until it answers kernel_info_request and its IOPub is connected, execute each code cell in
 * order and record what IOPub says about it, then shut the kernel down and kill its process group.
 */
import { dirname, join, resolve } from "node:path";
import { forklabKernelSpec, findKernelSpec, packageRoot, type FoundKernelSpec } from "../kernelspec";
import type { Message } from "../wire";
import { KernelClient, parentMsgId } from "./client";
import {
  CellExecutionError,
  CellTimeoutError,
  KernelDiedError,
  KernelNotReadyError,
  kernelOutputDetail,
  NotebookRunError,
  type CellLocation,
} from "./errors";
import { launchKernel, type KernelProcess } from "./launch";
import { normalizeNotebook, readNotebook, type CodeCell, type Notebook, type Output } from "./notebook";

export type ProgressEvent =
  | { type: "start"; file: string; kernel: string; codeCells: number }
  | { type: "cell"; file: string; index: number; total: number; codeCell: number; codeCells: number }
  | { type: "done"; file: string; durationMs: number };

export interface RunOptions {
  /** Deadline for each cell in milliseconds; 0 or Infinity for none. @default 120_000 */
  cellTimeoutMs?: number;
  /** Record cell errors and go on instead of stopping at the first one. @default false */
  allowErrors?: boolean;
  /** A kernelspec name on Jupyter's paths, or a kernelspec. @default this installation's forklab kernel */
  kernel?: string | FoundKernelSpec;
  /** How long the kernel may take to answer kernel_info_request. @default 60_000 */
  startupTimeoutMs?: number;
  /** The kernel's working directory. @default the notebook's folder */
  cwd?: string;
  /** Environment of the kernel (the kernelspec's `env` is added to it). @default process.env */
  env?: NodeJS.ProcessEnv;
  onProgress?: (event: ProgressEvent) => void;
}

export interface RunResult {
  /** The executed notebook (nbformat 4.5), not yet written anywhere. */
  notebook: Notebook;
  file: string;
  kernel: string;
  /** Errors of cells that were allowed to fail (with `allowErrors` or tag `raises-exception`). */
  errors: CellExecutionError[];
  durationMs: number;
}

const IDLE_GRACE_MS = 10_000;
const INTERRUPT_GRACE_MS = 5_000;
/** Longer than the kernel's own wait for the library's cleanup (4 s), so its last updates arrive. */
const SHUTDOWN_GRACE_MS = 6_000;

/** The kernelspec of this installation's forklab kernel, started with this Node. */
export function defaultKernelSpec(): FoundKernelSpec {
  const root = packageRoot();
  return { name: "forklab", resourceDir: join(root, "kernel"), spec: forklabKernelSpec(root) };
}

/**
 * Execute every code cell of the notebook at `file` in a fresh kernel. Resolves with the executed
 * notebook; rejects with a NotebookRunError subclass (InvalidNotebookError comes from reading),
 * whose `notebook` holds the outputs gathered until the failure.
 */
export async function runNotebook(file: string, options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const notebook = normalizeNotebook(readNotebook(file));
  const spec = typeof options.kernel === "string" ? findKernelSpec(options.kernel) : (options.kernel ?? defaultKernelSpec());
  const codeCells = notebook.cells.filter(isRunnable).length;
  options.onProgress?.({ type: "start", file, kernel: spec.name, codeCells });

  const kernel = await launchKernel(spec, { cwd: options.cwd ?? dirname(resolve(file)), env: options.env });
  const client = new KernelClient(kernel.connection);
  const run = new Run(file, notebook, kernel, client, options);
  try {
    const info = await run.waitForReady(options.startupTimeoutMs ?? 60_000);
    // As nbclient does: the notebook records the language of the kernel that ran it.
    if (isObject(info.language_info)) notebook.metadata.language_info = info.language_info;
    let codeCell = 0;
    for (const [index, cell] of notebook.cells.entries()) {
      if (!isRunnable(cell)) continue;
      codeCell += 1;
      options.onProgress?.({ type: "cell", file, index, total: notebook.cells.length, codeCell, codeCells });
      await run.executeCell(cell, index);
    }
  } catch (error) {
    if (error instanceof NotebookRunError) error.notebook = notebook;
    throw error;
  } finally {
    await run.shutdown();
  }
  const durationMs = Date.now() - started;
  options.onProgress?.({ type: "done", file, durationMs });
  return { notebook, file, kernel: spec.name, errors: run.allowedErrors, durationMs };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function tags(cell: { metadata: Record<string, unknown> }): string[] {
  const value = cell.metadata.tags;
  return Array.isArray(value) ? value.filter((t): t is string => typeof t === "string") : [];
}

function isRunnable(cell: Notebook["cells"][number]): cell is CodeCell {
  return cell.cell_type === "code" && cell.source.trim() !== "" && !tags(cell).includes("skip-execution");
}

type Deferred<T> = { promise: Promise<T>; resolve: (value: T) => void };
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const sleep = (ms: number) => new Promise<"timeout">((r) => setTimeout(() => r("timeout"), ms).unref());

/** Collects one cell's IOPub messages into its outputs, as nbclient's output hook does. */
class CellSink {
  readonly idle = deferred<void>();
  #clearBeforeNext = false;

  constructor(
    readonly msgId: string,
    readonly cell: CodeCell,
    readonly displays: DisplayTracker,
  ) {}

  handle(message: Message): void {
    const content = message.content as Record<string, any>;
    switch (message.header.msg_type) {
      case "status":
        if (content.execution_state === "idle") this.idle.resolve();
        return;
      case "execute_input":
        if (typeof content.execution_count === "number") this.cell.execution_count = content.execution_count;
        return;
      case "clear_output":
        if (content.wait) this.#clearBeforeNext = true;
        else this.#clear();
        return;
      case "stream":
      case "display_data":
      case "execute_result":
      case "error": {
        if (this.#clearBeforeNext) this.#clear();
        const output = outputFromMessage(message);
        const last = this.cell.outputs.at(-1);
        if (output.output_type === "stream" && last?.output_type === "stream" && last.name === output.name) {
          last.text += output.text;
          return;
        }
        this.cell.outputs.push(output);
        const displayId = (message.content as { transient?: { display_id?: unknown } }).transient?.display_id;
        if (typeof displayId === "string" && (output.output_type === "display_data" || output.output_type === "execute_result")) {
          this.displays.register(displayId, this.cell, output);
        }
        return;
      }
      default:
        return; // comm messages, update_display_data (handled for every cell), anything newer
    }
  }

  #clear(): void {
    this.cell.outputs = [];
    this.#clearBeforeNext = false;
  }
}

/** Outputs that carry a display_id, in every cell run so far, for update_display_data. */
class DisplayTracker {
  readonly #byId = new Map<string, { cell: CodeCell; output: Output & { data: unknown } }[]>();

  register(displayId: string, cell: CodeCell, output: Output): void {
    const list = this.#byId.get(displayId) ?? [];
    list.push({ cell, output: output as Output & { data: unknown } });
    this.#byId.set(displayId, list);
  }

  update(content: Record<string, any>): void {
    const displayId = content.transient?.display_id;
    const list = typeof displayId === "string" ? this.#byId.get(displayId) : undefined;
    if (!list) return;
    // Outputs cleared since they were registered are no longer in their cell: leave them.
    const alive = list.filter(({ cell, output }) => cell.outputs.includes(output));
    for (const { output } of alive) {
      (output as { data: unknown }).data = content.data ?? {};
      (output as { metadata: unknown }).metadata = content.metadata ?? {};
    }
    this.#byId.set(displayId, alive);
  }
}

function outputFromMessage(message: Message): Output {
  const c = message.content as Record<string, any>;
  switch (message.header.msg_type) {
    case "stream":
      return { output_type: "stream", name: c.name === "stderr" ? "stderr" : "stdout", text: String(c.text ?? "") };
    case "display_data":
      return { output_type: "display_data", data: c.data ?? {}, metadata: c.metadata ?? {} };
    case "execute_result":
      return { output_type: "execute_result", execution_count: c.execution_count ?? null, data: c.data ?? {}, metadata: c.metadata ?? {} };
    default:
      return { output_type: "error", ename: String(c.ename ?? "Error"), evalue: String(c.evalue ?? ""), traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [] };
  }
}

class Run {
  readonly allowedErrors: CellExecutionError[] = [];
  readonly #displays = new DisplayTracker();
  #sink: CellSink | undefined;
  #stopListening: () => void;
  #died: Promise<"died">;

  constructor(
    readonly file: string,
    readonly notebook: Notebook,
    readonly kernel: KernelProcess,
    readonly client: KernelClient,
    readonly options: RunOptions,
  ) {
    this.#stopListening = client.onIopub((message) => {
      if (message.header.msg_type === "update_display_data") this.#displays.update(message.content);
      else if (this.#sink && parentMsgId(message) === this.#sink.msgId) this.#sink.handle(message);
    });
    this.#died = kernel.exited.then(() => "died" as const);
  }

  #deadError(cell?: CellLocation): KernelDiedError {
    const exit = this.kernel.exitStatus ?? { code: null, signal: null };
    return new KernelDiedError(this.file, cell, exit, this.kernel.outputTail);
  }

  /**
   * Send kernel_info_request until it is answered and one of them has also been seen on IOPub
   * (its busy/idle status): only then is the IOPub subscription known to be connected, so that no
   * output of the first cell is lost. nbclient's wait_for_ready, with the slow-joiner check.
   * Resolves with the content of the first kernel_info_reply.
   */
  async waitForReady(timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    const sent = new Set<string>();
    const seenOnIopub = deferred<void>();
    const stop = this.client.onIopub((message) => {
      const parent = parentMsgId(message);
      if (parent && sent.has(parent)) seenOnIopub.resolve();
    });
    const replied = deferred<Record<string, unknown>>();
    try {
      let repliedAt: number | undefined;
      while (Date.now() < deadline) {
        const { msgId, reply } = this.client.request("shell", "kernel_info_request", {});
        sent.add(msgId);
        void reply.then((message) => replied.resolve(message.content), () => {});
        if (repliedAt === undefined) {
          const outcome = await Promise.race([replied.promise.then(() => "reply" as const), this.#died, sleep(1000)]);
          if (outcome === "died") throw this.#deadError();
          if (outcome === "timeout") continue;
          repliedAt = Date.now();
        }
        const outcome = await Promise.race([seenOnIopub.promise.then(() => "iopub" as const), this.#died, sleep(250)]);
        if (outcome === "died") throw this.#deadError();
        // A kernel that publishes no status for kernel_info still gets to run, a little later.
        if (outcome === "iopub" || Date.now() - repliedAt > 3000) return replied.promise;
      }
      throw new KernelNotReadyError(
        this.file,
        [
          `${this.file}: kernel ${JSON.stringify(this.kernel.spec.name)} did not answer kernel_info_request within ${timeoutMs / 1000} s`,
          kernelOutputDetail(this.kernel.outputTail),
        ].filter(Boolean).join("\n"),
      );
    } finally {
      stop();
    }
  }

  async executeCell(cell: CodeCell, index: number): Promise<void> {
    const where: CellLocation = { file: this.file, index, source: cell.source };
    const allowed = this.options.allowErrors === true || tags(cell).includes("raises-exception");
    cell.outputs = [];
    cell.execution_count = null;
    const { msgId, reply } = this.client.request("shell", "execute_request", {
      code: cell.source,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: !allowed,
    });
    const sink = new CellSink(msgId, cell, this.#displays);
    this.#sink = sink;

    const timeoutMs = this.options.cellTimeoutMs ?? 120_000;
    const limit = timeoutMs > 0 && Number.isFinite(timeoutMs) ? timeoutMs : undefined;
    const replied = reply.then((message) => ({ kind: "reply" as const, message }));
    const first = await Promise.race([replied, this.#died, limit === undefined ? new Promise<never>(() => {}) : sleep(limit)]);
    if (first === "died") throw this.#deadError(where);
    if (first === "timeout") {
      await this.#interrupt();
      const after = await Promise.race([Promise.all([replied, sink.idle.promise]), this.#died, sleep(INTERRUPT_GRACE_MS)]);
      if (after === "died") throw this.#deadError(where);
      throw new CellTimeoutError(where, timeoutMs);
    }
    // The reply is in; the outputs are complete once IOPub says idle.
    const idle = await Promise.race([sink.idle.promise.then(() => "idle" as const), this.#died, sleep(IDLE_GRACE_MS)]);
    if (idle === "died") throw this.#deadError(where);
    if (idle === "timeout") {
      process.stderr.write(`forklab: ${this.file}: cell ${index + 1}: no idle status on IOPub ${IDLE_GRACE_MS / 1000} s after the reply; outputs may be incomplete\n`);
    }
    this.#sink = undefined;

    const content = first.message.content as Record<string, any>;
    if (typeof content.execution_count === "number") cell.execution_count = content.execution_count;
    if (content.status === "ok") return;
    const error = this.#cellError(where, cell, content);
    if (!allowed) throw error;
    this.allowedErrors.push(error);
  }

  #cellError(where: CellLocation, cell: CodeCell, content: Record<string, any>): CellExecutionError {
    if (content.status === "aborted") return new CellExecutionError(where, "Aborted", "the kernel aborted this request", []);
    if (typeof content.ename === "string") {
      return new CellExecutionError(where, content.ename, String(content.evalue ?? ""), Array.isArray(content.traceback) ? content.traceback.map(String) : []);
    }
    // Kernels that put no error in the reply: use the error output, else what went to stderr.
    const shown = cell.outputs.filter((o) => o.output_type === "error").at(-1);
    if (shown?.output_type === "error") return new CellExecutionError(where, shown.ename, shown.evalue, shown.traceback);
    const stderr = cell.outputs.map((o) => (o.output_type === "stream" && o.name === "stderr" ? o.text : "")).join("");
    return new CellExecutionError(where, "Error", "the kernel reported an error", stderr ? stderr.trimEnd().split("\n") : []);
  }

  async #interrupt(): Promise<void> {
    if (this.kernel.interruptMode === "signal") {
      this.kernel.signalInterrupt();
      return;
    }
    const { reply } = this.client.request("control", "interrupt_request", {});
    await Promise.race([reply, this.#died, sleep(INTERRUPT_GRACE_MS)]);
  }

  /**
   * Ask the kernel to shut down, give it a moment, then kill its process group regardless. Display
   * updates sent meanwhile (a process card's final state, as its process is stopped) still reach
   * their outputs, as they would in a frontend.
   */
  async shutdown(): Promise<void> {
    this.#sink = undefined;
    if (this.kernel.exitStatus === undefined) {
      try {
        const { reply } = this.client.request("control", "shutdown_request", { restart: false });
        await Promise.race([reply.then(() => this.kernel.exited), this.kernel.exited, sleep(SHUTDOWN_GRACE_MS)]);
      } catch {
        // the client is closed already; kill below
      }
    }
    this.#stopListening();
    this.client.close();
    await this.kernel.kill();
  }
}
