/**
 * The items of one queue, held by its owner (the process that created it), and everyone waiting
 * on them. No sockets here: the owner's server (server.ts) and the owner's own Queue object both
 * call in. Items are kept as the bytes they were put as.
 *
 * A consumer in another process is a Sink: once it waits it is sent items ahead (at most `window`
 * not yet returned by its get(), and about PREFETCH_BYTES; a window of 1 is one item, and closes
 * until it asks again), and each item its get() returns is acknowledged, which frees room for the
 * next. What it was sent and never returned comes back to the front of the queue when its process
 * ends, or when it is recalled: another consumer (or the owner) waits or tries a getNowait(), the
 * queue is empty, and this one is not waiting.
 *
 * Items are sent ahead only while the queue has one consumer. Once a second one gets from it (a
 * second process, or the owner itself), every consumer is sent one item per get() that waits, as
 * Python's Queue hands them out, and what the first was sent ahead is recalled: an item sent
 * ahead to one consumer and given back later would come out after items of its producer that
 * another consumer already took. Until a recalled consumer has answered, no item of a producer
 * whose earlier items it holds goes to anyone, so that each producer's items come out of every
 * consumer in order (unless a consumer's process ends: what it held comes back then). Local
 * waiters are served in the order they came (a blocked put enters before a later one, so each
 * producer's items stay in its order); a wait ends on an event (an item, room, a timeout), never by polling. Every put and get
 * is recorded here, by the one clock of the owner, which is what the picture of the flow shows.
 */
import * as util from "node:util";
import { setLongTimeout, type LongTimer } from "../parent/timeouts";
import { itemValue, type PackedItem } from "./items";
import type { Outstanding } from "./outstanding";

export interface Entry extends PackedItem {
  /** Order of arrival in this queue, from 1. */
  seq: number;
  /** pid of the process that put it. */
  from: number;
}

/** Withdraws a wait: it is settled no more (its taker gave up another way). */
export type Cancel = () => void;

/** Someone waiting for an item, room, or a poll. `settle` returns false if it can no longer take it (its process left). */
interface Waiter<T> {
  settle(value: T): boolean;
  fail(): void;
  timer?: LongTimer;
  /** Only for a waiting put: the item it brings. */
  entry?: Entry;
  pid: number;
}

export interface FlowEvent {
  /** ms since the queue was created, by the owner's clock. */
  t: number;
  pid: number;
  op: "put" | "get" | "back";
  item: string;
}

export interface Participant {
  pid: number;
  name: string;
  puts: number;
  gets: number;
}

export interface QueueSnapshot {
  kind: "Queue" | "JoinableQueue" | "SimpleQueue" | "Pipe";
  ownerPid: number;
  size: number;
  maxsize: number;
  inFlight: number;
  unfinished?: number;
  participants: Participant[];
  events: FlowEvent[];
  /** Events not kept (only the first MAX_EVENTS are). */
  droppedEvents: number;
  puts: number;
  gets: number;
}

export const MAX_EVENTS = 60;

/** Bytes sent ahead to one consumer at most (one item more if the first is larger). */
export const PREFETCH_BYTES = 1 << 20;

/** A consumer in another process, as the owner sees it (server.ts makes them). */
export interface Sink {
  readonly pid: number;
  /** Items it may hold not yet returned by its get(); 0 until it waits; 1: one item, then 0 until it asks again. */
  window: number;
  /** Sent to it and not yet acknowledged, in the order they were sent. */
  readonly outstanding: Outstanding<Entry>;
  /** Their bytes. */
  bytes: number;
  /** It said it waits with nothing in hand, and nothing was sent to it since. */
  waiting: boolean;
  /** A recall was sent and its release (what it gave back, maybe nothing) has not come. */
  recalling: boolean;
  /** It was sent the one item a get() of its waits for (window 1): that item is not recalled. */
  oneAsked: boolean;
  /** `shared`: other consumers take from this queue too. */
  send(entry: Entry, shared: boolean): void;
  recall(): void;
  /** The queue has ended for it (a pipe whose writer closed, nothing left). */
  end(reason: string): void;
}

export function preview(value: unknown): string {
  const text = util.inspect(value, { depth: 1, breakLength: Infinity, maxArrayLength: 5, maxStringLength: 40 });
  return text.length > 48 ? text.slice(0, 45) + "..." : text;
}

export class Store {
  /**
   * For a pipe's direction: the store whose writing side counts the holders of the end that reads
   * it (pipe.ts), so that a send() can tell that nobody will ever receive.
   */
  readers: Store | undefined;
  /** Told once, when the writing side closes (a pipe end that no process holds any more). */
  onWriterClosed: (() => void) | undefined;
  readonly kind: QueueSnapshot["kind"];
  readonly maxsize: number;
  readonly #born = performance.now();
  #items: Entry[] = [];
  #head = 0;
  #seq = 0;
  #getters: Waiter<Entry>[] = [];
  #putters: Waiter<void>[] = [];
  #pollers: Waiter<boolean>[] = [];
  #joiners: (() => void)[] = [];
  #sinks: Sink[] = [];
  /** More than one consumer has got from this queue: one item per get() from then on (see above). */
  #shared = false;
  /** The owner's own get() has taken from this queue. */
  #ownerGets = false;
  #turn = 0;
  #unfinished = 0;
  #inFlight = 0;
  #writerClosed = false;
  #endReason = "";
  /** Connections holding a pipe's writing end (see holdWriter), and ends sent and not yet attached. */
  #writers = new Set<object>();
  /**
   * Writing ends sent to another process, by token, until that process attaches them (or ends
   * first). Each entry is also the end's holder in #writers; `onSettled` is called when it is
   * attached or taken back (it stops watching the receiver's end).
   */
  #lent = new Map<number, { onSettled?: () => void }>();
  /**
   * Tokens whose Attach came before their Lend: a proxy's Lend and its receiver's Attach travel on
   * two sockets, so the receiver can be first. The Lend that comes later then holds nothing.
   */
  #attachedEarly = new Set<number>();
  /**
   * Why the pipe would have ended, had a lent end not held it open (its other holders ended or
   * closed their copies): if that end turns out never to have been sent (unlend), it ends then.
   */
  #endUnlessLent: string | undefined;
  #events: FlowEvent[] = [];
  #dropped = 0;
  #puts = 0;
  #gets = 0;
  #participants = new Map<number, Participant>();
  /** Called after every change (the live picture). */
  onChange: (() => void) | undefined;

  constructor(kind: QueueSnapshot["kind"], maxsize: number) {
    this.kind = kind;
    this.maxsize = maxsize;
  }

  /** Items here, not yet sent to any consumer. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /**
   * Python's qsize(): items put and not yet returned by a get, wherever they are (here, or sent
   * ahead to a consumer). It is what maxsize bounds, so backpressure stays exact.
   */
  get qsize(): number {
    return this.size + this.#inFlight;
  }

  get full(): boolean {
    return this.maxsize > 0 && this.qsize >= this.maxsize;
  }

  /** Who is on the other side of a connection, for the picture. */
  meet(pid: number, name: string): void {
    if (!this.#participants.has(pid)) this.#participants.set(pid, { pid, name, puts: 0, gets: 0 });
  }

  /**
   * Put an item; `accepted` once it is in, `full` if no room came within `timeout` s (undefined:
   * wait forever). Returns what withdraws a put that waits (Cancel), if it waits.
   */
  put(item: PackedItem, pid: number, timeout: number | undefined, accepted: () => boolean, full: () => void): Cancel | undefined {
    const entry: Entry = { bytes: item.bytes, handles: item.handles, form: item.form, seq: ++this.#seq, from: pid };
    if (this.#putters.length === 0 && !this.full) {
      this.#accept(entry);
      accepted();
      this.#changed();
      return undefined;
    }
    if (timeout === 0) return void full();
    return this.#wait(this.#putters, { settle: accepted, fail: full, entry, pid }, timeout);
  }

  /** The owner's own get: take the first item; `take` gets it (returns false if its taker left: the item stays). Returns what withdraws a get that waits. */
  get(pid: number, timeout: number | undefined, take: (entry: Entry) => boolean, empty: () => void): Cancel | undefined {
    this.#ownerGets = true;
    if (this.#sinks.length > 0) this.#becomeShared();
    if (this.size > 0 && this.#getters.length === 0 && !this.#heldBack()) {
      const entry = this.#items[this.#head]!;
      if (!take(entry)) return undefined;
      this.#shift();
      this.#taken(entry, pid);
      this.#admitPutters();
      this.#changed();
      return undefined;
    }
    if (timeout === 0) {
      // Nothing here now (or only what waits for a recall's answer); what idle consumers were
      // sent ahead comes back for the next try.
      this.#recall(undefined);
      return void empty();
    }
    if (this.#writerClosed && this.size === 0) return void empty();
    const cancel = this.#wait(this.#getters, { settle: (entry) => take(entry), fail: empty, pid }, timeout);
    this.#recall(undefined);
    return cancel;
  }

  /** A consumer waits with nothing in hand: send it up to `window` items not yet returned (0: its get() gave up). */
  want(sink: Sink, window: number): void {
    this.#join(sink);
    if (window === 0) {
      sink.window = 0;
      sink.waiting = false;
      sink.oneAsked = false;
      // An item already on its way there comes back if someone else waits for it.
      if (this.#getters.length > 0 || this.#sinks.some((other) => other.waiting)) this.#recall(undefined);
      return;
    }
    sink.window = window;
    sink.waiting = true;
    this.#serve();
    if (!sink.waiting) return;
    if (this.#writerClosed && this.size === 0) sink.end(this.#endReason);
    else this.#recall(sink);
  }

  /**
   * getNowait() of a consumer: send it the first item, if there is one, whatever its window. With
   * none here, what other consumers were sent ahead and are not waiting for comes back (recall),
   * for its next try: else items parked with a consumer that stopped getting stay out of reach
   * of every getNowait() while qsize() counts them.
   */
  sendNow(sink: Sink): boolean {
    if (this.size === 0 || this.#heldBack()) {
      this.#recall(sink);
      return false;
    }
    this.#join(sink);
    this.#sendTo(sink);
    return true;
  }

  /** A consumer in another process starts getting from this queue. */
  #join(sink: Sink): void {
    if (this.#sinks.includes(sink)) return;
    this.#sinks.push(sink);
    if (this.#sinks.length > 1 || this.#ownerGets) this.#becomeShared();
  }

  /**
   * A second consumer came: what the first was sent ahead comes back, and nothing goes ahead from
   * now on. A consumer not waiting is recalled even with nothing out there: its window closes, and
   * its next get() says it waits (a lone consumer's get() waited without a word).
   */
  #becomeShared(): void {
    if (this.#shared) return;
    this.#shared = true;
    for (const sink of this.#sinks) {
      if (sink.waiting || sink.oneAsked) continue;
      sink.window = 0;
      if (sink.recalling) continue;
      sink.recalling = true;
      sink.recall();
    }
  }

  /** The consumer's get() returned the item `seq`: it counts as got, and makes room for the next. */
  ack(sink: Sink, seq: number): void {
    const entry = sink.outstanding.take(seq);
    if (!entry) return;
    sink.bytes -= entry.bytes.length;
    sink.oneAsked = false;
    this.#inFlight--;
    this.#taken(entry, sink.pid);
    this.#admitPutters();
    this.#serve();
    this.#changed();
  }

  /** Items a recalled consumer gives back (it sends nothing more until it waits again). */
  release(sink: Sink, seqs: number[]): void {
    sink.recalling = false;
    const entries: Entry[] = [];
    for (const seq of seqs) {
      const entry = sink.outstanding.take(seq);
      if (!entry) continue;
      sink.bytes -= entry.bytes.length;
      entries.push(entry);
    }
    if (entries.length === 0) return this.#serve();
    sink.window = 0;
    sink.waiting = false;
    this.#putBack(entries);
    this.#changed();
  }

  /** A consumer's process ended: what it was sent and had not returned goes back to the front, in order. */
  leave(sink: Sink): void {
    const at = this.#sinks.indexOf(sink);
    if (at >= 0) this.#sinks.splice(at, 1);
    const entries = sink.outstanding.values();
    sink.outstanding.clear();
    sink.bytes = 0;
    if (entries.length === 0) return;
    for (const entry of entries) this.#record(sink.pid, "back", entry);
    this.#putBack(entries);
    this.#changed();
  }

  taskDone(): boolean {
    if (this.#unfinished === 0) return false;
    if (--this.#unfinished === 0) for (const done of this.#joiners.splice(0)) done();
    this.#changed();
    return true;
  }

  /** `done` once every item put was marked done; returns what withdraws a join that waits. */
  join(done: () => void): Cancel | undefined {
    if (this.#unfinished === 0) return void done();
    this.#joiners.push(done);
    return () => {
      const at = this.#joiners.indexOf(done);
      if (at >= 0) this.#joiners.splice(at, 1);
    };
  }

  /** Resolves `answer(true)` once an item is there or the writer closed, `answer(false)` after `timeout` s. */
  poll(pid: number, timeout: number | undefined, answer: (ready: boolean) => boolean, sink?: Sink): Cancel | undefined {
    // An item on its way to the poller counts: the answer follows it on the same socket.
    if (this.size > 0 || this.#writerClosed || (sink !== undefined && sink.outstanding.size > 0)) return void answer(true);
    if (timeout === 0) return void answer(false);
    const cancel = this.#wait(this.#pollers, { settle: answer, fail: () => answer(false), pid }, timeout);
    this.#recall(sink);
    return cancel;
  }

  /**
   * A connection holds a pipe's writing end: when every connection that held it has closed (their
   * processes ended), the pipe's reader sees its end, as if the writer had called close().
   */
  holdWriter(holder: object, token?: number): void {
    this.#writers.add(holder);
    this.returnWriter(token);
  }

  /**
   * The writing end is being sent to another process, under `token` (unique among every process:
   * see newToken in backend.ts): it counts as held from now on, so that a holder that ends before
   * this one has attached it does not end the pipe. The receiver's Attach brings the token back.
   */
  lendWriter(token: number, onSettled?: () => void): void {
    if (this.#attachedEarly.delete(token)) return onSettled?.();
    const holder = { onSettled };
    this.#lent.set(token, holder);
    this.#writers.add(holder);
  }

  /** A lent end arrived (its holder, if any, was counted first; home in the owner, it holds nothing). */
  returnWriter(token: number | undefined): void {
    if (token === undefined) return;
    if (!this.#unhold(token)) this.#attachedEarly.add(token);
  }

  /**
   * The end lent under `token` is no longer on its way: false if it was not. If it alone kept the
   * pipe open after every holder went, the pipe ends now; an end never held elsewhere stays open.
   */
  #unhold(token: number): boolean {
    const holder = this.#settleLent(token);
    if (!holder) return false;
    this.#writers.delete(holder);
    if (this.#writers.size === 0 && this.#endUnlessLent !== undefined) this.closeWriter(this.#endUnlessLent);
    return true;
  }

  /** The lent end arrived or was taken back: no longer lent, and whoever watched for it is told. */
  #settleLent(token: number): object | undefined {
    const holder = this.#lent.get(token);
    if (!holder) return undefined;
    this.#lent.delete(token);
    holder.onSettled?.();
    return holder;
  }

  /**
   * The process a lent end went to ended without attaching it (killed before it read its
   * arguments): it no longer counts as held. Call this only once everything that process sent
   * the owner has been read (server.ts, afterHeardFrom), so that an Attach on its way is not overtaken.
   */
  takeBack(token: number, pid: number): void {
    const holder = this.#settleLent(token);
    if (holder) this.dropWriter(holder, pid);
  }

  /** The end lent under `token` was not sent after all (the put or the message that carried it failed): nobody holds it. */
  unlend(token: number): void {
    this.#unhold(token);
  }

  /** Whether the end lent under `token` is still on its way (not attached, not taken back). */
  isLent(token: number): boolean {
    return this.#lent.has(token);
  }

  dropWriter(holder: object, pid: number): void {
    if (!this.#writers.delete(holder) || this.#writerClosed) return;
    this.#endOnceEmpty(`the process that held the other end of the pipe (pid ${pid}) ended`);
  }

  /** A holder went: the pipe ends if no other holds it, else (for unlend) it would have, but for them. */
  #endOnceEmpty(reason: string): void {
    if (this.#writers.size === 0) this.closeWriter(reason);
    else this.#endUnlessLent = reason;
  }

  /**
   * One copy of the writing end was closed (its close()), in the process `holder` stands for:
   * that process holds it no more (undefined: the owner's own copy, which holds nothing). As
   * with Python's file descriptors, the pipe ends once no copy is held, not at the first close.
   */
  closeCopy(holder: object | undefined): void {
    if (holder !== undefined) this.#writers.delete(holder);
    this.#endOnceEmpty("the other end of the pipe was closed");
  }

  /** A pipe's writing end closed: readers waiting on an empty pipe learn it (EOF). */
  closeWriter(reason = "the other end of the pipe was closed"): void {
    if (this.#writerClosed) return;
    this.#writerClosed = true;
    this.#endReason = reason;
    this.onWriterClosed?.();
    for (const poller of this.#pollers.splice(0)) (poller.timer?.clear(), poller.settle(true));
    this.#endIfEmpty();
  }

  /** Items put and not yet marked done by taskDone() (what join() waits for). */
  get unfinished(): number {
    return this.#unfinished;
  }

  get writerClosed(): boolean {
    return this.#writerClosed;
  }

  /** Why nothing can read what is put here any more, if so: a pipe's direction whose reading end no process holds. */
  get readersGone(): string | undefined {
    return this.readers?.writerClosed ? this.readers.endReason : undefined;
  }

  /** Why a pipe ended, for its reader's EOFError. */
  get endReason(): string {
    return this.#endReason;
  }

  snapshot(ownerPid: number): QueueSnapshot {
    return {
      kind: this.kind,
      ownerPid,
      size: this.size,
      maxsize: this.maxsize,
      inFlight: this.#inFlight,
      unfinished: this.kind === "JoinableQueue" ? this.#unfinished : undefined,
      participants: [...this.#participants.values()].map((p) => ({ ...p })),
      events: this.#events.slice(),
      droppedEvents: this.#dropped,
      puts: this.#puts,
      gets: this.#gets,
    };
  }

  #changed(): void {
    this.onChange?.();
  }

  #wait<T>(list: Waiter<T>[], waiter: Waiter<T>, timeout: number | undefined): Cancel {
    list.push(waiter);
    const withdraw = () => {
      const at = list.indexOf(waiter);
      if (at < 0) return false;
      list.splice(at, 1);
      waiter.timer?.clear();
      // A put that gave up may have held back the ones after it.
      if (list === (this.#putters as unknown)) this.#admitPutters();
      return true;
    };
    if (timeout !== undefined) waiter.timer = setLongTimeout(() => void (withdraw() && waiter.fail()), timeout);
    return () => void withdraw();
  }

  #accept(entry: Entry): void {
    this.#unfinished++;
    this.#puts++;
    const p = this.#participants.get(entry.from);
    if (p) p.puts++;
    this.#record(entry.from, "put", entry);
    this.#items.push(entry);
    // Pushed first, so that a consumer's poll answer never comes before the item it announces.
    this.#serve();
    this.#wakePollers();
  }

  #wakePollers(): void {
    if (this.#pollers.length === 0) return;
    for (const poller of this.#pollers.splice(0)) (poller.timer?.clear(), poller.settle(true));
  }

  /** Hand out what is here: first to local waiters (in order), then to consumers with room, waiting ones first. */
  #serve(): void {
    while (this.size > 0 && !this.#heldBack()) {
      if (this.#getters.length > 0) {
        const getter = this.#getters.shift()!;
        const entry = this.#items[this.#head]!;
        if (!getter.settle(entry)) continue;
        getter.timer?.clear();
        this.#shift();
        this.#taken(entry, getter.pid);
        continue;
      }
      const sink = this.#nextSink();
      if (!sink) break;
      this.#sendTo(sink);
    }
    this.#endIfEmpty();
    this.#admitPutters();
  }

  /** The next consumer to send to: a waiting one if any, else the next with room, in turn. */
  #nextSink(): Sink | undefined {
    const n = this.#sinks.length;
    let found = -1;
    for (let i = 0; i < n; i++) {
      const at = (this.#turn + i) % n;
      const sink = this.#sinks[at]!;
      if (sink.outstanding.size >= sink.window || (sink.bytes >= PREFETCH_BYTES && sink.outstanding.size > 0)) continue;
      if (sink.waiting) {
        found = at;
        break;
      }
      if (found < 0) found = at;
    }
    if (found < 0) return undefined;
    this.#turn = (found + 1) % n;
    return this.#sinks[found];
  }

  #sendTo(sink: Sink): void {
    const entry = this.#items[this.#head]!;
    this.#shift();
    sink.outstanding.add(entry);
    sink.bytes += entry.bytes.length;
    sink.waiting = false;
    // One item per Want: it asks again when its get() next waits.
    if (sink.window === 1 || this.#shared) {
      sink.window = 0;
      sink.oneAsked = true;
    }
    this.#inFlight++;
    sink.send(entry, this.#shared);
  }

  /**
   * The first item here must wait: a recalled consumer holds an earlier item of the same producer,
   * which would come out after it if it came back.
   */
  #heldBack(): boolean {
    const first = this.#items[this.#head];
    if (first === undefined) return false;
    for (const sink of this.#sinks) {
      if (!sink.recalling) continue;
      if (sink.outstanding.some((held) => held.from === first.from && held.seq < first.seq)) return true;
    }
    return false;
  }

  /** Someone waits and nothing is here: consumers that are not waiting give back what they hold unreturned. */
  #recall(except: Sink | undefined): void {
    if (this.size > 0) return;
    for (const sink of this.#sinks) {
      if (sink === except || sink.waiting || sink.oneAsked || sink.recalling || sink.outstanding.size === 0) continue;
      sink.recalling = true;
      sink.recall();
    }
  }

  #endIfEmpty(): void {
    if (!this.#writerClosed || this.size > 0) return;
    for (const getter of this.#getters.splice(0)) (getter.timer?.clear(), getter.fail());
    // Every consumer that may wait: one that said so, and one whose window is open with nothing in
    // hand, whose get() waits without a word (a lone consumer says Want only to open its window).
    // Told once: its window closes with it (a get() after that says Want, and is told again).
    for (const sink of this.#sinks) {
      if (!sink.waiting && (sink.window === 0 || sink.outstanding.size > 0)) continue;
      sink.waiting = false;
      sink.window = 0;
      sink.end(this.#endReason);
    }
  }

  /**
   * Items that were sent ahead and not returned: back into the queue, in their order. Only the
   * returned ones are sorted (at most a window's worth; a consumer sent an item that came back
   * from another may hold them out of order); the queue here is in order already, so the two are
   * merged, and the returned ones usually all go before the rest.
   */
  #putBack(entries: Entry[]): void {
    this.#inFlight -= entries.length;
    entries.sort((a, b) => a.seq - b.seq);
    const items = this.#items;
    const merged: Entry[] = [];
    let i = 0;
    let j = this.#head;
    while (i < entries.length && j < items.length) merged.push(entries[i]!.seq < items[j]!.seq ? entries[i++]! : items[j++]!);
    while (i < entries.length) merged.push(entries[i++]!);
    while (j < items.length) merged.push(items[j++]!);
    this.#items = merged;
    this.#head = 0;
    this.#serve();
    this.#wakePollers();
  }

  #admitPutters(): void {
    while (this.#putters.length > 0 && !this.full) {
      const putter = this.#putters.shift()!;
      putter.timer?.clear();
      // A producer whose process ended while its put waited for room never put that item (as a
      // Python producer killed in a blocked put()): it does not enter after its death.
      if (!putter.settle()) continue;
      this.#accept(putter.entry!);
    }
  }

  #shift(): void {
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  #taken(entry: Entry, pid: number): void {
    this.#gets++;
    const p = this.#participants.get(pid);
    if (p) p.gets++;
    this.#record(pid, "get", entry);
  }

  #record(pid: number, op: FlowEvent["op"], entry: Entry): void {
    if (this.#events.length >= MAX_EVENTS) {
      this.#dropped++;
      return;
    }
    let item: string;
    try {
      item = preview(itemValue(entry));
    } catch {
      item = "(item)";
    }
    this.#events.push({ t: performance.now() - this.#born, pid, op, item });
  }
}
