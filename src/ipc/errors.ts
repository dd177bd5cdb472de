/** Python's queue.Empty and queue.Full, and the BrokenPipeError of a pipe's send(), crossing between processes as themselves. */
import { registerErrorClass } from "../protocol/errors";

/** get() found no item: getNowait() on an empty queue, or get() whose timeout ran out. */
export class Empty extends Error {
  override name = "Empty";
}

/** put() found no room: putNowait() on a full queue, or put() whose timeout ran out. */
export class Full extends Error {
  override name = "Full";
}

/** send() on a pipe whose other end is closed: no copy of it is open in any process, so nothing could receive. */
export class BrokenPipeError extends Error {
  override name = "BrokenPipeError";
}

registerErrorClass(Empty);
registerErrorClass(Full);
registerErrorClass(BrokenPipeError);
