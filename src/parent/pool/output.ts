/**
 * A pool's task output, written in the cell that submitted the task, each line tagged with the pid
 * of the worker that printed it: "[4242] Run task 0 (4242)...". Lines keep the order in which they
 * reached the pool; a line printed in pieces is tagged once.
 */
export class TaggedOutput {
  /** Per worker and stream: whether the next text starts a line. */
  readonly #atLineStart = new Map<string, boolean>();

  /** Write `text` from worker `pid` to this process's `stream` (which the kernel routes to the current cell). */
  write(pid: number | undefined, stream: "stdout" | "stderr", text: string): void {
    process[stream].write(this.tag(pid, stream, text));
  }

  /** `text` with the tag at the start of each line. */
  tag(pid: number | undefined, stream: "stdout" | "stderr", text: string): string {
    if (!text) return text;
    const key = `${pid}:${stream}`;
    const tag = `[${pid ?? "-"}] `;
    let out = this.#atLineStart.get(key) === false ? "" : tag;
    const end = text.endsWith("\n") ? text.length - 1 : text.length;
    out += text.slice(0, end).replace(/\n/g, `\n${tag}`) + text.slice(end);
    this.#atLineStart.set(key, text.endsWith("\n"));
    return out;
  }
}
