/**
 * The compiled half of the ring transport (shm.c, built by build.ts next to this file), if it
 * was built: where it was not (no C compiler), or with `FORKLAB_QUEUE_TRANSPORT=socket`, a
 * process connects to queue owners on their sockets alone.
 */
import * as path from "node:path";

export interface SharedMemory {
  /** The open file `fd`, `bytes` long, reserved and mapped shared: what either process writes there, the other sees. */
  map(fd: number, bytes: number): ArrayBuffer;
  /** Unmaps what map() returned, now (the ArrayBuffer and its views are empty from then on). */
  release(memory: ArrayBuffer): void;
}

let loaded: SharedMemory | null | undefined;

/** The addon, if it was built here: what an owner maps a proxy's rings with, whatever this process's own choice. */
export function sharedMemoryAddon(): SharedMemory | undefined {
  if (loaded === undefined) {
    try {
      loaded = require(path.join(__dirname, "shm.node")) as SharedMemory;
    } catch {
      // Not built: the socket carries everything.
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/** The addon, unless it is not built here or turned off: whether this process's new connections use rings. */
export function sharedMemory(): SharedMemory | undefined {
  return process.env.FORKLAB_QUEUE_TRANSPORT === "socket" ? undefined : sharedMemoryAddon();
}
