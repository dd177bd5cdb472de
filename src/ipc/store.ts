/**
 * The items of one queue, held by its owner (the process that created it), and everyone waiting
 * on them. No sockets here: the owner's server (server.ts) and the owner's own Queue object both
 * call in. Waiters are served in the order they came (a blocked put enters before a later one, so
 * each producer's items stay in its order); a wait ends on an event (an item, room, a timeout),
 * never by polling. Every put and get is recorded here, by the one clock of the owner, which is
 * what the picture of the flow shows.
 */
import { deserialize } from "node:v8";
import * as util from "node:util";
import { setLongTimeout, type LongTimer } from "../parent/timeouts";
import type { PackedItem } from "./items";

export interface Entry extends PackedItem {
  /** Order of arrival in this queue, from 1. */
  seq: number;
  /** pid of the process that put it. */
  from: number;
}

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

export function preview(value: unknown): string {
  const text = util.inspect(value, { depth: 1, breakLength: Infinity, maxArrayLength: 5, maxStringLength: 40 });
  return text.length > 48 ? text.slice(0, 45) + "..." : text;
}

export class Store {
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
  #unfinished = 0;
  #inFlight = 0;
  #writerClosed = false;
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

  get size(): number {
    return this.#items.length - this.#head;
  }

  get full(): boolean {
    return this.maxsize > 0 && this.size >= this.maxsize;
  }

  /** Who is on the other side of a connection, for the picture. */
  meet(pid: number, name: string): void {
    if (!this.#participants.has(pid)) this.#participants.set(pid, { pid, name, puts: 0, gets: 0 });
  }

  /** Put an item; `accepted` once it is in, `full` if no room came within `timeout` s (undefined: wait forever). */
  put(item: PackedItem, pid: number, timeout: number | undefined, accepted: () => boolean, full: () => void): void {
    const entry: Entry = { ...item, seq: ++this.#seq, from: pid };
    if (this.#putters.length === 0 && !this.full) {
      this.#accept(entry);
      accepted();
      return;
    }
    if (timeout === 0) return full();
    this.#wait(this.#putters, { settle: accepted, fail: full, entry, pid }, timeout);
  }

  /** Take the first item; `take` gets it (returns false if its taker left: the item stays). */
  get(pid: number, timeout: number | undefined, take: (entry: Entry) => boolean, empty: () => void): void {
    if (this.size > 0) {
      const entry = this.#items[this.#head]!;
      if (!take(entry)) return;
      this.#shift();
      this.#taken(entry, pid);
      this.#admitPutters();
      return;
    }
    if (timeout === 0 || this.#writerClosed) return empty();
    this.#wait(this.#getters, { settle: (entry) => take(entry), fail: empty, pid }, timeout);
  }

  /** An item given to a consumer that left before it had it: back to the front, in order. */
  giveBack(entries: Entry[], pid: number): void {
    for (const entry of entries.sort((a, b) => b.seq - a.seq)) {
      this.#inFlight--;
      this.#gets--;
      const p = this.#participants.get(pid);
      if (p) p.gets--;
      this.#record(pid, "back", entry);
      if (this.#head > 0) this.#items[--this.#head] = entry;
      else this.#items.unshift(entry);
    }
    this.#serveGetters();
    this.onChange?.();
  }

  /** A consumer confirmed an item given to it (see giveBack). */
  delivered(): void {
    this.#inFlight--;
  }

  /** An item handed over on a connection, not yet confirmed. */
  inTransit(): void {
    this.#inFlight++;
  }

  taskDone(): boolean {
    if (this.#unfinished === 0) return false;
    if (--this.#unfinished === 0) for (const done of this.#joiners.splice(0)) done();
    this.onChange?.();
    return true;
  }

  join(done: () => void): void {
    if (this.#unfinished === 0) done();
    else this.#joiners.push(done);
  }

  /** Resolves `answer(true)` once an item is there or the writer closed, `answer(false)` after `timeout` s. */
  poll(pid: number, timeout: number | undefined, answer: (ready: boolean) => boolean): void {
    if (this.size > 0 || this.#writerClosed) return void answer(true);
    if (timeout === 0) return void answer(false);
    this.#wait(this.#pollers, { settle: answer, fail: () => answer(false), pid }, timeout);
  }

  /** A pipe's writing end closed: readers waiting on an empty pipe learn it (EOF). */
  closeWriter(): void {
    this.#writerClosed = true;
    for (const poller of this.#pollers.splice(0)) (poller.timer?.clear(), poller.settle(true));
    for (const getter of this.#getters.splice(0)) (getter.timer?.clear(), getter.fail());
  }

  get writerClosed(): boolean {
    return this.#writerClosed;
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

  #wait<T>(list: Waiter<T>[], waiter: Waiter<T>, timeout: number | undefined): void {
    list.push(waiter);
    if (timeout !== undefined) {
      waiter.timer = setLongTimeout(() => {
        const at = list.indexOf(waiter);
        if (at >= 0) list.splice(at, 1);
        waiter.fail();
        // A put that gave up may have held back the ones after it.
        if (list === (this.#putters as unknown)) this.#admitPutters();
      }, timeout);
    }
  }

  #accept(entry: Entry): void {
    this.#unfinished++;
    this.#puts++;
    const p = this.#participants.get(entry.from);
    if (p) p.puts++;
    this.#record(entry.from, "put", entry);
    this.#items.push(entry);
    this.#serveGetters();
    for (const poller of this.#pollers.splice(0)) (poller.timer?.clear(), poller.settle(true));
    this.onChange?.();
  }

  #serveGetters(): void {
    while (this.size > 0 && this.#getters.length > 0) {
      const getter = this.#getters.shift()!;
      const entry = this.#items[this.#head]!;
      if (!getter.settle(entry)) continue;
      getter.timer?.clear();
      this.#shift();
      this.#taken(entry, getter.pid);
    }
    this.#admitPutters();
  }

  #admitPutters(): void {
    while (this.#putters.length > 0 && !this.full) {
      const putter = this.#putters.shift()!;
      putter.timer?.clear();
      this.#accept(putter.entry!);
      putter.settle();
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
    this.onChange?.();
  }

  #record(pid: number, op: FlowEvent["op"], entry: Entry): void {
    if (this.#events.length >= MAX_EVENTS) {
      this.#dropped++;
      return;
    }
    let item: string;
    try {
      item = preview(deserialize(entry.bytes));
    } catch {
      item = "(item)";
    }
    this.#events.push({ t: performance.now() - this.#born, pid, op, item });
  }
}
