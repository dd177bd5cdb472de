/**
 * The items sent to one consumer and not yet acknowledged, in the order they were sent. Its acks
 * come in that order (its get() hands items out as they came), so an ack usually takes the first
 * one: a queue with holes rather than a map, which costs a stream of small items a hash insert
 * and delete per item.
 */
export class Outstanding<E extends { seq: number }> {
  #entries: (E | undefined)[] = [];
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(entry: E): void {
    this.#entries.push(entry);
    this.#size++;
  }

  /** Removes and returns the entry with sequence number `seq`, if it is here. */
  take(seq: number): E | undefined {
    const entries = this.#entries;
    let at = this.#head;
    while (at < entries.length && entries[at]?.seq !== seq) at++;
    if (at === entries.length) return undefined;
    const entry = entries[at]!;
    entries[at] = undefined;
    this.#size--;
    if (this.#size === 0) this.clear();
    else if (at === this.#head) this.#skipHoles();
    return entry;
  }

  /** What is here, in the order it was sent. */
  values(): E[] {
    const values: E[] = [];
    for (let at = this.#head; at < this.#entries.length; at++) if (this.#entries[at] !== undefined) values.push(this.#entries[at]!);
    return values;
  }

  /** Whether any entry here satisfies `test` (without building the list values() returns). */
  some(test: (entry: E) => boolean): boolean {
    for (let at = this.#head; at < this.#entries.length; at++) {
      const entry = this.#entries[at];
      if (entry !== undefined && test(entry)) return true;
    }
    return false;
  }

  clear(): void {
    this.#entries = [];
    this.#head = 0;
    this.#size = 0;
  }

  /** The first entry was taken: the head moves past it and any taken before it, and the array is compacted now and then. */
  #skipHoles(): void {
    const entries = this.#entries;
    while (entries[this.#head] === undefined) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > entries.length) {
      this.#entries = entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
