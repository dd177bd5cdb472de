/**
 * Errors across the channel: a child's error comes back to the parent with the same name, message
 * and own properties; the child's stack and pid travel as its `cause` (as CPython's pool attaches
 * a RemoteTraceback).
 */
import { canClone } from "./clone";
import type { ErrorRecord } from "./messages";

const SKIP = new Set(["name", "message", "stack", "cause"]);

/** Turn anything thrown into an ErrorRecord (never throws). */
export function toErrorRecord(thrown: unknown, pid: number, depth = 0): ErrorRecord {
  if (!(thrown instanceof Error)) {
    return {
      name: "Error",
      message: safeString(thrown),
      props: {},
      pid,
      isError: false,
      thrown: canClone(thrown) ? thrown : safeString(thrown),
    };
  }
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(thrown)) {
    if (SKIP.has(key)) continue;
    const value = (thrown as unknown as Record<string, unknown>)[key];
    props[key] = canClone(value) ? value : `[${typeof value} that could not be cloned: ${safeString(value)}]`;
  }
  const record: ErrorRecord = {
    name: String(thrown.name),
    message: String(thrown.message),
    stack: typeof thrown.stack === "string" ? thrown.stack : undefined,
    props,
    pid,
    isError: true,
  };
  if ("cause" in thrown && depth < 8) {
    const cause = (thrown as { cause?: unknown }).cause;
    record.cause = cause instanceof Error ? toErrorRecord(cause, pid, depth + 1) : { thrown: canClone(cause) ? cause : safeString(cause) };
  }
  return record;
}

function safeString(value: unknown): string {
  try {
    if (typeof value === "function") return `[function ${value.name || "anonymous"}]`;
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

const BUILTIN: Record<string, new (message?: string) => Error> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** The child's stack, as the cause of a rebuilt error. */
export class RemoteTraceback extends Error {
  override name = "RemoteTraceback";
  readonly pid: number;
  constructor(pid: number, stack: string | undefined, cause?: unknown) {
    super(`raised in child process ${pid}`, cause === undefined ? undefined : { cause });
    this.pid = pid;
    // The stack shown is the child's, not where the parent rebuilt the error.
    this.stack = `RemoteTraceback: in child process ${pid}:\n${stack ?? "(no stack)"}`;
  }
}

/** Rebuild an error in this process. A thrown non-Error comes back as the value itself. */
export function fromErrorRecord(record: ErrorRecord): unknown {
  if (!record.isError) return record.thrown;
  const Ctor = BUILTIN[record.name] ?? Error;
  const error = new Ctor(record.message);
  if (error.name !== record.name) {
    Object.defineProperty(error, "name", { value: record.name, writable: true, configurable: true, enumerable: false });
  }
  Object.assign(error, record.props);
  let originalCause: unknown;
  if (record.cause) originalCause = "isError" in record.cause ? fromErrorRecord(record.cause) : record.cause.thrown;
  Object.defineProperty(error, "cause", {
    value: new RemoteTraceback(record.pid, record.stack, originalCause),
    writable: true,
    configurable: true,
    enumerable: false,
  });
  error.stack = `${record.name}: ${record.message}\n    at child process ${record.pid} (its stack is this error's cause)`;
  return error;
}
