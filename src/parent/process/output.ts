/**
 * A child's output as it arrives: the full text per stream up to a bound (oldest text dropped
 * first), and the last lines of both streams together for the card.
 */
import { StringDecoder } from "node:string_decoder";
import type { OutputLine } from "../../render/process-card";

export class BoundedText {
  #text = "";
  readonly #limit: number;
  readonly #decoder = new StringDecoder("utf8");

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Append a chunk; returns the decoded text. */
  push(chunk: Buffer): string {
    const text = this.#decoder.write(chunk);
    this.#text += text;
    if (this.#text.length > this.#limit * 1.25) {
      const cut = this.#text.length - this.#limit;
      this.#text = this.#text.slice(cut);
    }
    return text;
  }

  end(): string {
    const text = this.#decoder.end();
    this.#text += text;
    return text;
  }

  get text(): string {
    return this.#text;
  }
}

export class LineTail {
  readonly #max: number;
  #lines: OutputLine[] = [];
  #omitted = 0;
  readonly #partial: Record<OutputLine["stream"], string> = { stdout: "", stderr: "" };

  constructor(max: number) {
    this.#max = max;
  }

  push(stream: OutputLine["stream"], text: string): void {
    const parts = (this.#partial[stream] + text).split("\n");
    this.#partial[stream] = parts.pop()!;
    for (const part of parts) this.#add({ stream, text: part.replace(/\r$/, "") });
  }

  /** Lines so far, with unfinished ones (no newline yet) at the end. */
  lines(): OutputLine[] {
    const open = (["stdout", "stderr"] as const).filter((s) => this.#partial[s]).map((s) => ({ stream: s, text: this.#partial[s] }));
    return [...this.#lines, ...open].slice(-this.#max);
  }

  get omitted(): number {
    const open = (this.#partial.stdout ? 1 : 0) + (this.#partial.stderr ? 1 : 0);
    return this.#omitted + Math.max(0, this.#lines.length + open - this.#max);
  }

  #add(line: OutputLine): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#max) {
      this.#lines.shift();
      this.#omitted++;
    }
  }
}
