/**
 * How a process ended, in words: one place for the exit code or signal, the recognisable causes
 * (out of memory, a channel the target broke) and the tail of stderr, for the errors of Process,
 * subprocess and the notebook runner alike. Pure; shared by parent and child (the child uses the
 * channel-lost constants), so it lives in the protocol.
 */
import { stripVTControlCharacters } from "node:util";

/** The exit code of a child whose channel to its parent (fd 3) broke while the parent lived. */
export const CHANNEL_LOST_EXIT_CODE = 86;
/** The first words of what such a child writes to stderr before it exits. */
export const CHANNEL_LOST_MARKER = "forklab: the channel to the parent process (fd 3) broke";

export interface Ending {
  exitCode: number | null;
  signal: string | null;
  /** What the process wrote to stderr (its end is enough). */
  stderr?: string;
  /** Why the parent stopped it, if it did: "terminate()", "kill()", "interrupt", "shutdown". */
  stoppedBy?: string;
  /** Set when the parent could not read what the child sent on fd 3 (e.g. the target wrote to it). */
  channelFault?: string;
}

/**
 * "exited with code 3", "was killed by SIGKILL (exitCode -9) after kill()": how a process ended,
 * in the words every forklab error uses. `code` names the field its number is read from
 * (Process's exitCode, subprocess's returncode); `failure`: a non-zero exit is itself what failed
 * (a program run with check), "failed with exit code 3".
 */
export function endedHow(end: Ending, { code = "exitCode", failure = false } = {}): string {
  if (end.signal) {
    const number = end.exitCode === null ? "" : ` (${code} ${end.exitCode})`;
    return `was killed by ${end.signal}${number}${end.stoppedBy ? ` after ${end.stoppedBy}` : ""}`;
  }
  if (end.exitCode === null) return "ended without an exit status";
  return failure ? `failed with exit code ${end.exitCode}` : `exited with code ${end.exitCode}`;
}

/** V8 gave up on the heap: "heap out of memory" on stderr, and an abort (SIGABRT, or 134 through a shell). */
export function ranOutOfMemory(end: Ending): boolean {
  const aborted = end.signal === "SIGABRT" || end.exitCode === 134 || end.exitCode === -6;
  return aborted && /heap out of memory|FatalProcessOutOfMemory|Allocation failed/.test(end.stderr ?? "");
}

/**
 * The child said its channel broke (the target closed or replaced fd 3). Its exit code is then
 * CHANNEL_LOST_EXIT_CODE, or SIGABRT when the fd's number was already reused by another file.
 */
export function lostChannel(end: Ending): boolean {
  return (end.stderr ?? "").includes(CHANNEL_LOST_MARKER);
}

const FD3 =
  "fd 3 belongs to forklab: it carries the arguments and the result, so a target must not close it, " +
  "write to it or read from it (open your own files or pipes instead)";

/** The sentence after "X ended ...": the likely cause and what to do. */
export function endingAdvice(end: Ending): string {
  if (ranOutOfMemory(end)) {
    return (
      "It ran out of memory (V8's heap limit). Use less memory at once (smaller pieces, streams), or raise the limit " +
      'for this child with execArgv: ["--max-old-space-size=N"] (N in MiB, e.g. 4096).'
    );
  }
  if (end.channelFault) return `Its channel to the parent was corrupted: ${end.channelFault}. ${cap(FD3)}.`;
  if (lostChannel(end)) return `Its target closed or replaced the channel to the parent: ${FD3}.`;
  if (end.signal) return "The target did not finish; await join() instead of result if stopping it is expected.";
  return "The target did not return: it called process.exit() or the child crashed; see its stderr (p.stderr).";
}

/** What a record that could not be read says about the channel (for `Ending.channelFault`). */
export function channelFaultText(error: unknown): string {
  const record = error as { code?: string; size?: number };
  if (record.code === "ERR_FORKLAB_RECORD_TOO_LARGE") {
    return `bytes arrived on fd 3 that are not a forklab message (a header announcing ${record.size} bytes)`;
  }
  if (record.code === "ERR_FORKLAB_RECORD_UNREADABLE") return `a message of ${record.size} bytes on fd 3 could not be deserialized`;
  return `fd 3 failed (${error instanceof Error ? error.message : String(error)})`;
}

function cap(text: string): string {
  return text[0]!.toUpperCase() + text.slice(1);
}

/** Native frames V8 prints after a fatal error: noise under the line that says what happened. */
const NATIVE_FRAME = /^\s*\d+: 0x[0-9a-f]+ /;

/**
 * The last `lines` lines of some output, without terminal escapes or V8's native frames, at most
 * `chars` characters; "[...]" first when something was cut.
 */
export function outputTail(output: string | Uint8Array | null | undefined, lines = 8, chars = 2000): string {
  if (output === null || output === undefined || output.length === 0) return "";
  let text = typeof output === "string" ? output : Buffer.from(output.subarray(Math.max(0, output.length - chars * 4))).toString("utf8");
  text = stripVTControlCharacters(text).replace(/\s+$/, "");
  let all = text.split(/\r?\n/);
  const framesDropped = all.some((line) => NATIVE_FRAME.test(line));
  if (framesDropped) all = all.filter((line) => !NATIVE_FRAME.test(line) && !/^-+ Native stack trace -+$/i.test(line.trim()));
  const omitted = all.length > lines;
  let tail = (omitted ? all.slice(-lines) : all).join("\n");
  if (tail.length > chars) tail = tail.slice(-chars);
  return omitted || tail.length < all.join("\n").length ? `[...]\n${tail}` : tail;
}
