/**
 * The record of a pool's finished batches, for stats() and the picture: one row per batch in
 * typed-array columns (about 60 bytes a batch), a ring of the most recent `capacity`. A finished
 * batch keeps no object, no arguments and no result alive: 20 000 remembered chunks of a large map
 * cost about a megabyte, whatever their items held.
 */
import type { BatchState } from "./scheduler";

export const BATCH_STATES: readonly BatchState[] = ["waiting", "running", "ok", "error", "lost", "timeout", "aborted"];

/** One remembered batch; times are performance.now() values, undefined when it never started. */
export interface LoggedBatch {
  id: number;
  /** The worker's number in the pool, and its pid (undefined if the batch never reached one). */
  worker: number | undefined;
  pid: number | undefined;
  firstIndex: number;
  tasks: number;
  queuedAt: number;
  startedAt: number | undefined;
  endedAt: number;
  state: BatchState;
  failures: number;
}

export class BatchLog {
  readonly capacity: number;
  readonly #id: Float64Array;
  readonly #worker: Int32Array;
  readonly #pid: Int32Array;
  readonly #first: Float64Array;
  readonly #tasks: Int32Array;
  readonly #queued: Float64Array;
  readonly #started: Float64Array;
  readonly #ended: Float64Array;
  readonly #state: Uint8Array;
  readonly #failures: Int32Array;
  /** Batches recorded so far; the row of the k-th is k % capacity. */
  #count = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#id = new Float64Array(capacity);
    this.#worker = new Int32Array(capacity);
    this.#pid = new Int32Array(capacity);
    this.#first = new Float64Array(capacity);
    this.#tasks = new Int32Array(capacity);
    this.#queued = new Float64Array(capacity);
    this.#started = new Float64Array(capacity);
    this.#ended = new Float64Array(capacity);
    this.#state = new Uint8Array(capacity);
    this.#failures = new Int32Array(capacity);
  }

  record(batch: LoggedBatch): void {
    const row = this.#count++ % this.capacity;
    this.#id[row] = batch.id;
    this.#worker[row] = batch.worker ?? -1;
    this.#pid[row] = batch.pid ?? -1;
    this.#first[row] = batch.firstIndex;
    this.#tasks[row] = batch.tasks;
    this.#queued[row] = batch.queuedAt;
    this.#started[row] = batch.startedAt ?? NaN;
    this.#ended[row] = batch.endedAt;
    this.#state[row] = BATCH_STATES.indexOf(batch.state);
    this.#failures[row] = batch.failures;
  }

  /** Batches remembered now (at most `capacity`). */
  get size(): number {
    return Math.min(this.#count, this.capacity);
  }

  /** Batches recorded and since forgotten. */
  get dropped(): number {
    return this.#count - this.size;
  }

  /** The remembered batch at `k`, 0 the oldest. */
  at(k: number): LoggedBatch {
    const row = (this.#count - this.size + k) % this.capacity;
    const worker = this.#worker[row]!;
    const pid = this.#pid[row]!;
    const started = this.#started[row]!;
    return {
      id: this.#id[row]!,
      worker: worker < 0 ? undefined : worker,
      pid: pid < 0 ? undefined : pid,
      firstIndex: this.#first[row]!,
      tasks: this.#tasks[row]!,
      queuedAt: this.#queued[row]!,
      startedAt: Number.isNaN(started) ? undefined : started,
      endedAt: this.#ended[row]!,
      state: BATCH_STATES[this.#state[row]!]!,
      failures: this.#failures[row]!,
    };
  }

  /** The most recent `n` remembered batches, oldest first. */
  last(n: number): LoggedBatch[] {
    const size = this.size;
    const out: LoggedBatch[] = [];
    for (let k = Math.max(0, size - n); k < size; k++) out.push(this.at(k));
    return out;
  }
}
