/**
 * input() outside a kernel: lines from this process's stdin, as Python's input() reads them.
 *
 * One reader for the life of the process, so that lines that arrived together (a piped stdin
 * delivers them in one chunk) wait for the next call instead of being dropped with a closed
 * interface. stdin is read only while someone waits for a line, so that it never keeps a script
 * alive. At end of input the call rejects with EOFError, as Python raises EOFError.
 */

/** The end of stdin was reached before a line arrived (Python's EOFError). */
export class EOFError extends Error {
  override name = "EOFError";
}

interface Waiter {
  resolve: (line: string) => void;
  reject: (error: Error) => void;
}

const lines: string[] = [];
const waiters: Waiter[] = [];
let partial = "";
let ended = false;
let listening = false;

function settle(): void {
  while (waiters.length && lines.length) waiters.shift()!.resolve(lines.shift()!);
  if (ended) {
    if (partial !== "") {
      lines.push(partial);
      partial = "";
      return settle();
    }
    for (const waiter of waiters.splice(0)) {
      waiter.reject(new EOFError("input(): end of input: stdin was closed before a line arrived (as Python's EOFError); catch EOFError to stop reading"));
    }
  }
  if (!waiters.length) {
    process.stdin.pause();
    // A paused pipe or terminal is still a handle that keeps the process alive.
    (process.stdin as { unref?(): void }).unref?.();
  }
}

function listen(): void {
  if (listening) return;
  listening = true;
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop()!;
    for (const part of parts) lines.push(part.endsWith("\r") ? part.slice(0, -1) : part);
    settle();
  });
  process.stdin.once("end", () => {
    ended = true;
    settle();
  });
  // A closed or broken stdin is the end of input too.
  process.stdin.once("error", () => {
    ended = true;
    settle();
  });
}

/** The next line of stdin, without its line ending; writes `prompt` to stdout first. */
export function readStdinLine(prompt: string): Promise<string> {
  if (prompt) process.stdout.write(prompt);
  listen();
  return new Promise<string>((resolve, reject) => {
    waiters.push({ resolve, reject });
    settle();
    if (waiters.length) {
      (process.stdin as { ref?(): void }).ref?.();
      process.stdin.resume();
    }
  });
}
