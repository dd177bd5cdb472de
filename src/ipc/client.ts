/**
 * The proxy's side: one connection per owner socket per process, shared by every queue of that
 * owner. Requests carry ids; everything this process sends in one tick goes out in one write
 * (Outbox). The socket keeps this process alive only while something is awaited (a child blocked
 * in get() stays, an idle child may end).
 *
 * A queue this process gets from has a Consumer here. A consumer that calls get() again soon
 * after the last one returned (a loop that streams items) is sent items ahead of need, up to a
 * window not yet returned that grows each time it runs dry (to WINDOW), and get() serves from
 * that buffer. One that comes back later (it works on each item, as a CPU-bound task does) is sent
 * one item per get(), as Python's Queue gives it: items held ahead by a busy process would wait
 * there while another consumer waits for work. The item a get() returns is acknowledged, and the
 * ack written (to the ring, or the socket) before the caller sees it, so a consumer that dies
 * loses at most the item its get() returned; what it was sent and had not returned goes back to
 * the queue (the owner sees the connection close, and reads what the ring still holds first).
 */
import { connect, type Socket } from "node:net";
import { dirname } from "node:path";
import { childState } from "../protocol/messages";
import { receivedItem, type PackedItem } from "./items";
import { setLongTimeout, type LongTimer } from "../parent/timeouts";
import { createRingFile, RingLink } from "./ring-link";
import { Failure, FrameDecoder, Op, Outbox, SHARED, SocketConduit, encodeFrame, itemOf, type Frame } from "./wire";

/** Items a consumer may hold that its get() has not returned yet (the owner also bounds their bytes). */
export const WINDOW = 128;

/**
 * A get() called within this many ms of the last one's return streams: items sent ahead save it
 * a round trip to the owner (tens of µs) per item. Later than this, that round trip is a few
 * percent of the time between gets at most, and items held ahead would only keep work from
 * other consumers.
 */
export const STREAMING_GAP_MS = 1;

/** The most one read takes from the owner's socket (a larger frame arrives in several). */
const READ_BYTES = 64 * 1024;

/** Why an operation failed, for the queue to word: no item, no room, too many taskDone(), end of a pipe. */
export class QueueFailure extends Error {
  constructor(
    readonly failure: Failure,
    /** For Eof: why the pipe ended (which process ended, or that the other end closed). */
    readonly reason = "",
  ) {
    super(`queue operation failed (${failure})`);
  }
}

interface Pending {
  resolve: (frame: Frame) => void;
  reject: (error: Error) => void;
}

interface Buffered extends PackedItem {
  seq: number;
}

interface Getter {
  resolve: (item: PackedItem) => void;
  reject: (error: Error) => void;
  timer?: LongTimer;
}

export class OwnerLink {
  readonly path: string;
  readonly ownerPid: number;
  readonly out: Outbox;
  readonly #socket: Socket;
  readonly #ring: RingLink | undefined;
  readonly #pending = new Map<number, Pending>();
  readonly #consumers = new Map<number, Consumer>();
  /** Pipe directions whose reading end no process holds any more (the owner said so), and why. */
  readonly broken = new Map<number, string>();
  #nextRequest = 1;
  /** Things awaited (requests, waiting gets, writes not yet with the OS): the socket is referenced while > 0. */
  #holds = 0;
  #gone: Error | undefined;

  constructor(path: string, ownerPid: number) {
    this.path = path;
    this.ownerPid = ownerPid;
    // Reads land in one buffer of this link's (net's onread), not in a stream: no readable
    // stream's work per read, on the path every item a consumer gets takes. The next read
    // overwrites the buffer (and a ring is written again once read): what #answer keeps of a
    // frame's payload it copies or unpacks there.
    const decoder = new FrameDecoder({ reusedReads: true, lentPayloads: true });
    const onFrame = (frame: Frame) => this.#answer(frame);
    const readBuffer = Buffer.allocUnsafeSlow(READ_BYTES);
    // Frames go on rings in memory shared with the owner where this process can map them, the
    // socket carrying only wake-ups (ring-link.ts); else on the socket.
    const ringFile = createRingFile(dirname(path));
    this.#socket = connect({
      path,
      onread: {
        buffer: readBuffer,
        callback: (length) => {
          try {
            if (this.#ring) this.#ring.wake();
            else decoder.push(readBuffer.subarray(0, length), onFrame);
          } catch (error) {
            // What the owner sent cannot be read: this link is over (its waits fail, the owner
            // takes back what it sent here), rather than stuck with half a conversation.
            this.#socket.destroy(error as Error);
          }
          return true;
        },
      },
    });
    this.#socket.unref();
    this.#ring = ringFile && new RingLink(ringFile.memory, "proxy", this.#socket, onFrame, { lentPayloads: true });
    this.out = new Outbox(this.#ring ? this.#ring.conduit : new SocketConduit(this.#socket));
    this.out.onPending = (pending) => (pending ? this.hold() : this.release());
    this.#socket.on("error", (error) => this.#lost(error));
    this.#socket.on("close", () => this.#lost());
    const name = childState()?.proc.name ?? "MainProcess";
    const hello = Buffer.from(JSON.stringify({ pid: process.pid, name, ring: ringFile?.name }));
    // The Hello names the ring file, so it goes on the socket; everything after it on the ring.
    if (this.#ring) this.#ring.introduce(encodeFrame(Op.Hello, 0, 0, 0, hello));
    else this.out.add(Op.Hello, 0, 0, 0, hello);
  }

  get gone(): Error | undefined {
    return this.#gone;
  }

  hold(): void {
    if (this.#holds++ === 0) this.#socket.ref();
  }

  release(): void {
    if (--this.#holds === 0) this.#socket.unref();
  }

  /**
   * Send without waiting for an answer; resolves once the bytes are with the OS (they reach the
   * owner even if this process dies then). Nothing to hold: the batch goes out before this turn
   * of the event loop ends, and a write the OS could not take at once holds the socket itself.
   */
  send(op: Op, queue: number, number: number, payload?: Buffer, flags = 0): Promise<void> {
    if (this.#gone) return Promise.reject(this.#gone);
    return this.out.send(op, queue, 0, number, payload, flags);
  }

  /** Send and wait for the owner's answer (Ok or Fail). */
  request(op: Op, queue: number, number: number, payload?: Buffer, flags = 0): Promise<Frame> {
    if (this.#gone) return Promise.reject(this.#gone);
    const id = this.#nextRequest++;
    if (this.#nextRequest > 0xffffffff) this.#nextRequest = 1;
    return new Promise<Frame>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.hold();
      this.out.add(op, queue, id, number, payload, flags);
    });
  }

  /** This process's consumer of queue `queue` (one per queue, whatever the number of proxies). */
  consumer(queue: number): Consumer {
    let consumer = this.#consumers.get(queue);
    if (!consumer) this.#consumers.set(queue, (consumer = new Consumer(this, queue)));
    return consumer;
  }

  #answer(frame: Frame): void {
    if (frame.request === 0 && frame.op === Op.Fail && frame.number === Failure.Broken) {
      this.broken.set(frame.queue, frame.payload.toString("utf8"));
      return;
    }
    if (frame.request === 0) {
      const consumer = this.#consumers.get(frame.queue);
      if (!consumer) return;
      if (frame.op === Op.Item) consumer.receive(frame);
      else if (frame.op === Op.Recall) consumer.recall();
      else if (frame.op === Op.Fail && frame.number === Failure.Eof) consumer.end(frame.payload.toString("utf8"));
      return;
    }
    const pending = this.#pending.get(frame.request);
    if (!pending) return;
    this.#pending.delete(frame.request);
    this.release();
    // The decoder's frame is rewritten for the next one, and its payload is the read's: the answer is a copy.
    pending.resolve({ ...frame, payload: Buffer.from(frame.payload), lent: false });
  }

  #lost(error?: Error): void {
    if (this.#gone) return;
    this.#gone = new Error(
      `The process that owns this queue (pid ${this.ownerPid}) is gone, and its items with it` +
        (error ? ` (${error.message})` : "") +
        `; create queues in a process that outlives the ones using them (usually the notebook)`,
    );
    links.delete(this.path);
    try {
      this.#ring?.closed(this.#gone);
    } finally {
      this.#ring?.release();
      this.out.fail(this.#gone);
      for (const pending of this.#pending.values()) pending.reject(this.#gone);
      this.#pending.clear();
      for (const consumer of this.#consumers.values()) consumer.lost(this.#gone);
      this.#holds = 0;
      this.#socket.unref();
    }
  }
}

/** The items the owner pushed to this process for one queue, and the get() calls waiting for them. */
export class Consumer {
  readonly #link: OwnerLink;
  readonly #queue: number;
  #buffer: Buffered[] = [];
  #head = 0;
  #getters: Getter[] = [];
  /**
   * The owner sends ahead to this process: a Want opened the window and no recall closed it.
   * Alone on the queue, a get() that waits then needs to say nothing; with other consumers
   * (the owner marks its items SHARED) it says Want each time, so that the owner knows it waits.
   */
  #open = false;
  #shared = false;
  /**
   * Items the owner may have out here not yet returned, as last said in a Want: 1 sends one item
   * per Want (the owner closes the window after it); more keeps that many topped up.
   */
  #window = 1;
  /** When the last get() that emptied what was here returned (performance.now()), or undefined before the first. */
  #lastReturn: number | undefined;
  /** A Want was sent and no item arrived since. */
  #wanting = false;
  #recallScheduled = false;
  #ended: string | undefined;

  constructor(link: OwnerLink, queue: number) {
    this.#link = link;
    this.#queue = queue;
  }

  /** Items here that no get() has returned yet. */
  get buffered(): number {
    return this.#buffer.length - this.#head;
  }

  /** Why the queue ended (a pipe whose writer is gone), once nothing is left here. */
  get ended(): string | undefined {
    return this.buffered === 0 ? this.#ended : undefined;
  }

  /**
   * An item held here already comes as it is, its ack written (a stream of gets served from what
   * was sent ahead waits on no promise); else a promise of one.
   */
  get(timeout: number | undefined): PackedItem | Promise<PackedItem> {
    if (this.#link.gone) return Promise.reject(this.#link.gone);
    if (this.buffered > 0 && this.#getters.length === 0) return this.#handOut(this.#take());
    if (this.#ended !== undefined && this.buffered === 0) return Promise.reject(new QueueFailure(Failure.Eof, this.#ended));
    if (timeout === 0) return this.#getNow();
    return new Promise((resolve, reject) => {
      const getter: Getter = { resolve, reject };
      this.#getters.push(getter);
      this.#link.hold();
      if (timeout !== undefined) {
        getter.timer = setLongTimeout(() => {
          const at = this.#getters.indexOf(getter);
          if (at < 0) return;
          this.#getters.splice(at, 1);
          this.#link.release();
          if (this.#getters.length === 0 && this.#wanting) this.#unwant();
          reject(new QueueFailure(Failure.Empty));
        }, timeout);
      }
      // Alone on the queue with a window that stays open, the owner sends what comes unasked.
      const window = this.#nextWindow();
      if (!this.#wanting && (!this.#open || this.#shared || window !== this.#window || window === 1)) {
        this.#window = window;
        this.#wanting = true;
        this.#open = true;
        this.#link.out.add(Op.Want, this.#queue, 0, window);
      }
    });
  }

  /**
   * The window for a get() that found nothing here: doubled (up to WINDOW) if the caller streams,
   * since it ran dry; 1 if it came back after working on the last item.
   */
  #nextWindow(): number {
    const since = this.#lastReturn === undefined ? Infinity : performance.now() - this.#lastReturn;
    return since < STREAMING_GAP_MS ? Math.min(WINDOW, Math.max(2, this.#window * 2)) : 1;
  }

  /**
   * The last get() waiting gave up: the owner must stop counting this process as waiting, or it
   * would send the next item here ahead of a consumer that really waits.
   */
  #unwant(): void {
    this.#wanting = false;
    this.#open = false;
    this.#link.out.add(Op.Want, this.#queue, 0, 0);
  }

  /** getNowait() with nothing here: the owner sends its first item, if any, before it answers. */
  async #getNow(): Promise<PackedItem> {
    const answer = await this.#link.request(Op.Get, this.#queue, 0);
    if (this.buffered > 0) return this.#handOut(this.#take());
    if (answer.op === Op.Fail) throw new QueueFailure(answer.number, answer.payload.toString("utf8"));
    throw new QueueFailure(Failure.Empty);
  }

  receive(frame: Frame): void {
    this.#wanting = false;
    this.#shared = (frame.flags & SHARED) !== 0;
    const { bytes, handles, form } = itemOf(frame);
    const item = receivedItem(bytes, form, handles, frame.lent === true) as Buffered;
    item.seq = frame.number;
    this.#buffer.push(item);
    while (this.#getters.length > 0 && this.buffered > 0) {
      const getter = this.#getters.shift()!;
      getter.timer?.clear();
      this.#link.release();
      const item = this.#handOut(this.#take());
      if (item instanceof Promise) item.then(getter.resolve, getter.reject);
      else getter.resolve(item);
    }
    // More get() calls wait here than the owner was asked for: one item per Want sends no more unasked.
    if (this.#getters.length > 0 && this.buffered === 0 && (this.#window === 1 || this.#shared)) {
      this.#wanting = true;
      this.#link.out.add(Op.Want, this.#queue, 0, this.#window);
    }
  }

  /**
   * Another consumer waits (or tried getNowait()) and the queue is empty: give back what no get()
   * has taken. Looked at after this turn of the event loop, so that a consumer busy getting (its
   * gets run in promise jobs right after the items arrive) has taken what it will take, and only
   * an idle one gives back.
   */
  recall(): void {
    if (this.#recallScheduled) return;
    this.#recallScheduled = true;
    setImmediate(() => {
      this.#recallScheduled = false;
      if (this.#link.gone) return;
      const items = this.#buffer.slice(this.#head);
      this.#buffer = [];
      this.#head = 0;
      // The owner sends nothing more until a get() says it waits; then one item at a time, since
      // another consumer waits, or has come.
      this.#open = false;
      this.#window = 1;
      // Answered even with nothing to give back: until then the owner holds back the later items
      // of any producer whose earlier items this consumer may still give back.
      const seqs = Buffer.allocUnsafe(8 * items.length);
      items.forEach((item, i) => seqs.writeDoubleLE(item.seq, 8 * i));
      this.#link.out.add(Op.Release, this.#queue, 0, 0, seqs);
      // A get() that waited without a word (its window was open) says so now.
      if (this.#getters.length > 0 && !this.#wanting) {
        this.#wanting = true;
        this.#open = true;
        this.#link.out.add(Op.Want, this.#queue, 0, this.#window);
      }
    });
  }

  end(reason: string): void {
    this.#ended = reason;
    if (this.buffered > 0) return;
    for (const getter of this.#getters.splice(0)) {
      getter.timer?.clear();
      this.#link.release();
      getter.reject(new QueueFailure(Failure.Eof, reason));
    }
  }

  lost(error: Error): void {
    for (const getter of this.#getters.splice(0)) (getter.timer?.clear(), getter.reject(error));
  }

  #take(): Buffered {
    const item = this.#buffer[this.#head++]!;
    if (this.#head === this.#buffer.length) {
      this.#buffer = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
      this.#buffer = this.#buffer.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /**
   * The ack goes out (with whatever else waits to go) and is where the owner reads it before the
   * caller has the item: the item once it is, else a promise of it.
   */
  #handOut(item: Buffered): PackedItem | Promise<PackedItem> {
    // Read only by a get() that finds nothing here, which comes after the hand-out that emptied it.
    if (this.buffered === 0) this.#lastReturn = performance.now();
    // Written now, not at the end of the tick: the caller is waiting. Usually it is taken at
    // once, and the item is handed out without waiting on a write. On rings, the owner is woken
    // for it when the last item sent ahead is handed out (it then has room to send more), not
    // for each one.
    const written = this.#link.out.write(Op.Ack, this.#queue, 0, item.seq, this.buffered === 0);
    return written ? written.then(() => item) : item;
  }
}

const links = new Map<string, OwnerLink>();

export function linkTo(path: string, ownerPid: number): OwnerLink {
  let link = links.get(path);
  if (!link) links.set(path, (link = new OwnerLink(path, ownerPid)));
  return link;
}
