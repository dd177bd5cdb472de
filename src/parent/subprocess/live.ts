/**
 * Output that the program shows (Python's inherited stdout/stderr). In a notebook it goes to a
 * terminal block in the cell that started the program, updated while the program runs and
 * finished with the exit code; with `live: false` it is written to this process's stdout/stderr,
 * which the kernel routes to the running cell. Outside a notebook, `live: true` prints the command
 * line, then the output as it arrives, then the status line, as text (updates cannot be shown).
 */
import { display, isInKernel } from "../../render/display";
import { renderTerminal, statusText, tailChunks, TERMINAL_MAX_CHARS, type TerminalChunk, type TerminalView } from "../../render/terminal";
import { streamDecoder } from "./encoding";

/** Minimum milliseconds between two updates of a live block. */
export const LIVE_UPDATE_INTERVAL_MS = 100;
const STDERR_TAIL_CHARS = 8 * 1024;

let counter = 0;

export class ShownOutput {
  readonly #live: boolean;
  /** live: true where no frontend renders a block (a script): text as it arrives. */
  readonly #asText: boolean;
  readonly #command: string;
  readonly #decoders: Record<"stdout" | "stderr", (chunk?: Uint8Array) => string>;
  #chunks: TerminalChunk[] = [];
  #chars = 0;
  #omitted = 0;
  #stderrTail = "";
  #displayId: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastUpdate = 0;
  #pid: number | undefined;
  #start: number;
  #finished = false;
  readonly #flush: () => void;

  constructor(options: { live: boolean; command: string; encoding: string | undefined; bind: <F extends (...args: never[]) => unknown>(fn: F) => F }) {
    this.#asText = options.live && !isInKernel();
    this.#live = options.live && !this.#asText;
    this.#command = options.command;
    this.#decoders = { stdout: streamDecoder(options.encoding), stderr: streamDecoder(options.encoding) };
    this.#start = performance.now();
    this.#flush = options.bind(() => {
      this.#timer = undefined;
      this.#update();
    });
  }

  /** Show the block: call once the program has started. */
  start(pid: number): void {
    this.#pid = pid;
    if (this.#asText) process.stdout.write(`$ ${this.#command}\n`);
    if (!this.#live) return;
    this.#displayId = `forklab-subprocess-${process.pid}-${pid}-${++counter}`;
    display(renderTerminal(this.view(null)), { displayId: this.#displayId });
    this.#lastUpdate = performance.now();
  }

  write(stream: "stdout" | "stderr", chunk: Buffer): void {
    if (!this.#live) {
      (stream === "stdout" ? process.stdout : process.stderr).write(chunk);
      if (stream === "stderr") this.#keepStderr(this.#decoders.stderr(chunk));
      return;
    }
    const text = this.#decoders[stream](chunk);
    if (text === "") return;
    if (stream === "stderr") this.#keepStderr(text);
    const last = this.#chunks[this.#chunks.length - 1];
    if (last && last.stream === stream) last.text += text;
    else this.#chunks.push({ stream, text });
    this.#chars += text.length;
    if (this.#chars > 2 * TERMINAL_MAX_CHARS) this.#compact();
    this.#schedule();
  }

  #keepStderr(text: string): void {
    this.#stderrTail += text;
    if (this.#stderrTail.length > 2 * STDERR_TAIL_CHARS) this.#stderrTail = this.#stderrTail.slice(-STDERR_TAIL_CHARS);
  }

  #compact(): void {
    const { chunks, omitted } = tailChunks(this.#chunks);
    this.#chunks = chunks;
    this.#omitted += omitted;
    this.#chars = chunks.reduce((n, c) => n + c.text.length, 0);
  }

  #schedule(): void {
    if (this.#timer || this.#finished || this.#displayId === undefined) return;
    const wait = Math.max(0, LIVE_UPDATE_INTERVAL_MS - (performance.now() - this.#lastUpdate));
    this.#timer = setTimeout(this.#flush, wait);
  }

  #update(view = this.view(null)): void {
    if (this.#displayId === undefined) return;
    display(renderTerminal(view), { displayId: this.#displayId, update: true });
    this.#lastUpdate = performance.now();
  }

  /** The end of what the program wrote to its shown stderr, for error messages. */
  get stderrTail(): string {
    return this.#stderrTail.slice(-STDERR_TAIL_CHARS);
  }

  /** Shown output in arrival order (live mode only). */
  get chunks(): readonly TerminalChunk[] {
    return this.#chunks;
  }

  view(returncode: number | null, extra: Partial<TerminalView> = {}): TerminalView {
    return {
      command: this.#command,
      chunks: this.#chunks,
      omitted: this.#omitted,
      returncode,
      pid: this.#pid,
      durationMs: performance.now() - this.#start,
      ...extra,
    };
  }

  /** The program has ended and its output is complete: render the final block. */
  finish(returncode: number, extra: Partial<TerminalView>): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = this.#decoders[stream]();
      if (rest && this.#live) this.#chunks.push({ stream, text: rest });
    }
    if (this.#asText) process.stdout.write(`[${statusText(this.view(returncode, extra))}]\n`);
    this.#update(this.view(returncode, extra));
  }
}
