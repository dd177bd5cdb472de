/**
 * The compiled half of the ring transport (shm.c, built by build.ts next to this file), if it
 * could be built here and is not turned off: `FORKLAB_QUEUE_TRANSPORT=socket` keeps every queue
 * on its socket alone, as it is where there is no C compiler.
 */
import * as path from "node:path";

export interface SharedMemory {
  /** The open file `fd`, `bytes` long, mapped shared: what either process writes there, the other sees. */
  map(fd: number, bytes: number): ArrayBuffer;
}

let loaded: SharedMemory | null | undefined;

/** The addon, unless it is not built here or turned off (looked at for each new connection). */
export function sharedMemory(): SharedMemory | undefined {
  if (process.env.FORKLAB_QUEUE_TRANSPORT === "socket") return undefined;
  if (loaded === undefined) {
    try {
      loaded = require(path.join(__dirname, "shm.node")) as SharedMemory;
    } catch {
      // Not built (no compiler where this was installed): the socket carries everything.
      loaded = null;
    }
  }
  return loaded ?? undefined;
}
