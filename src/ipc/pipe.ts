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
 * nor be sent on). A copy that comes back to that process (inside an item, as a task's result)
 * was received like any other: it counts until it is closed. If the process that called Pipe() ends, the items it held are gone, and the
 * ends elsewhere see EOF as well.
 *
 * The other way round, send() rejects with BrokenPipeError once no copy of the other end is open
 * (closed, or held only by processes that ended), as Python's does once every copy is closed: at
 * once in the process that called Pipe(); elsewhere once the owner's word has come (it tells the
 * holders when it happens, and drops what is sent after, which nobody could read). A one-way
 * pipe's reading end, which sends nothing, is counted as held on a direction of its own that
 * carries nothing.
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
import { preview } from "./store";
import { BrokenPipeError } from "./errors";
import { Failure } from "./wire";

const PIPE_HANDLE = "forklab.pipe";
const HOLD_WRITER = Symbol("holdWriter");

/**
 * One end of a pipe: what it sends into and receives from (each direction a queue), and who holds
 * it. A direction's writing side counts the processes holding the end that sends into it (the
 * other end reads EOF once they are gone); so an end's `presence` is its `out`, and a one-way
 * pipe's reading end, which sends nothing, is counted on a direction of its own that carries
 * nothing. `peer` is the other end's presence: once it is gone, send() has nobody to reach.
 */
interface EndBackends {
  out?: QueueBackend;
  in?: QueueBackend;
  presence: QueueBackend;
  peer?: QueueBackend;
}

export class Connection<T = unknown> {
  readonly #out: QueueBackend | undefined;
  readonly #in: QueueBackend | undefined;
  readonly #presence: QueueBackend;
  readonly #peer: QueueBackend | undefined;
  #closed = false;
  /** This copy came from another process (else Pipe() made it here). */
  #received = false;

  /** Made by Pipe(); not constructed directly. */
  constructor(ends: EndBackends) {
    const { out, in: inbound, presence, peer } = ends;
    this.#out = out;
    this.#in = inbound;
    this.#presence = presence;
    this.#peer = peer;
    // An end counts as held from the moment it is sent (see Store.lendWriter), unless what carried
    // it was not sent after all.
    makeHandleable(this, (context) => {
      // As Python's: a closed handle cannot be pickled. Sent, it would reopen the end elsewhere.
      if (this.#closed) throw new Error(`${closedHere("Connection")}; a closed copy cannot be sent: send a copy that is still open`);
      const ended = endedHere(presence);
      if (ended !== undefined) {
        const after = out ? "its other end reads EOF; sent now, it would send after that EOF" : "its other end's send() fails; sent now, it would read again";
        throw new Error(`Connection: this end's pipe has ended (${ended}) and ${after}: create a new Pipe() for this process`);
      }
      const state = {
        out: out?.state(),
        in: inbound?.state(),
        // "out" and "in" where they are those: one queue is one proxy in the receiver.
        presence: presence === out ? "out" : presence.state(),
        peer: peer === undefined ? undefined : peer === inbound ? "in" : peer.state(),
        token: presence.lendWriter(context),
      };
      onUnsent(() => presence.unlendWriter(state.token));
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
    const broken = (this.#peer && endedHere(this.#peer)) ?? (out instanceof RemoteBackend ? out.broken : undefined);
    if (broken !== undefined) {
      throw new BrokenPipeError(`Connection.send(): ${broken}, and no copy of it is open anywhere: nothing can receive ${preview(value)}, so it was not sent; create a new Pipe()`);
    }
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
    this.#presence.closeWriter(this.#received);
  }

  /** This end arrived in another process: it now holds it (see the top of this file). */
  [HOLD_WRITER](token: number | undefined): void {
    this.#received = true;
    this.#presence.holdWriter(token);
  }

  [util.inspect.custom](): string {
    return `<Connection ${this.readable ? "r" : ""}${this.writable ? "w" : ""}${this.#closed ? " closed" : ""}>`;
  }
}

/**
 * Why an end of the pipe this process owns is gone, if it is: every copy of it sent away was let
 * go, and the copy here counts as closed (see the top of this file).
 */
function endedHere(presence: QueueBackend): string | undefined {
  return presence instanceof LocalBackend && presence.store.writerClosed ? presence.store.endReason : undefined;
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
  if (!duplex) {
    const readerHeld = new LocalBackend("Pipe", 0);
    ab.readBy(readerHeld);
    return [new Connection<T>({ in: ab, presence: readerHeld }), new Connection<T>({ out: ab, presence: ab, peer: readerHeld })];
  }
  const ba = new LocalBackend("Pipe", 0);
  ab.readBy(ba);
  ba.readBy(ab);
  return [new Connection<T>({ out: ab, in: ba, presence: ab, peer: ba }), new Connection<T>({ out: ba, in: ab, presence: ba, peer: ab })];
}

registerHandleKind(PIPE_HANDLE, (state) => {
  const sent = state as { out?: BackendState; in?: BackendState; presence: BackendState | "out"; peer?: BackendState | "in"; token: number };
  const out = sent.out && backendFor(sent.out);
  const inbound = sent.in && backendFor(sent.in);
  // A handle without presence is an end's writing side alone, as they were once encoded.
  const presence = sent.presence === "out" || sent.presence === undefined ? out! : backendFor(sent.presence);
  const peer = sent.peer === "in" ? inbound : sent.peer && backendFor(sent.peer);
  const connection = new Connection({ out, in: inbound, presence, peer });
  connection[HOLD_WRITER](sent.token);
  return connection;
});
