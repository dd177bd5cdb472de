/**
 * A ZeroMQ client of a Jupyter kernel: shell and control requests matched to their replies by
 * msg_id, and every IOPub message handed to a listener. Built on kernel/wire, no protocol logic.
 */
import { randomUUID } from "node:crypto";
import { Dealer, Subscriber } from "zeromq";
import { endpoint, newHeader, parse, serialize, type ConnectionInfo, type Message, type SigningKey } from "../wire";

export type Channel = "shell" | "control";

export interface PendingRequest {
  msgId: string;
  /** The reply on the same channel; rejected when the client is closed first. */
  reply: Promise<Message>;
}

export class ClientClosedError extends Error {
  override name = "ClientClosedError";
}

export class KernelClient {
  readonly session = randomUUID();
  readonly #key: SigningKey;
  readonly #shell: Dealer;
  readonly #control: Dealer;
  readonly #iopub: Subscriber;
  readonly #pending = new Map<string, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  readonly #iopubListeners = new Set<(message: Message) => void>();
  #closed = false;

  constructor(connection: ConnectionInfo) {
    this.#key = { scheme: connection.signature_scheme, key: connection.key };
    const options = { linger: 0, routingId: this.session.slice(0, 8) + "-" + randomUUID().slice(0, 8) };
    this.#shell = new Dealer(options);
    this.#control = new Dealer({ linger: 0 });
    this.#iopub = new Subscriber({ linger: 0 });
    this.#shell.connect(endpoint(connection, connection.shell_port));
    this.#control.connect(endpoint(connection, connection.control_port));
    this.#iopub.connect(endpoint(connection, connection.iopub_port));
    this.#iopub.subscribe();
    void this.#readReplies(this.#shell);
    void this.#readReplies(this.#control);
    void this.#readIopub();
  }

  /** Listen to every IOPub message; returns a function that stops listening. */
  onIopub(listener: (message: Message) => void): () => void {
    this.#iopubListeners.add(listener);
    return () => this.#iopubListeners.delete(listener);
  }

  request(channel: Channel, msgType: string, content: Record<string, unknown>): PendingRequest {
    if (this.#closed) throw new ClientClosedError("kernel client is closed");
    const header = newHeader(msgType, this.session);
    const reply = new Promise<Message>((resolve, reject) => this.#pending.set(header.msg_id, { resolve, reject }));
    reply.catch(() => {}); // a caller that stopped waiting must not cause an unhandled rejection
    const frames = serialize({ identities: [], header, parent_header: {}, metadata: {}, content }, this.#key);
    const socket = channel === "shell" ? this.#shell : this.#control;
    socket.send(frames).catch((error: Error) => this.#settle(header.msg_id, undefined, error));
    return { msgId: header.msg_id, reply };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of [this.#shell, this.#control, this.#iopub]) socket.close();
    for (const id of [...this.#pending.keys()]) this.#settle(id, undefined, new ClientClosedError("kernel client closed"));
  }

  #settle(msgId: string, message: Message | undefined, error?: Error): void {
    const pending = this.#pending.get(msgId);
    if (!pending) return;
    this.#pending.delete(msgId);
    if (message) pending.resolve(message);
    else pending.reject(error ?? new Error("no reply"));
  }

  #parse(frames: Buffer[]): Message | undefined {
    try {
      return parse(frames, this.#key);
    } catch (error) {
      // Not fatal: say so where the run's progress goes, and go on with the next message.
      process.stderr.write(`forklab: dropped a message from the kernel: ${(error as Error).message}\n`);
      return undefined;
    }
  }

  async #readReplies(socket: Dealer): Promise<void> {
    for await (const frames of loop(socket)) {
      const message = this.#parse(frames);
      const parentId = (message?.parent_header as { msg_id?: string } | undefined)?.msg_id;
      if (message && parentId) this.#settle(parentId, message);
    }
  }

  async #readIopub(): Promise<void> {
    for await (const frames of loop(this.#iopub)) {
      const message = this.#parse(frames);
      if (message) for (const listener of [...this.#iopubListeners]) listener(message);
    }
  }
}

/** Receive until the socket is closed. */
async function* loop(socket: Dealer | Subscriber): AsyncGenerator<Buffer[]> {
  while (!socket.closed) {
    try {
      yield (await socket.receive()) as Buffer[];
    } catch {
      return; // closed, or broken beyond use: the runner notices through its deadlines
    }
  }
}

/** The msg_id of the request a message answers, if any. */
export function parentMsgId(message: Message): string | undefined {
  return (message.parent_header as { msg_id?: string }).msg_id;
}
