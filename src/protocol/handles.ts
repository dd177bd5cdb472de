/**
 * Handles: objects that cannot be cloned but can be *re-created* on the other side of a channel
 * (queues, pipes, locks), as Python's reducers do for multiprocessing objects.
 *
 * An object opts in by implementing `[TO_HANDLE]()`, returning a kind and a clonable state. While
 * a message is encoded, such objects are replaced by a marker `{ [HANDLE_KEY]: kind, module,
 * state }` and the message gets `h: 1`. The receiver revives each marker with the reviver
 * registered for its kind; if none is registered yet, it first `require`s `module` (the file that
 * defines the kind and registers it), so a child never needs to know the kinds in advance.
 *
 * Messages without handles are never walked. A handleable object fails `v8.serialize` by
 * construction (`makeHandleable` gives it an enumerable function-valued property), so encoding a
 * message is one serialize when it holds no handle, and only a failed serialize leads to the walk
 * (`encodeMessage`); decoding walks only when the sender set `h: 1`. A marker holds everything
 * needed to reach the object's owner (e.g. a queue's socket path), so it can be encoded before the
 * channel it travels on exists, and passed on from a child to a grandchild unchanged.
 */
import { canClone } from "./clone";
import { encodeRecord } from "./framing";
import type { Message } from "./messages";

export const HANDLE_KEY = "$forklab.handle";
export const TO_HANDLE: unique symbol = Symbol.for("forklab.toHandle") as never;

export interface HandleDescriptor {
  kind: string;
  /** Absolute path of a module that registers the reviver for `kind` when loaded. */
  module: string;
  state: unknown;
}

export interface Handleable {
  [TO_HANDLE](context: HandleContext | undefined): HandleDescriptor;
}

/**
 * What a reviver (and a handle being encoded) can use: which process is on the other side, and a
 * way to send data to a numbered port through this channel and to receive data for it.
 */
export interface HandleContext {
  side: "parent" | "child";
  /** pid of the process at the other end of the channel. */
  peerPid: number | undefined;
  sendPort(port: number, data: unknown): void;
  onPort(port: number, listener: (data: unknown) => void): () => void;
  /**
   * Calls `listener` with the other end's pid once that process has ended; absent where this side
   * does not see it end. Returns what stops the listening (a long-lived worker is sent many ends).
   */
  onPeerEnd?(listener: (pid: number) => void): () => void;
}

export type HandleReviver = (state: unknown, context: HandleContext | undefined) => unknown;

const revivers = new Map<string, HandleReviver>();

/** Register how a kind of handle is re-created on the receiving side. */
export function registerHandleKind(kind: string, reviver: HandleReviver): void {
  revivers.set(kind, reviver);
}

/** The property that makes a handleable object fail `v8.serialize` (a function cannot be cloned). */
const UNCLONEABLE_KEY = "$forklab.handle";

/**
 * Make `object` a handle: `toHandle` describes it for the other side, and the object can no longer
 * be structured-cloned as plain data by accident (its state would be copied, its link lost).
 */
export function makeHandleable(object: object, toHandle: (context: HandleContext | undefined) => HandleDescriptor): void {
  Object.defineProperty(object, TO_HANDLE, { value: toHandle, enumerable: false });
  Object.defineProperty(object, UNCLONEABLE_KEY, { value: toHandle, enumerable: true });
}

export function isHandleable(value: unknown): value is Handleable {
  return typeof value === "object" && value !== null && typeof (value as Partial<Handleable>)[TO_HANDLE] === "function";
}

interface Marker {
  [HANDLE_KEY]: string;
  module: string;
  state: unknown;
}

function isMarker(value: unknown): value is Marker {
  return typeof value === "object" && value !== null && typeof (value as Partial<Marker>)[HANDLE_KEY] === "string";
}

/** What undoes the encoding of each handle met by the encodeHandles() call under way. */
let undoing: (() => void)[] | undefined;

/**
 * For a handle's [TO_HANDLE]: `undo` is called if the value it is encoded in is not sent after
 * all (it could not be cloned, or the put that carried it failed). A pipe's writing end counts as
 * held once it is encoded; an end that never left must stop counting, or its pipe never ends.
 */
export function onUnsent(undo: () => void): void {
  undoing?.push(undo);
}

const nothingToUndo = () => {};

export interface EncodedHandles {
  value: unknown;
  found: boolean;
  /** The value will not be sent after all: undo what encoding its handles did (see onUnsent). */
  unsend: () => void;
}

/**
 * Replace handleable objects by markers, copying only the containers on the way to one.
 * Returns the value unchanged (and `found: false`) when there is nothing to replace.
 */
export function encodeHandles(value: unknown, context?: HandleContext): EncodedHandles {
  // Plain data is not walked (a handle fails serialize). Channel.send does this itself, with one
  // serialize for plain data: call this only for values that are not sent as a message's payload.
  if (canClone(value)) return { value, found: false, unsend: nothingToUndo };
  let found = false;
  const undos: (() => void)[] = [];
  const seen = new Map<object, unknown>();
  const walk = (v: unknown): unknown => {
    if (typeof v !== "object" || v === null) return v;
    if (seen.has(v)) return seen.get(v);
    if (isHandleable(v)) {
      found = true;
      const d = v[TO_HANDLE](context);
      const marker: Marker = { [HANDLE_KEY]: d.kind, module: d.module, state: walk(d.state) };
      seen.set(v, marker);
      return marker;
    }
    seen.set(v, v);
    if (Array.isArray(v)) {
      let copy: unknown[] | undefined;
      v.forEach((item, i) => {
        const w = walk(item);
        if (w !== item) (copy ??= v.slice())[i] = w;
      });
      if (copy) seen.set(v, copy);
      return copy ?? v;
    }
    if (v instanceof Map) {
      let changed = false;
      const entries = [...v].map(([k, item]) => {
        const wk = walk(k);
        const wv = walk(item);
        if (wk !== k || wv !== item) changed = true;
        return [wk, wv] as const;
      });
      return changed ? new Map(entries) : v;
    }
    if (v instanceof Set) {
      let changed = false;
      const items = [...v].map((item) => {
        const w = walk(item);
        if (w !== item) changed = true;
        return w;
      });
      return changed ? new Set(items) : v;
    }
    if (ArrayBuffer.isView(v) || v instanceof Date || v instanceof RegExp || v instanceof Error) return v;
    let copy: Record<string, unknown> | undefined;
    for (const key of Object.keys(v)) {
      const item = (v as Record<string, unknown>)[key];
      const w = walk(item);
      if (w !== item) (copy ??= { ...(v as Record<string, unknown>) })[key] = w;
    }
    if (copy) seen.set(v, copy);
    return copy ?? v;
  };
  const outer = undoing;
  undoing = undos;
  let out: unknown;
  try {
    out = walk(value);
  } catch (error) {
    undos.forEach((undo) => undo());
    throw error;
  } finally {
    undoing = outer;
  }
  return { value: out, found, unsend: undos.length === 0 ? nothingToUndo : () => undos.splice(0).forEach((undo) => undo()) };
}

/** Replace markers by revived objects, in place (the value was just deserialized and is ours). */
export function reviveHandles(value: unknown, context?: HandleContext): unknown {
  const seen = new Set<object>();
  // A handle met twice was encoded as one marker, which comes back as one object: revived once,
  // as Python's pickling keeps one object (a pipe end closed through one name is closed).
  const revived = new Map<object, unknown>();
  const walk = (v: unknown): unknown => {
    if (typeof v !== "object" || v === null) return v;
    if (isMarker(v)) {
      if (!revived.has(v)) revived.set(v, revive(v, context));
      return revived.get(v);
    }
    if (seen.has(v)) return v;
    seen.add(v);
    if (Array.isArray(v)) v.forEach((item, i) => (v[i] = walk(item)));
    else if (v instanceof Map) {
      // Keys may be handles too: rebuild the entries in their order.
      const entries = [...v].map(([k, item]) => [walk(k), walk(item)] as const);
      v.clear();
      for (const [k, item] of entries) v.set(k, item);
    }
    else if (v instanceof Set) {
      const items = [...v].map(walk);
      v.clear();
      items.forEach((item) => v.add(item));
    } else if (!ArrayBuffer.isView(v) && !(v instanceof Date)) {
      for (const key of Object.keys(v)) (v as Record<string, unknown>)[key] = walk((v as Record<string, unknown>)[key]);
    }
    return v;
  };
  return walk(value);
}

function revive(marker: Marker, context: HandleContext | undefined): unknown {
  const kind = marker[HANDLE_KEY];
  let reviver = revivers.get(kind);
  if (!reviver && marker.module) {
    require(marker.module);
    reviver = revivers.get(kind);
  }
  if (!reviver) {
    throw new Error(
      `A handle of kind "${kind}" arrived but no reviver is registered for it (module ${JSON.stringify(marker.module)} ` +
        `did not call registerHandleKind("${kind}", ...)); make that module register the kind when it is loaded`,
    );
  }
  return reviver(reviveHandles(marker.state, context), context);
}

/** Where each kind of message carries user data that may hold handles. */
const PAYLOAD_FIELD: Partial<Record<Message["t"], string>> = {
  run: "args",
  result: "value",
  port: "data",
  tasks: "items",
  done: "values",
  setup: "initargs",
};

/**
 * Encode a message into a record, with its handles replaced by markers (and `h: 1`). Plain data
 * costs one serialize; the walk happens only when that serialize fails. Throws V8's DataCloneError
 * when the payload cannot cross even with its handles replaced.
 */
export function encodeMessage(message: Message, context?: HandleContext): Buffer {
  try {
    return encodeRecord(message);
  } catch (error) {
    // Only a value V8 refused can hold handles; a record over the size cap (RecordError) stays as it is.
    const field = PAYLOAD_FIELD[message.t];
    if (!field || !/could not be cloned/.test((error as Error).message)) throw error;
    const encoded = encodeHandles((message as unknown as Record<string, unknown>)[field], context);
    if (!encoded.found) throw error;
    try {
      return encodeRecord({ ...message, [field]: encoded.value, h: 1 } as Message);
    } catch (unsent) {
      encoded.unsend();
      throw unsent;
    }
  }
}
