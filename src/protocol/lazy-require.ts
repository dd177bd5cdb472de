/**
 * Loading a module on first use so that a load stopped half way does not stay broken.
 *
 * A cell interrupted while it loads a module (the stop button pressed while a cell first uses
 * Redis, as ioredis and BullMQ load) is stopped by V8's termination, which runs no catch or finally
 * block: not Node's, which would forget the module being loaded, and not ours. That module and
 * those under it stayed in the cache half made, and every later use failed ("RedisQueue is not a
 * constructor") until the kernel restarted. So a load records what the cache held before it and
 * clears the record when it returns or throws; a record still there at the next load is from a
 * load that was stopped, and every module that load added is forgotten, so that this one loads
 * them all again. The lazy loads are made at run time by constructors and getters, never while
 * another of them is under way, so a record left behind always means a stopped load.
 */

/** The cache's modules before the load under way, or before one that never returned. */
let before: Set<string> | undefined;

function forgetAllBut(kept: Set<string>): void {
  for (const key of Object.keys(require.cache)) if (!kept.has(key)) delete require.cache[key];
}

export function loadAfresh<T>(load: () => T): T {
  if (before) forgetAllBut(before);
  const mine = new Set(Object.keys(require.cache));
  before = mine;
  try {
    const loaded = load();
    before = undefined;
    return loaded;
  } catch (error) {
    // An ordinary failure: what finished of this load may hold what did not; forget it all too.
    before = undefined;
    forgetAllBut(mine);
    throw error;
  }
}
