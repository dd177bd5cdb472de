/**
 * Noticing a SIGINT that arrives while the kernel itself runs synchronous work for a cell (tslab
 * type-checking it), so that the interrupt stops the cell instead of being lost.
 *
 * Node delivers a SIGINT to `process.on("SIGINT")` only when the event loop turns, and breaks
 * synchronous code only while a script runs with `breakOnSigint`. Type-checking is neither: a
 * SIGINT that arrives then would reach the kernel's handler only after the cell's script had run
 * to its end. Breaking the type-check itself would stop TypeScript's compiler half way through
 * updating its program. Node's own REPL solves the same problem with its SIGINT watchdog, which
 * while started records a SIGINT (and keeps it from the JavaScript handler) without breaking
 * anything; a script run with `breakOnSigint` meanwhile is still broken by it. That watchdog is
 * reached through `process.binding("contextify")`; where a Node lacks it, a SIGINT during
 * type-checking is handled as before.
 */

interface SigintWatchdog {
  startSigintWatchdog(): boolean;
  /** Returns whether a SIGINT arrived since the matching start. */
  stopSigintWatchdog(): boolean;
}

function nodeWatchdog(): SigintWatchdog | undefined {
  // process.binding is deprecated (DEP0111): its warning is emitted on a later tick, out of reach
  // of this try, and under --throw-deprecation it is thrown there. Warnings are off for the call.
  const noDeprecation = process.noDeprecation;
  process.noDeprecation = true;
  try {
    const contextify = (process as unknown as { binding(name: string): Partial<SigintWatchdog> }).binding("contextify");
    if (typeof contextify.startSigintWatchdog !== "function" || typeof contextify.stopSigintWatchdog !== "function") return undefined;
    return contextify as SigintWatchdog;
  } catch {
    return undefined;
  } finally {
    process.noDeprecation = noDeprecation;
  }
}

// Windows interrupts a kernel by message, not SIGINT (see kernelspec.ts): nothing to record there.
const watchdog = process.platform === "win32" ? undefined : nodeWatchdog();

/**
 * Hands SIGINT back to the process's listeners. Stopping the last watchdog leaves SIGINT's
 * disposition at Node's default, which ends the process, while `process.on("SIGINT")` still
 * looks registered: libuv installs its handler again only when the first listener is added.
 * vm's `breakOnSigint` re-adds the listeners after its own watchdog (so a cell whose script runs
 * is safe), but a cell that failed its type-check runs no script, and the next SIGINT (the stop
 * button, even while idle) would end the kernel. Re-adding them here does what vm does.
 */
function rearmListeners(): void {
  const listeners = process.rawListeners("SIGINT") as Array<(...args: unknown[]) => void>;
  if (listeners.length === 0) return;
  process.removeAllListeners("SIGINT");
  for (const listener of listeners) process.addListener("SIGINT", listener);
}

export interface SigintWatch {
  /** Stops recording (once; later calls return the same answer): whether a SIGINT arrived. */
  stop(): boolean;
}

/** Starts recording SIGINTs; every watch must be stopped, or the kernel's handler never hears one again. */
export function watchSigint(): SigintWatch {
  const started = watchdog?.startSigintWatchdog() === true;
  let arrived: boolean | undefined;
  return {
    stop() {
      if (arrived === undefined) {
        arrived = started && watchdog!.stopSigintWatchdog();
        if (started) rearmListeners();
      }
      return arrived;
    },
  };
}
