/**
 * The Jupyter messaging protocol (5.3) over ZeroMQ, on top of a CellExecutor.
 *
 * Shell requests are handled one at a time, in arrival order; control requests (interrupt,
 * shutdown, kernel_info) as they arrive, even while a cell awaits something. A cell spinning in
 * synchronous code holds this thread, so the control thread interrupts it by signal first.
 */
import type * as zmq from "zeromq";
import { CellExecutor, INTERRUPTED, type CellOutcome } from "./cell-executor";
import { RAISES_SIGINT } from "../control/control-thread";
import { History } from "./history";
import { log } from "../log";
import { OutputRouter, type CellContext } from "./output";
import { callInterruptibly, isInterruption, untilAborted } from "./interruptible";
import { contentProblem } from "./request-content";
import { plainText, toBundle } from "./rich-value";
import { bindSockets, closeSockets, OrderedSender, type KernelSockets } from "./sockets";
import { kernelInfo } from "../kernel-info";
import { newHeader, parse, serialize, WireError, type ConnectionInfo, type Message, type SigningKey } from "../wire";
import { KERNEL_BRIDGE, LIVE_DISPLAY_ID, type KernelBridge, type DisplayOptions, type MimeBundle } from "../../src/protocol/kernel-bridge";

type Content = Record<string, unknown>;
type ExecuteRequest = { code: string; silent?: boolean; store_history?: boolean; stop_on_error?: boolean; user_expressions?: Record<string, string> };

/** The display id of the output a live object (a Process, a Pool) keeps up to date, if it has one. */
function liveDisplayId(value: unknown): string | undefined {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) return undefined;
  const id = (value as { [LIVE_DISPLAY_ID]?: unknown })[LIVE_DISPLAY_ID];
  return typeof id === "string" ? id : undefined;
}

/** Thrown by process.exit() in user code, to stop it where Node would have ended. */
class KernelExit extends Error {
  override name = "KernelExit";
  constructor(readonly code: number) {
    super(`process.exit(${code}): the kernel ends once this cell's output and reply are sent`);
  }
}

/**
 * A shell request waiting its turn; `aborted` once a cell before it failed (stop_on_error);
 * `unreadable`, why it could not be read, for a request answered with an error in its turn.
 */
interface Pending {
  message: Message;
  aborted: boolean;
  unreadable?: string;
}

/** How long shutdown waits for the library's cleanup; under jupyter_client's 5 s before SIGKILL. */
const SHUTDOWN_GRACE_MS = 4000;

export class KernelServer {
  readonly #key: SigningKey;
  readonly #session = crypto.randomUUID();
  readonly #executor: CellExecutor;
  readonly #history = new History();
  readonly #output: OutputRouter;
  readonly #shutdownListeners = new Set<() => void | Promise<void>>();
  #sockets!: KernelSockets;
  #senders!: { shell: OrderedSender; control: OrderedSender; iopub: OrderedSender; stdin: OrderedSender };
  /** input_request messages sent, by msg_id, waiting for the frontend's input_reply. */
  readonly #inputs = new Map<string, { resolve: (value: string) => void; reject: (error: Error) => void }>();
  #executionCount = 0;
  /** Silent cells and cells not stored in history get no number; their scripts still need names. */
  #unnumbered = 0;
  #queue: Pending[] = [];
  #wakeShellLoop: (() => void) | undefined;
  #running: CellContext | undefined;
  /** The running cell's number for the control thread (every cell run gets the next one); 0 while none runs. */
  #runningCell = 0;
  #cellsRun = 0;
  #interrupted = false;
  #closing = false;

  constructor(private readonly connection: ConnectionInfo) {
    this.#key = { key: connection.key, scheme: connection.signature_scheme || "hmac-sha256" };
    this.#output = new OutputRouter((msgType, content, parent) => this.#publish(msgType, content, parent));
    this.#executor = new CellExecutor();
  }

  async start(): Promise<void> {
    this.#sockets = await bindSockets(this.connection);
    const onError = (error: unknown) => log(`send failed: ${String(error)}`);
    this.#senders = {
      shell: new OrderedSender(this.#sockets.shell, onError),
      control: new OrderedSender(this.#sockets.control, onError),
      iopub: new OrderedSender(this.#sockets.iopub, onError),
      stdin: new OrderedSender(this.#sockets.stdin, onError),
    };
    this.#output.captureProcessStreams();
    process.exit = ((code?: unknown) => this.#exitFromUserCode(code)) as typeof process.exit;
    this.#installBridge();
    this.#sockets.control.onMessage((frames, runningCell) => void this.#handleFrames(frames, (message) => this.#handleControl(message, runningCell), "control"));
    void this.#receive(this.#sockets.shell, (message) => this.#enqueue(message), "shell");
    void this.#receive(this.#sockets.stdin, (message) => this.#inputReply(message), "stdin");
    void this.#shellLoop();
    this.#publishStatus("starting", undefined);
  }

  /** SIGINT, or interrupt_request: stop the running cell and tell the library. */
  interrupt(): void {
    const running = this.#running;
    if (!running) return;
    for (const pending of this.#inputs.values()) pending.reject(new Error("interrupted while waiting for input"));
    this.#inputs.clear();
    this.#executor.interrupt();
    running.abort.abort();
    this.#notifyInterrupted(running);
  }

  /** Once per cell: a SIGINT that breaks sync code reaches Node's vm, not our signal handler. */
  #notifyInterrupted(running: CellContext): void {
    if (this.#interrupted) return;
    this.#interrupted = true;
    for (const listener of running.interruptListeners) {
      try {
        listener();
      } catch (error) {
        log(`interrupt listener failed: ${String(error)}`);
      }
    }
  }

  /** Node's own process.exit, kept: the one user code sees asks the kernel to end (see start). */
  readonly #processExit = process.exit.bind(process);
  /** The exit code a cell asked for with process.exit(), until the kernel has ended. */
  #exitCode: number | undefined;

  get exiting(): boolean {
    return this.#exitCode !== undefined;
  }

  /** Shut down (the library's cleanup, output flushed, sockets closed in order), then end. */
  async exit(code: number): Promise<never> {
    try {
      await this.shutdown();
    } finally {
      this.#processExit(code);
    }
    throw new Error("unreachable");
  }

  /**
   * process.exit() from user code: ending at once, with zeromq's sockets open, aborts the process
   * in zeromq's native code and loses the cell's output and reply. As ipykernel does for exit(),
   * stop the code that called it, send what the cell printed and its reply, then end.
   */
  #exitFromUserCode(code: unknown): never {
    this.#exitCode ??= typeof code === "number" && Number.isInteger(code) ? code : Number(code ?? process.exitCode ?? 0) || 0;
    if (!this.#running) setImmediate(() => void this.exit(this.#exitCode!));
    throw new KernelExit(this.#exitCode);
  }

  async shutdown(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const listeners = [...this.#shutdownListeners].map(async (listener) => listener());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(listeners),
      new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS))),
    ]);
    clearTimeout(timer);
    this.#output.flush();
    await Promise.all(Object.values(this.#senders).map((sender) => sender.drained()));
    this.#executor.close();
    await closeSockets(this.#sockets);
  }

  // --- transport -------------------------------------------------------------------------------

  async #receive(socket: zmq.Router, handle: (message: Message) => void | Promise<void>, channel: "shell" | "stdin"): Promise<void> {
    try {
      for await (const frames of socket) await this.#handleFrames(frames, handle, channel);
    } catch (error) {
      if (!this.#closing) log(`socket loop ended: ${String(error)}`);
    }
  }

  /**
   * A message that cannot be read is logged and dropped; the kernel serves on. A request whose
   * header could be read (and whose signature holds) is answered with an error reply instead, so
   * that its sender does not wait for a reply that never comes: a shell request in its turn, a
   * control request at once, each between busy and idle like any other.
   */
  async #handleFrames(frames: Buffer[], handle: (message: Message) => void | Promise<void>, channel: "shell" | "control" | "stdin"): Promise<void> {
    let message: Message;
    try {
      message = parse(frames, this.#key);
    } catch (error) {
      if (!(error instanceof WireError)) throw error;
      const request = error.request;
      if (request && channel !== "stdin" && request.header.msg_type.endsWith("_request")) {
        log(`answered a malformed message with an error: ${error.message}`);
        const message: Message = { ...request, parent_header: {}, metadata: {}, content: {}, buffers: [] };
        if (channel === "shell") {
          this.#enqueue(message, error.message);
        } else {
          this.#publishStatus("busy", message);
          this.#replyUnreadable(channel, message, error.message);
          this.#publishStatus("idle", message);
        }
      } else {
        log(`dropped a message: ${error.message}`);
      }
      return;
    }
    try {
      await handle(message);
    } catch (error) {
      log(`failed to handle ${message.header.msg_type}: ${(error as Error).stack ?? String(error)}`);
    }
  }

  #replyUnreadable(channel: "shell" | "control", request: Message, why: string): void {
    this.#replyError(channel, request, "MalformedMessage", `${why}; the request was not run: send each frame as a JSON object`);
  }

  /** An error reply to a request that was not run (its reply type, and the execution count where the reply has one). */
  #replyError(channel: "shell" | "control", request: Message, ename: string, evalue: string): void {
    const type = request.header.msg_type;
    const count = type === "execute_request" ? { execution_count: this.#executionCount } : {};
    this.#reply(channel, request, type.replace(/_request$/, "_reply"), { status: "error", ...count, ename, evalue, traceback: [] });
  }

  /** Answer `request` on its channel; returns the new message's id. */
  #reply(channel: "shell" | "control" | "stdin", request: Message, msgType: string, content: Content): string {
    const header = newHeader(msgType, this.#session);
    const frames = serialize(
      { identities: request.identities, header, parent_header: request.header, metadata: {}, content },
      this.#key,
    );
    void this.#senders[channel].send(frames);
    return header.msg_id;
  }

  #publish(msgType: string, content: Content, parent: Message | undefined): void {
    const frames = serialize(
      {
        identities: [Buffer.from(`kernel.${this.#session}.${msgType}`)],
        header: newHeader(msgType, this.#session),
        parent_header: parent?.header ?? {},
        metadata: {},
        content,
      },
      this.#key,
    );
    void this.#senders.iopub.send(frames);
  }

  #publishStatus(state: "starting" | "busy" | "idle", parent: Message | undefined): void {
    this.#output.flush();
    this.#publish("status", { execution_state: state }, parent);
  }

  // --- control ---------------------------------------------------------------------------------

  /** `runningCell`: the cell that was running when the message arrived (0: none). */
  async #handleControl(message: Message, runningCell: number): Promise<void> {
    const type = message.header.msg_type;
    this.#publishStatus("busy", message);
    try {
      if (type === "interrupt_request") {
        // The control thread has already raised SIGINT, which interrupts. But Node's SIGINT
        // watchdog (vm's breakOnSigint, the type-check's watch) can drop a SIGINT that lands as it
        // stops, so a cell still running here (its event loop turned: it awaits) is interrupted
        // here too; only the cell the message came for, not the next one if it ended meanwhile.
        if (!RAISES_SIGINT || (runningCell !== 0 && runningCell === this.#runningCell)) this.interrupt();
        this.#reply("control", message, "interrupt_reply", { status: "ok" });
      } else if (type === "shutdown_request") {
        await this.#shutdownRequest(message, "control");
      } else if (type === "kernel_info_request") {
        this.#reply("control", message, "kernel_info_reply", kernelInfo());
      } else {
        log(`unknown control message type ${JSON.stringify(type)}; ignored`);
      }
    } finally {
      if (!this.#closing) this.#publishStatus("idle", message);
    }
  }

  async #shutdownRequest(message: Message, channel: "shell" | "control"): Promise<void> {
    const restart = message.content.restart === true;
    this.#reply(channel, message, "shutdown_reply", { status: "ok", restart });
    this.#publishStatus("idle", message);
    await this.exit(0);
  }

  // --- shell -----------------------------------------------------------------------------------

  #enqueue(message: Message, unreadable?: string): void {
    this.#queue.push({ message, aborted: false, unreadable });
    this.#wakeShellLoop?.();
  }

  async #shellLoop(): Promise<void> {
    while (!this.#closing) {
      const next = this.#queue.shift();
      if (!next) {
        await new Promise<void>((resolve) => (this.#wakeShellLoop = resolve));
        this.#wakeShellLoop = undefined;
        continue;
      }
      try {
        await this.#handleShell(next);
      } catch (error) {
        log(`failed to handle ${next.message.header.msg_type}: ${(error as Error).stack ?? String(error)}`);
      }
      if (this.#exitCode !== undefined) await this.exit(this.#exitCode);
    }
  }

  async #handleShell({ message, aborted, unreadable }: Pending): Promise<void> {
    const type = message.header.msg_type;
    const content = message.content;
    this.#publishStatus("busy", message);
    try {
      if (unreadable !== undefined) {
        this.#replyUnreadable("shell", message, unreadable);
        return;
      }
      const problem = contentProblem(type, content);
      if (problem !== undefined) {
        this.#replyError("shell", message, "TypeError", problem);
        return;
      }
      switch (type) {
        case "execute_request":
          if (aborted) this.#reply("shell", message, "execute_reply", { status: "aborted", execution_count: this.#executionCount });
          else await this.#execute(message, content as unknown as ExecuteRequest);
          break;
        case "kernel_info_request":
          this.#reply("shell", message, "kernel_info_reply", kernelInfo());
          // A client that asked is about to send cells: get the compiler ready meanwhile.
          setImmediate(() => this.#executor.warmUp());
          break;
        case "is_complete_request":
          this.#reply("shell", message, "is_complete_reply", this.#executor.isComplete(String(content.code ?? "")));
          break;
        case "complete_request": {
          const code = String(content.code ?? "");
          const { matches, cursorStart, cursorEnd } = this.#executor.complete(code, Number(content.cursor_pos ?? code.length));
          this.#reply("shell", message, "complete_reply", { status: "ok", matches, cursor_start: cursorStart, cursor_end: cursorEnd, metadata: {} });
          break;
        }
        case "inspect_request": {
          const code = String(content.code ?? "");
          const text = this.#executor.inspect(code, Number(content.cursor_pos ?? code.length));
          this.#reply("shell", message, "inspect_reply", { status: "ok", found: text !== undefined, data: text === undefined ? {} : { "text/plain": text }, metadata: {} });
          break;
        }
        case "history_request":
          this.#reply("shell", message, "history_reply", { status: "ok", history: this.#historyFor(content) });
          break;
        case "comm_info_request":
          this.#reply("shell", message, "comm_info_reply", { status: "ok", comms: {} });
          break;
        case "shutdown_request":
          await this.#shutdownRequest(message, "shell");
          break;
        case "comm_open":
          // No comm targets exist: say so the way ipykernel does, by closing it.
          this.#output.send("comm_close", { comm_id: content.comm_id, data: {} }, message);
          break;
        case "comm_msg":
        case "comm_close":
          break;
        default:
          log(`unknown shell message type ${JSON.stringify(type)}; ignored`);
      }
    } finally {
      if (!this.#closing) this.#publishStatus("idle", message);
    }
  }

  #historyFor(content: Content) {
    const withOutput = content.output === true;
    switch (content.hist_access_type) {
      case "range":
        return this.#history.range(Number(content.start ?? 1), content.stop == null ? undefined : Number(content.stop), withOutput);
      case "search":
        return this.#history.search(String(content.pattern ?? "*"), content.n == null ? undefined : Number(content.n), content.unique === true, withOutput);
      default:
        return this.#history.tail(Number(content.n ?? 10), withOutput);
    }
  }

  async #execute(message: Message, request: ExecuteRequest): Promise<void> {
    const silent = request.silent === true;
    const storeHistory = !silent && request.store_history !== false;
    if (storeHistory) this.#executionCount++;
    const count = this.#executionCount;
    const code = String(request.code ?? "");
    if (!silent) this.#output.send("execute_input", { code, execution_count: count }, message);
    if (storeHistory) this.#history.add(count, code);

    const context: CellContext = { request: message, abort: new AbortController(), displayIds: new Set(), interruptListeners: new Set() };
    this.#running = context;
    this.#runningCell = ++this.#cellsRun;
    this.#sockets.control.setRunningCell(this.#runningCell);
    this.#interrupted = false;
    // The cell may block the event loop at once: busy and execute_input must be handed to zeromq
    // (whose own thread puts them on the wire) before it starts, or the frontend shows idle.
    await this.#senders.iopub.drained();
    let outcome: CellOutcome;
    try {
      const cellName = storeHistory ? `In[${count}]` : `<unnumbered cell ${++this.#unnumbered}>`;
      outcome = await this.#output.run(context, () => this.#executor.execute(code, cellName, context.abort.signal));
      if (outcome.status === "ok" && outcome.hasValue && !silent) {
        const value = outcome.value;
        outcome = await this.#output.run(context, async () => {
          try {
            const liveId = liveDisplayId(value);
            // A live object keeps its own output up to date: show that output, once per cell.
            if (liveId !== undefined && context.displayIds.has(liveId)) return { status: "ok", hasValue: false } as const;
            const data = await toBundle(value, {
              sync: callInterruptibly,
              wait: (promise) => untilAborted(promise, context.abort.signal),
            });
            if (liveId !== undefined) {
              context.displayIds.add(liveId);
              this.#output.send("display_data", { data, metadata: {}, transient: { display_id: liveId } }, message);
            } else {
              this.#output.send("execute_result", { execution_count: count, data, metadata: {} }, message);
            }
            if (storeHistory) this.#history.setOutput(count, data["text/plain"]);
            return { status: "ok", hasValue: false } as const;
          } catch (thrown) {
            return { status: "error", error: this.#executor.describeError(thrown), interrupted: isInterruption(thrown) } as const;
          }
        });
      }
      if (outcome.status === "error" && outcome.interrupted) this.#notifyInterrupted(context);
    } finally {
      this.#running = undefined;
      this.#runningCell = 0;
      this.#sockets.control.setRunningCell(0);
    }
    if (outcome.status === "error" && this.#interrupted) {
      const { traceback } = outcome.error;
      // The traceback is what a frontend shows: its first line names the interrupt as the ename
      // does (not the "Error: Interrupted asynchronously" the await was stopped with) and says what
      // became of what the cell started; the lines after it still say where the cell was.
      const first = traceback[0]?.startsWith(`${INTERRUPTED}:`)
        ? traceback[0]
        : `${INTERRUPTED}: the cell was interrupted; the processes and programs it started are ended. Run it again to start over.`;
      // The code Node gives a stopped loop is no news to the reader: the first line says it.
      const rest = traceback.slice(1).filter((line) => !/^\s*\{ code: 'ERR_SCRIPT_EXECUTION_INTERRUPTED' \}$/.test(line));
      outcome.error = { ...outcome.error, ename: INTERRUPTED, evalue: `the cell was interrupted (${outcome.error.evalue})`, traceback: [first, ...rest] };
    }

    const userExpressions = this.#userExpressions(request.user_expressions);
    if (outcome.status === "ok" || this.#exitCode !== undefined) {
      this.#reply("shell", message, "execute_reply", { status: "ok", execution_count: count, user_expressions: userExpressions, payload: [] });
      return;
    }
    const { error } = outcome;
    if (request.stop_on_error !== false) {
      // As ipykernel does: what was sent behind a failed cell is answered "aborted". The cell may
      // have blocked the event loop, so first let the receive loop take what has arrived; and do
      // it before replying, so that nothing sent after the reply is caught.
      for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
      for (const pending of this.#queue) if (pending.message.header.msg_type === "execute_request") pending.aborted = true;
    }
    this.#output.send("error", { ...error }, message);
    this.#reply("shell", message, "execute_reply", { status: "error", execution_count: count, ...error, user_expressions: userExpressions, payload: [] });
  }

  /** user_expressions are looked up in the notebook's variables, not evaluated as code. */
  #userExpressions(expressions: Record<string, string> | undefined): Content {
    const result: Content = {};
    const locals = (globalThis as { __tslab__?: { exports: Record<string, unknown> } }).__tslab__?.exports ?? {};
    for (const [name, expression] of Object.entries(expressions ?? {})) {
      if (Object.hasOwn(locals, expression)) {
        result[name] = { status: "ok", data: { "text/plain": plainText(locals[expression]) }, metadata: {} };
      } else {
        result[name] = { status: "error", ename: "NameError", evalue: `${JSON.stringify(expression)} is not a variable defined by a cell`, traceback: [] };
      }
    }
    return result;
  }

  // --- stdin ------------------------------------------------------------------------------------

  /** Ask the frontend that sent the running cell for a line, as ipykernel's input() does. */
  #input(prompt: string, password: boolean): Promise<string> {
    const request = this.#output.cells.getStore()?.request;
    if (!request) return Promise.reject(new Error("input() can only ask while a cell runs"));
    if (request.content.allow_stdin !== true) {
      return Promise.reject(
        new Error("input() is not available here: the frontend that ran this cell does not take input (allow_stdin is false)"),
      );
    }
    this.#output.flush();
    const msgId = this.#reply("stdin", request, "input_request", { prompt, password });
    return new Promise((resolve, reject) => this.#inputs.set(msgId, { resolve, reject }));
  }

  #inputReply(message: Message): void {
    // jupyter_client sends input_reply without a parent header, so like ipykernel take the reply
    // as the answer to the request waiting longest when its parent does not say otherwise.
    const parentId = (message.parent_header as { msg_id?: string }).msg_id;
    const msgId = parentId !== undefined && this.#inputs.has(parentId) ? parentId : this.#inputs.keys().next().value;
    if (message.header.msg_type !== "input_reply" || msgId === undefined) {
      log(`unexpected ${message.header.msg_type} on stdin; ignored`);
      return;
    }
    const pending = this.#inputs.get(msgId)!;
    this.#inputs.delete(msgId);
    pending.resolve(String(message.content.value ?? ""));
  }

  // --- the library's way in --------------------------------------------------------------------

  #installBridge(): void {
    const display = (bundle: MimeBundle, options: DisplayOptions = {}) => {
      const transient = options.displayId ? { display_id: options.displayId } : {};
      const content = { data: bundle, metadata: options.metadata ?? {}, transient };
      const cell = this.#output.current();
      const parent = cell?.request;
      if (options.displayId && !options.update) cell?.displayIds.add(options.displayId);
      if (options.update) {
        // An update reaches every output with this id, whichever cell it is in.
        this.#output.send("update_display_data", content, parent);
      } else {
        this.#output.send("display_data", content, parent);
      }
    };
    const bridge: KernelBridge = {
      display,
      clearOutput: (wait) => this.#output.send("clear_output", { wait }),
      onInterrupt: (listener) => {
        const listeners = this.#output.cells.getStore()?.interruptListeners;
        listeners?.add(listener);
        return () => listeners?.delete(listener);
      },
      onShutdown: (listener) => {
        this.#shutdownListeners.add(listener);
        return () => this.#shutdownListeners.delete(listener);
      },
      input: (prompt, { password }) => this.#input(prompt, password),
      declarations: () => this.#executor.declarations,
    };
    (globalThis as { [KERNEL_BRIDGE]?: KernelBridge })[KERNEL_BRIDGE] = bridge;
    // `tslab.display` and `tslab.newDisplay()` send through this hook of tslab's.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tslabJupyter = require("tslab/dist/jupyter") as { lastWriteDisplayData: unknown };
    tslabJupyter.lastWriteDisplayData = (
      message: { data: MimeBundle; metadata?: Record<string, unknown>; transient?: { display_id?: string } },
      update: boolean,
    ) => display(message.data, { displayId: message.transient?.display_id, update, metadata: message.metadata });
  }
}
