/** Python's queue.Empty and queue.Full, crossing between processes as themselves. */
import { registerErrorClass } from "../protocol/errors";

/** get() found no item: getNowait() on an empty queue, or get() whose timeout ran out. */
export class Empty extends Error {
  override name = "Empty";
}

/** put() found no room: putNowait() on a full queue, or put() whose timeout ran out. */
export class Full extends Error {
  override name = "Full";
}

registerErrorClass(Empty);
registerErrorClass(Full);
