/**
 * A connection's frames on two rings (ring.ts) in one file that the proxy creates in the owner's
 * private directory and the owner maps and removes: the proxy writes to the first ring and reads
 * the second, the owner the other way round. The socket stays: the first frame (Hello, naming the
 * file) goes on it, then only wake-up bytes, and its close says that the other process is gone
 * (what that process wrote before it went is still in the ring, and is read then).
 */
import { closeSync, constants, ftruncateSync, fstatSync, openSync, rmSync } from "node:fs";
import type { Socket } from "node:net";
import * as path from "node:path";
import { sharedMemory, sharedMemoryAddon } from "./native";
import { ByteRing, RING_HEADER } from "./ring";
import { FrameDecoder, FrameSpace, SocketConduit, encodeFrameAt, frameBytes, type Conduit, type Frame } from "./wire";

/** Bytes of each ring: room for about 30 000 small items, or 1 000 of 1 KiB, before a writer waits. */
export const RING_BYTES = 1 << 20;
export const RING_FILE_BYTES = 2 * (RING_HEADER + RING_BYTES);
/** What a proxy may name: a file of its own making in the owner's directory, nothing else. */
const RING_FILE = /^r\d+-\d+$/;
const WAKE = Buffer.of(1);
/** Acks written before the owner is woken for them (half of client.ts's WINDOW: it sends more while the rest is got). */
const LAZY_WRITES = 64;

let made = 0;

/** Whether connections from this process carry their frames on rings. */
export function ringsAvailable(): boolean {
  return sharedMemory() !== undefined;
}

/** The proxy's side: a new ring file in `dir` (the owner's directory), mapped; undefined if that cannot be done here. */
export function createRingFile(dir: string): { name: string; memory: ArrayBuffer } | undefined {
  const shm = sharedMemory();
  if (!shm) return undefined;
  const name = `r${process.pid}-${++made}`;
  try {
    const fd = openSync(path.join(dir, name), "wx+", 0o600);
    try {
      ftruncateSync(fd, RING_FILE_BYTES);
      return { name, memory: shm.map(fd, RING_FILE_BYTES) };
    } finally {
      closeSync(fd);
    }
  } catch {
    rmSync(path.join(dir, name), { force: true });
    return undefined;
  }
}

/**
 * The owner's side: maps the file a proxy named in its Hello, and removes it (both sides have it
 * now, or the proxy learns it was refused when its connection is dropped). A name that is not a
 * ring file's is refused without touching anything.
 */
export function openRingFile(dir: string, name: string): ArrayBuffer {
  if (!RING_FILE.test(name)) throw new Error(`not a ring file's name: ${JSON.stringify(name)}`);
  const file = path.join(dir, name);
  try {
    const shm = sharedMemoryAddon();
    if (!shm) throw new Error("this process cannot map shared memory (its shm.node was not built)");
    const fd = openSync(file, constants.O_RDWR | constants.O_NOFOLLOW);
    try {
      const size = fstatSync(fd).size;
      if (size !== RING_FILE_BYTES) throw new Error(`the ring file ${file} holds ${size} bytes, not ${RING_FILE_BYTES}`);
      return shm.map(fd, RING_FILE_BYTES);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(file, { force: true });
  }
}

interface PendingWrite {
  bytes: Buffer;
  done: (error?: Error | null) => void;
}

export class RingLink {
  /** Where the Outbox of this side writes. */
  readonly conduit: Conduit;
  readonly #in: ByteRing;
  readonly #out: ByteRing;
  readonly #socket: Socket;
  /** The socket's own writes, for wake-up bytes. */
  readonly #wakes: SocketConduit;
  readonly #decoder: FrameDecoder;
  readonly #onFrame: (frame: Frame) => void;
  /** Bytes that found no room in the ring: written as the reader frees some (it wakes this side). */
  #pending: PendingWrite | undefined;
  #failed: Error | undefined;
  #reading = false;

  /** `lentPayloads`: `onFrame` copies what it keeps of a payload, which is a view of the ring until it returns (see FrameDecoder). */
  constructor(memory: ArrayBuffer, side: "proxy" | "owner", socket: Socket, onFrame: (frame: Frame) => void, options: { lentPayloads?: boolean } = {}) {
    this.#decoder = new FrameDecoder({ reusedReads: true, lentPayloads: options.lentPayloads });
    const first = new ByteRing(memory, 0, RING_BYTES);
    const second = new ByteRing(memory, RING_HEADER + RING_BYTES, RING_BYTES);
    [this.#out, this.#in] = side === "proxy" ? [first, second] : [second, first];
    this.#socket = socket;
    this.#onFrame = onFrame;
    this.#wakes = new SocketConduit(socket);
    const outSpace = new FrameSpace(this.#out.data);
    this.conduit = {
      writeNow: (bytes, urgent) => (this.#canWrite() ? this.#write(bytes, urgent) : 0),
      writeLater: (bytes, done) => {
        if (this.#failed) {
          done(this.#failed);
          return true;
        }
        this.#pending = { bytes, done };
        this.#writePending();
        return this.#pending === undefined;
      },
      writeFrame: (op, queue, request, number, payload, flags, urgent) => {
        if (!this.#canWrite()) return false;
        const size = frameBytes(payload ? payload.length : 0);
        const at = this.#out.reserve(size);
        if (at < 0) return false;
        encodeFrameAt(outSpace, at, op, queue, request, number, payload, flags);
        this.#out.commit(size);
        this.#wrote(urgent);
        return true;
      },
    };
    // The proxy reads nothing until the owner writes: it sleeps from the start. The owner reads
    // what the proxy wrote before its Hello was read (wake()), and sleeps after.
    if (side === "proxy") this.#in.armReader();
    this.#introduced = side === "owner";
    this.#memory = memory;
  }

  readonly #memory: ArrayBuffer;
  /**
   * The owner knows of these rings once it has the Hello that names them: until that is with the
   * OS, nothing written to them counts as sent (this process could die before the owner heard
   * of them), and what is written waits. From then on the owner maps them whatever its own
   * FORKLAB_QUEUE_TRANSPORT says; it drops the connection only if it cannot map them at all (an
   * owner without the addon, or out of memory), and what was written to them is then lost with it.
   * Waiting for the owner's word instead would make every producer's first put wait until the
   * owner's event loop is free, where a socket's kernel buffer lets it put and end meanwhile.
   */
  #introduced: boolean;

  /** The proxy's side: the Hello goes on the socket (naming the rings' file); then frames go on the rings. */
  introduce(hello: Buffer): void {
    this.#socket.write(hello, (error) => {
      if (error) return;
      this.#introduced = true;
      this.#writePending();
    });
  }

  /** A byte came on the socket: the other side wrote to this side's ring, or read from the other. */
  wake(): void {
    this.#read();
    this.#writePending();
  }

  /** Unmaps the rings now, once the connection is over (closed() first): nothing here touches them after. */
  release(): void {
    this.#failed ??= new Error("the connection was released");
    sharedMemoryAddon()?.release(this.#memory);
  }

  /** The socket closed: what the other side wrote before it went is read; what waits to go fails with `error`. */
  closed(error: Error): void {
    this.#read();
    this.#failed = error;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.done(error);
  }

  /** Frames may go on the ring now: the owner knows of it, nothing waits before them, nothing failed. */
  #canWrite(): boolean {
    return this.#introduced && !this.#pending && !this.#failed;
  }

  #write(bytes: Buffer, urgent = true): number {
    const n = this.#out.write(bytes);
    if (n > 0) this.#wrote(urgent);
    return n;
  }

  /** Bytes were published to the other side: wake it now, or for acks soon (see #lazyWrites). */
  #wrote(urgent: boolean): void {
    if (urgent || ++this.#lazyWrites >= LAZY_WRITES) this.#wakeReader();
    else if (!this.#lazyWake) {
      this.#lazyWake = true;
      process.nextTick(this.#wakeReader);
    }
  }

  /**
   * Writes made since the reader was last woken that did not need it at once (acks). They wake
   * it when this process's run of promise jobs ends (a consumer getting what it was sent ahead
   * acks each item in the same run), or every LAZY_WRITES of them: once per batch, not per ack.
   */
  #lazyWrites = 0;
  #lazyWake = false;
  readonly #wakeReader = (): void => {
    this.#lazyWrites = 0;
    this.#lazyWake = false;
    if (!this.#failed && this.#out.takeReaderWaiting()) this.#ring();
  };

  #writePending(): void {
    while (this.#pending && !this.#failed && this.#introduced) {
      const pending = this.#pending;
      const n = this.#write(pending.bytes);
      if (n === pending.bytes.length) {
        this.#pending = undefined;
        pending.done(null);
        return;
      }
      pending.bytes = pending.bytes.subarray(n);
      // Still no room: the reader wakes this side once it has read (or it read meanwhile: go on).
      if (!this.#out.armWriter()) return;
    }
  }

  readonly #take = (bytes: Buffer): void => this.#decoder.push(bytes, this.#onFrame);

  /** Everything unread, then sleep; a frame that fails to be handled ends the reading for good. */
  #read(): void {
    if (this.#reading || this.#failed) return;
    this.#reading = true;
    try {
      do {
        if (this.#in.read(this.#take) > 0 && this.#in.takeWriterWaiting()) this.#ring();
      } while (this.#in.armReader());
    } catch (error) {
      this.#failed = error as Error;
      throw error;
    } finally {
      this.#reading = false;
    }
  }

  /** Wake the other side: one byte on the socket, straight to its descriptor when it can be, else through the stream. */
  #ring(): void {
    if (this.#wakes.writeNow(WAKE) === 0 && !this.#socket.destroyed) this.#socket.write(WAKE);
  }
}
