/**
 * An item as it is stored and sent: the bytes of its structured clone, taken when it is put (so a
 * later change to the object does not change the item, as Python pickles at put()).
 *
 * The commonest items skip `v8.serialize` (a few µs each, most of a small item's cost): a number,
 * a well-formed string, true/false/null/undefined, and the bytes of a Uint8Array or a Buffer cross
 * in a form of their own, and come out as structured clone would give them back.
 */
import { deserialize, serialize } from "node:v8";
import { ClassInstanceError, findClassInstance, findUncloneable, uncloneableMessage } from "../protocol/clone";
import { encodeHandles, reviveHandles } from "../protocol/handles";

export const enum Form {
  V8 = 0,
  Number = 1,
  String = 2,
  Uint8Array = 3,
  Buffer = 4,
  True = 5,
  False = 6,
  Null = 7,
  Undefined = 8,
  /** Never on the wire: the item is unpacked already (`value`), where it was read (receivedItem). */
  Value = 9,
}

export interface PackedItem {
  bytes: Buffer;
  /** The bytes hold handle markers (a queue or pipe inside the item) to revive on the way out. */
  handles: boolean;
  /** How the bytes encode the item (Form.V8: v8.serialize). */
  form: Form;
  /** With handles: the put failed, the item was not sent; undo what encoding them did (handles.ts onUnsent). */
  unsend?: () => void;
  /** With Form.Value: the item itself. */
  value?: unknown;
}

const NONE = Buffer.alloc(0);

function packed(form: Form, bytes = NONE): PackedItem {
  return { bytes, handles: false, form };
}

/**
 * A number's bytes when they are copied within put() (`lend`): written here, not into a buffer of
 * their own, since every put of a stream of numbers would otherwise leave one behind for the GC.
 */
const lentNumber = Buffer.allocUnsafeSlow(8);

/** The bytes of a Uint8Array or Buffer item: a copy, or with `lend` a view of its own memory. */
function bytesOf(item: Uint8Array, lend: boolean): Buffer {
  return lend ? Buffer.from(item.buffer, item.byteOffset, item.byteLength) : Buffer.from(item);
}

/** The item in a form of its own, or undefined when it needs v8.serialize. */
function packFast(item: unknown, lend: boolean): PackedItem | undefined {
  switch (typeof item) {
    case "number": {
      const bytes = lend ? lentNumber : Buffer.allocUnsafe(8);
      bytes.writeDoubleLE(item, 0);
      return packed(Form.Number, bytes);
    }
    case "string":
      // A lone surrogate would not survive UTF-8; structured clone keeps it.
      return (item as string & { isWellFormed(): boolean }).isWellFormed() ? packed(Form.String, Buffer.from(item, "utf8")) : undefined;
    case "boolean":
      return packed(item ? Form.True : Form.False);
    case "undefined":
      return packed(Form.Undefined);
    case "object": {
      if (item === null) return packed(Form.Null);
      const proto = Object.getPrototypeOf(item);
      if (proto === Uint8Array.prototype) return packed(Form.Uint8Array, bytesOf(item as Uint8Array, lend));
      if (proto === Buffer.prototype) return packed(Form.Buffer, bytesOf(item as Buffer, lend));
      return undefined;
    }
    default:
      return undefined;
  }
}

/**
 * One serialize for plain data. A queue or pipe inside the item fails that by construction (see
 * handles.ts), and only then is the item walked for handles. Throws a TypeError naming where an
 * uncloneable value sits.
 *
 * `lend`: the put copies the bytes before it returns (into its outbox or ring), so the bytes of
 * a Uint8Array or Buffer item may be its own memory rather than a copy made here first, and a
 * number's are written where the next one's will be.
 */
export function packItem(item: unknown, where: string, lend = false): PackedItem {
  const fast = packFast(item, lend);
  if (fast) return fast;
  const { packed, value } = serializeItem(item, where);
  // Structured clone keeps a class instance's fields and drops its class: refused, as for spawn's
  // arguments, rather than arriving as a plain object without its methods (a bounded look).
  const found = findClassInstance(value, "item");
  if (found) {
    packed.unsend?.();
    throw new ClassInstanceError(found.path, found.value);
  }
  return packed;
}

/** The item serialized as it is, or with its queues and pipes as handle markers; `value` is what was serialized. */
function serializeItem(item: unknown, where: string): { packed: PackedItem; value: unknown } {
  try {
    return { packed: { bytes: serialize(item), handles: false, form: Form.V8 }, value: item };
  } catch (error) {
    const encoded = encodeHandles(item);
    if (encoded.found) {
      try {
        return { packed: { bytes: serialize(encoded.value), handles: true, form: Form.V8, unsend: encoded.unsend }, value: encoded.value };
      } catch {
        encoded.unsend();
      }
    }
    const found = findUncloneable(encoded.value, "item");
    throw new TypeError(found ? uncloneableMessage(found, where) : `The item cannot be sent ${where}: ${(error as Error).message}`);
  }
}

/**
 * An item as a consumer receives it. From memory that is overwritten once this returns (`lent`: a
 * ring, a socket's read buffer), a form of its own is unpacked now, straight from there, with no
 * copy of its bytes made first (a Uint8Array item's bytes are copied once, into its own memory),
 * and an item that needs v8.deserialize keeps a copy of its bytes, unpacked when a get() returns
 * it. Bytes that are the receiver's already (a large frame put together from several reads) are
 * kept as they are: copied nowhere.
 */
export function receivedItem(bytes: Buffer, form: Form, handles: boolean, lent: boolean): PackedItem {
  if (form === Form.V8) return { bytes: lent ? Buffer.from(bytes) : bytes, handles, form };
  const value = lent ? valueOf(bytes, form) : ownedValueOf(bytes, form);
  return { bytes: NONE, handles: false, form: Form.Value, value };
}

/** valueOf for bytes nobody else holds: a binary item is a view of them rather than a copy. */
function ownedValueOf(bytes: Buffer, form: Form): unknown {
  if (form === Form.Uint8Array) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  if (form === Form.Buffer) return bytes;
  return valueOf(bytes, form);
}

/** The item's value, with handle markers left as they are (what the owner's picture previews). */
export function itemValue(item: PackedItem): unknown {
  return item.form === Form.Value ? item.value : valueOf(item.bytes, item.form);
}

function valueOf(bytes: Buffer, form: Form): unknown {
  switch (form) {
    case Form.Number:
      return bytes.readDoubleLE(0);
    case Form.String:
      return bytes.toString("utf8");
    case Form.Uint8Array:
      return new Uint8Array(bytes);
    case Form.Buffer:
      return Buffer.from(bytes);
    case Form.True:
      return true;
    case Form.False:
      return false;
    case Form.Null:
      return null;
    case Form.Undefined:
      return undefined;
    default:
      return deserialize(bytes);
  }
}

export function unpackItem(item: PackedItem): unknown {
  const value = itemValue(item);
  return item.handles ? reviveHandles(value) : value;
}
