/**
 * One live output per object: a Process card, a Pool timeline, a Queue flow.
 *
 * `show()` adds the output to the cell that runs now, under a display id of its own; `changed()`
 * asks for an update, sent at a bounded rate (so a pool finishing 100k tasks a second sends ten
 * updates, not 100k); `final()` sends the last state at once and stops. Updates are sent in the
 * async context of the cell that showed the output, so they reach that cell even after it finished
 * and while another cell runs.
 */
import { AsyncResource } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { display, type MimeBundle } from "./display";

export interface LiveDisplayOptions {
  /** The first part of the display id, e.g. "forklab-process". */
  kind: string;
  /** Least time between two updates, in ms. @default 100 */
  minIntervalMs?: number;
  /** Re-render this often while live (durations and clocks move on their own), in ms; 0 for never. @default 1000 */
  tickMs?: number;
}

export class LiveDisplay {
  readonly #render: () => MimeBundle;
  readonly #options: Required<LiveDisplayOptions>;
  #displayId: string | undefined;
  #context: AsyncResource | undefined;
  #updateTimer: NodeJS.Timeout | undefined;
  #tickTimer: NodeJS.Timeout | undefined;
  #lastUpdate = 0;
  #finished = false;

  constructor(render: () => MimeBundle, options: LiveDisplayOptions) {
    this.#render = render;
    this.#options = { minIntervalMs: 100, tickMs: 1000, ...options };
  }

  /** The display id once shown (what LIVE_DISPLAY_ID reports), otherwise undefined. */
  get displayId(): string | undefined {
    return this.#displayId;
  }

  /** Add the output to the current cell. Only the first call shows anything. */
  show(): void {
    if (this.#displayId !== undefined) return;
    this.#displayId = `${this.#options.kind}-${randomUUID()}`;
    this.#context = new AsyncResource("forklab.LiveDisplay");
    this.#lastUpdate = performance.now();
    display(this.#render(), { displayId: this.#displayId });
    if (this.#finished || this.#options.tickMs <= 0) return;
    this.#tickTimer = setInterval(() => this.changed(), this.#options.tickMs);
    this.#tickTimer.unref();
  }

  /** The state changed: update the output, at most once per `minIntervalMs`. */
  changed(): void {
    if (this.#displayId === undefined || this.#finished || this.#updateTimer) return;
    const wait = Math.max(0, this.#lastUpdate + this.#options.minIntervalMs - performance.now());
    this.#updateTimer = setTimeout(() => {
      this.#updateTimer = undefined;
      if (!this.#finished) this.#update();
    }, wait);
    this.#updateTimer.unref();
  }

  /** Update now, past the rate bound: for a state a reader must see even if nothing follows. */
  updateNow(): void {
    if (this.#displayId === undefined || this.#finished) return;
    clearTimeout(this.#updateTimer);
    this.#updateTimer = undefined;
    this.#update();
  }

  /** The object reached its final state: update now and stop updating. */
  final(): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#updateTimer);
    clearInterval(this.#tickTimer);
    this.#updateTimer = this.#tickTimer = undefined;
    if (this.#displayId !== undefined) this.#update();
  }

  #update(): void {
    this.#lastUpdate = performance.now();
    const send = () => display(this.#render(), { displayId: this.#displayId, update: true });
    if (this.#context) this.#context.runInAsyncScope(send);
    else send();
  }
}
