/**
 * Python's Pipe(duplex): two connections. Each direction is a queue owned by the process that
 * called Pipe(); a connection sends into one and receives from the other, so either end can be
 * passed to any process. recv() at the end of a closed pipe with nothing left rejects with EOFError.
 *
 * close() closes one copy of an end, as Python's closes one file descriptor: the other end sees
 * EOF once no copy of the writing end is open anywhere, not at the first close (a parent that
 * closes its copy after giving one to a child, as Python's docs advise, still reads the child's).
 *
 * The end of a pipe is seen without close() too: an end sent to other processes is held by them,
 * and once every process it was sent to has ended, the other end sees EOF (the copy left in the
 * process that called Pipe() does not count, as if Python's parent had closed its copy after
 * starting the child, as its docs advise; so once the pipe has ended, that copy can neither send
 * nor be sent on). If the process that called Pipe() ends, the items it held are gone, and the
 * ends elsewhere see EOF as well.
 *
 * A writing end counts as held from the moment it is encoded to be sent, under a token (Lend),
 * until the receiver's Attach brings the token back; so an end passed from holder to holder never
 * shows a gap. Where the sender sees the receiver end (its own child: spawn, Process, a Pool
 * worker), an end the receiver never attached is taken back then: by the owner once all the
 * receiver wrote has been read, or, sent on by another process, when that process ends (its
 * children end with it). A Pool worker holds an end passed to a task until the worker ends, not
 * until the task's result: the task may keep the connection (a global, a later task), and the
 * worker's end is the only moment known to be past every use. An end inside a queue's item goes
 * to whoever gets it: it stays held until someone does. An end in an item or a message that was
 * not sent after all (its put failed, or something beside it could not be cloned) holds nothing.
 */
import * as util from "node:util";
import { makeHandleable, onUnsent, registerHandleKind } from "../protocol/handles";
import { EOFError } from "../render/stdin-lines";
import { normalizeTimeout } from "../parent/timeouts";
import { backendFor, LocalBackend, QueueFailure, RemoteBackend, type BackendState, type QueueBackend } from "./backend";
import { packItem, unpackItem } from "./items";
import { Failure } from "./wire";

const PIPE_HANDLE = "forklab.pipe";
const HOLD_WRITER = Symbol("holdWriter");

export class Connection<T = unknown> {
  readonly #out: QueueBackend | undefined;
  readonly #in: QueueBackend | undefined;
  #closed = false;

  /** Made by Pipe(); not constructed directly. */
  constructor(out: QueueBackend | undefined, inbound: QueueBackend | undefined) {
    this.#out = out;
    this.#in = inbound;
    // A writing end counts as held from the moment it is sent (see Store.lendWriter), unless what
    // carried it was not sent after all.
    makeHandleable(this, (context) => {
      // As Python's: a closed handle cannot be pickled. Sent, it would reopen the end elsewhere.
      if (this.#closed) throw new Error(`${closedHere("Connection")}; a closed copy cannot be sent: send a copy that is still open`);
      const ended = out && endedHere(out);
      if (ended !== undefined) {
        throw new Error(`Connection: this end's pipe has ended (${ended}) and its other end reads EOF; sent now, it would send after that EOF: create a new Pipe() for this process`);
      }
      const state = { out: out?.state(), in: inbound?.state(), token: out?.lendWriter(context) };
      if (state.token !== undefined) onUnsent(() => out!.unlendWriter(state.token!));
      return { kind: PIPE_HANDLE, module: __filename, state };
    });
  }

  get readable(): boolean {
    return this.#in !== undefined;
  }

  get writable(): boolean {
    return this.#out !== undefined;
  }

  #check(method: string, backend: QueueBackend | undefined, side: string): QueueBackend {
    if (this.#closed) throw new Error(`${closedHere(`Connection.${method}()`)}; close a connection only once this process is done with it`);
    if (!backend) throw new Error(`Connection.${method}(): this end of a one-way Pipe(false) is ${side}; use the other end`);
    return backend;
  }

  /** Send a value (copied, as by structured clone) to the other end. */
  async send(value: T): Promise<void> {
    const out = this.#check("send", this.#out, "read-only");
    const ended = endedHere(out);
    if (ended !== undefined) throw new Error(`Connection.send(): the pipe has ended (${ended}) and its other end reads EOF; nothing more can be sent through it: create a new Pipe()`);
    const packed = packItem(value, "through a Pipe", out.copiesAtPut);
    try {
      await out.put(packed, undefined);
    } catch (error) {
      packed.unsend?.();
      if (out instanceof RemoteBackend && out.ownerGone) throw ownerEnded("send", out.ownerPid);
      throw error;
    }
  }

  /** The next value sent from the other end; rejects with EOFError once it closed and nothing is left. */
  async recv(): Promise<T> {
    const inbound = this.#check("recv", this.#in, "write-only");
    try {
      return unpackItem(await inbound.get(undefined)) as T;
    } catch (error) {
      if (error instanceof QueueFailure && error.failure === Failure.Eof) {
        throw new EOFError(`Connection.recv(): ${error.reason || "the other end of the pipe was closed"} and nothing is left to receive`);
      }
      if (inbound instanceof RemoteBackend && inbound.ownerGone) throw ownerEnded("recv", inbound.ownerPid);
      throw error;
    }
  }

  /** Whether there is something to recv() (or the other end closed or ended), waiting up to `timeout` seconds (default 0; null: no limit). */
  async poll(timeout: number | null = 0): Promise<boolean> {
    const inbound = this.#check("poll", this.#in, "write-only");
    try {
      return await inbound.poll(normalizeTimeout("Connection.poll()", timeout));
    } catch (error) {
      // At the end, as Python's poll(): recv() will say why.
      if (inbound instanceof RemoteBackend && inbound.ownerGone) return true;
      throw error;
    }
  }

  /**
   * Close this copy of the end: once no copy is open in any process (or held by a living one),
   * the other end's recv() gets EOFError after what was sent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#out?.closeWriter();
  }

  /** This end arrived in another process: it now holds the writing side (see the top of this file). */
  [HOLD_WRITER](token: number | undefined): void {
    this.#out?.holdWriter(token);
  }

  [util.inspect.custom](): string {
    return `<Connection ${this.readable ? "r" : ""}${this.writable ? "w" : ""}${this.#closed ? " closed" : ""}>`;
  }
}

/**
 * Why the pipe this process owns has ended, if it has: every copy of its writing end sent away was
 * let go, and the copy here counts as closed (see the top of this file), so nothing more can go in.
 */
function endedHere(out: QueueBackend): string | undefined {
  return out instanceof LocalBackend && out.store.writerClosed ? out.store.endReason : undefined;
}

const closedHere = (where: string) => `${where}: this connection was closed in this process (pid ${process.pid}) by close()`;

function ownerEnded(method: "send" | "recv", pid: number): Error {
  const what = `Connection.${method}(): the process that called Pipe() (pid ${pid}) ended, and the pipe with it`;
  return method === "recv" ? new EOFError(`${what}; nothing is left to receive`) : new Error(`${what}; nothing can be sent`);
}

/** Python's Pipe(duplex=true): `[a, b]`; with duplex false, a only receives and b only sends. */
export function Pipe<T = unknown>(duplex = true): [Connection<T>, Connection<T>] {
  if (typeof duplex !== "boolean") throw new TypeError(`Pipe(duplex): duplex must be true or false, got ${util.inspect(duplex)}`);
  const ab = new LocalBackend("Pipe", 0);
  if (!duplex) return [new Connection<T>(undefined, ab), new Connection<T>(ab, undefined)];
  const ba = new LocalBackend("Pipe", 0);
  return [new Connection<T>(ab, ba), new Connection<T>(ba, ab)];
}

registerHandleKind(PIPE_HANDLE, (state) => {
  const { out, in: inbound, token } = state as { out?: BackendState; in?: BackendState; token?: number };
  const connection = new Connection(out && backendFor(out), inbound && backendFor(inbound));
  connection[HOLD_WRITER](token);
  return connection;
});
