/**
 * An item as it is stored and sent: the bytes of its structured clone, taken when it is put (so a
 * later change to the object does not change the item, as Python pickles at put()).
 */
import { deserialize, serialize } from "node:v8";
import { findUncloneable, uncloneableMessage } from "../protocol/clone";
import { encodeHandles, reviveHandles } from "../protocol/handles";

export interface PackedItem {
  bytes: Buffer;
  /** The bytes hold handle markers (a queue or pipe inside the item) to revive on the way out. */
  handles: boolean;
}

/**
 * One serialize for plain data. A queue or pipe inside the item fails that by construction (see
 * handles.ts), and only then is the item walked for handles. Throws a TypeError naming where an
 * uncloneable value sits.
 */
export function packItem(item: unknown, where: string): PackedItem {
  try {
    return { bytes: serialize(item), handles: false };
  } catch (error) {
    const encoded = encodeHandles(item);
    if (encoded.found) {
      try {
        return { bytes: serialize(encoded.value), handles: true };
      } catch {
        // named below
      }
    }
    const found = findUncloneable(encoded.value, "item");
    throw new TypeError(found ? uncloneableMessage(found, where) : `The item cannot be sent ${where}: ${(error as Error).message}`);
  }
}

export function unpackItem(item: PackedItem): unknown {
  const value = deserialize(item.bytes);
  return item.handles ? reviveHandles(value) : value;
}
