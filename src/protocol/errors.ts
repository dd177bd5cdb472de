/**
 * Errors across the channel: a child's error comes back to the parent with the same name, message
 * and own properties; the child's stack and pid travel as its `cause` (as CPython's pool attaches
 * a RemoteTraceback).
 *
 * forklab's own error classes (CalledProcessError, ProcessError, ...) come back as themselves:
 * the module that defines one calls `registerErrorClass`, on whichever side loads it (the parent
 * always does; a child does when its target imports forklab). The registry lives here, in the
 * protocol, so that the child runtime never imports the parent side.
 */
import { canClone } from "./clone";
import type { ErrorRecord } from "./messages";

const SKIP = new Set(["name", "message", "stack", "cause"]);

/** Set on a registered class's prototype: its registered name, inherited by its instances. */
const ERROR_CLASS = Symbol.for("forklab.errorClass");

/** What a rebuilder gets: the fields of the error as it was thrown. */
export interface ErrorFields {
  name: string;
  message: string;
  /** Own enumerable properties (returncode, cmd, stderr, ...), already cloned. */
  props: Record<string, unknown>;
}

export type ErrorRebuilder = (fields: ErrorFields) => Error;

const rebuilders = new Map<string, ErrorRebuilder>();

/**
 * Make errors of `ErrorClass` cross between processes as themselves. By default an instance is
 * rebuilt without running the constructor (whose arguments did not cross): an object with the
 * class's prototype, its message and its own properties, so its getters and `instanceof` work.
 * Pass `rebuild` when a class needs more than that.
 */
export function registerErrorClass(
  ErrorClass: abstract new (...args: never[]) => Error,
  rebuild: ErrorRebuilder = (fields) => rebuildAs(ErrorClass, fields),
): void {
  const name = ErrorClass.name;
  Object.defineProperty(ErrorClass.prototype, ERROR_CLASS, { value: name, configurable: true, enumerable: false, writable: false });
  rebuilders.set(name, rebuild);
}

/** An instance of `ErrorClass` with these fields, made without calling its constructor. */
export function rebuildAs(ErrorClass: abstract new (...args: never[]) => Error, fields: ErrorFields): Error {
  const error = Object.create(ErrorClass.prototype) as Error;
  Object.defineProperty(error, "message", { value: fields.message, writable: true, configurable: true, enumerable: false });
  // The classes declare `name` as an own field; keep it one.
  Object.defineProperty(error, "name", { value: fields.name, writable: true, configurable: true, enumerable: true });
  Object.assign(error, fields.props);
  return error;
}

/** Read a property of something thrown; a throwing getter or a revoked Proxy gives `fallback`. */
export function safeGet(value: object, key: PropertyKey, fallback: unknown): unknown {
  try {
    return (value as Record<PropertyKey, unknown>)[key];
  } catch {
    return fallback;
  }
}

/** `value instanceof Error`, false for a revoked Proxy (whose instanceof throws). */
export function isError(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

/** Turn anything thrown into an ErrorRecord (never throws, whatever its getters do). */
export function toErrorRecord(thrown: unknown, pid: number, depth = 0): ErrorRecord {
  if (!isError(thrown)) {
    const text = safeString(thrown);
    return { name: "Error", message: text, props: {}, pid, isError: false, thrown: canClone(thrown) ? thrown : text };
  }
  const props: Record<string, unknown> = {};
  let keys: string[] = [];
  try {
    keys = Object.keys(thrown);
  } catch {
    // a Proxy whose ownKeys trap throws: no properties
  }
  for (const key of keys) {
    if (SKIP.has(key)) continue;
    const value = safeGet(thrown, key, undefined);
    props[key] = canClone(value) ? value : `[${typeof value} that could not be cloned: ${safeString(value)}]`;
  }
  const stack = safeGet(thrown, "stack", undefined);
  const registered = safeGet(thrown, ERROR_CLASS, undefined);
  const record: ErrorRecord = {
    name: safeString(safeGet(thrown, "name", "Error"), "Error"),
    message: safeString(safeGet(thrown, "message", ""), ""),
    stack: typeof stack === "string" ? stack : undefined,
    props,
    pid,
    isError: true,
  };
  if (typeof registered === "string") record.errorClass = registered;
  let hasCause = false;
  try {
    hasCause = "cause" in thrown;
  } catch {
    // as for keys
  }
  if (hasCause && depth < 8) {
    const cause = safeGet(thrown, "cause", undefined);
    record.cause = isError(cause) ? toErrorRecord(cause, pid, depth + 1) : { thrown: canClone(cause) ? cause : safeString(cause) };
  }
  return record;
}

/** The text a process prints for an uncaught value: its stack, else `name: message` (never throws). */
export function describeThrown(thrown: unknown): string {
  if (!isError(thrown)) return `Uncaught ${safeString(thrown)}`;
  const stack = safeGet(thrown, "stack", undefined);
  if (typeof stack === "string") return stack;
  return `${safeString(safeGet(thrown, "name", "Error"), "Error")}: ${safeString(safeGet(thrown, "message", ""), "")}`;
}

/** `String(value)`, or a description when its toString (or Symbol.toPrimitive) throws. */
export function safeString(value: unknown, fallback?: string): string {
  try {
    if (typeof value === "function") return `[function ${value.name || "anonymous"}]`;
    return String(value);
  } catch {
    if (fallback !== undefined) return fallback;
    try {
      return `${Object.prototype.toString.call(value)} (its toString() threw)`;
    } catch {
      return "[a value that cannot be described]";
    }
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

/**
 * The child's stack, as the cause of a rebuilt error. Its `<target>:line:column` frames are
 * positions in `targetSource`, the text of the target function the child ran (when the parent
 * sent it as source): a kernel finds that text in the cell that defined the function.
 */
export class RemoteTraceback extends Error {
  override name = "RemoteTraceback";
  readonly pid: number;
  /** Set by setTargetSource(), where the parent knows which function the child ran. */
  declare readonly targetSource: string | undefined;
  constructor(pid: number, stack: string | undefined, cause?: unknown) {
    super(`raised in child process ${pid}`, cause === undefined ? undefined : { cause });
    this.pid = pid;
    // The stack shown is the child's, not where the parent rebuilt the error.
    this.stack = `RemoteTraceback: in child process ${pid}:\n${stack ?? "(no stack)"}`;
  }
}

/**
 * Say which target function's text a rebuilt error's `<target>` frames point into, if not said yet:
 * its own child's stack, and the stacks of the causes it had in that same child (an error thrown
 * with `{ cause }` there), whose frames are in the same target. Not past a traceback that came
 * from a process further down (a grandchild's, rebuilt in the child and sent on): its frames are
 * in another target, and every cause under it has crossed under the child's pid.
 */
export function setTargetSource(error: unknown, source: string): void {
  const first = isError(error) ? safeGet(error, "cause", undefined) : undefined;
  if (!(first instanceof RemoteTraceback)) return;
  const seen = new Set<unknown>();
  for (let cause: unknown = first; isError(cause) && !seen.has(cause); cause = safeGet(cause, "cause", undefined)) {
    seen.add(cause);
    if (!(cause instanceof RemoteTraceback)) {
      if (cause.name === "RemoteTraceback") return;
      continue;
    }
    // Not enumerable: the whole function's text is no field to print with the error.
    if (cause.targetSource === undefined) Object.defineProperty(cause, "targetSource", { value: source, enumerable: false });
  }
}

function rebuildError(record: ErrorRecord): Error {
  const rebuild = record.errorClass === undefined ? undefined : rebuilders.get(record.errorClass);
  if (rebuild) {
    try {
      return rebuild({ name: record.name, message: record.message, props: record.props });
    } catch {
      // a rebuilder that fails must not lose the error: rebuild it as any other
    }
  }
  const Ctor = BUILTIN[record.name] ?? Error;
  const error = new Ctor(record.message);
  if (error.name !== record.name) {
    Object.defineProperty(error, "name", { value: record.name, writable: true, configurable: true, enumerable: false });
  }
  Object.assign(error, record.props);
  return error;
}

/** Rebuild an error in this process. A thrown non-Error comes back as the value itself. */
export function fromErrorRecord(record: ErrorRecord): unknown {
  if (!record.isError) return record.thrown;
  const error = rebuildError(record);
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
