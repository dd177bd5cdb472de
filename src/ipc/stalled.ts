/**
 * Waits that only another process could end: an untimed get() of an empty queue, put() into a full
 * one, join(), recv() and poll(null), in the process that owns the queue. The owner's queues do not
 * keep it alive (server.ts), its processes do, as in Python. So when nothing else is left to run
 * ('beforeExit'), such a wait cannot end: Python would hang there, and Node would end the process
 * with exit code 0 and the wait's promise never settled, the rest of the program silently skipped.
 *
 * Then, if processes this one started are still alive without keeping it alive (daemons, idle
 * Pool workers), one of them may still end the wait, as in Python: they are made to keep it alive
 * until the waits are over. Otherwise each such wait fails with an error that says why.
 */

interface StalledWait {
  /** What the wait is on (its queue's store) and which operation: the same wait, tried again, is the same key. */
  key: string;
  /** Why it cannot end. */
  error(): Error;
  fail(error: Error): void;
}

const stalled = new Set<StalledWait>();
let listening = false;
/** Makes the processes that do not keep this one alive keep it alive; undefined if none is alive. Undoes it when called back. */
let keepProcessesAlive: (() => (() => void) | undefined) | undefined;
let releaseProcesses: (() => void) | undefined;
/** The keys of the waits failed at the last dry loop, and how many dry loops in a row failed just those. */
let lastFailed = "";
let repeats = 0;
/**
 * A program that catches the failure and waits the same way again, with nothing else to run, would
 * go round at full speed for ever: the third time, the process ends instead, with what it waits for.
 */
const MAX_REPEATS = 2;

/** Set by the side that starts processes: see keepProcessesAlive. */
export function onStalledKeepAlive(keep: () => (() => void) | undefined): void {
  keepProcessesAlive = keep;
}

/**
 * `fail` is called with `error()` if the process runs out of work while the wait is on and no
 * process it started is alive. `on` names what it waits on (one object per queue) with `op`.
 * Returns what to call once the wait is over (it settled another way).
 */
export function failIfStalled(on: object, op: string, error: () => Error, fail: (error: Error) => void): () => void {
  if (!listening) {
    listening = true;
    process.on("beforeExit", onDry);
  }
  const wait: StalledWait = { key: `${idOf(on)}.${op}`, error, fail };
  stalled.add(wait);
  return () => {
    stalled.delete(wait);
    if (stalled.size === 0) release();
  };
}

const ids = new WeakMap<object, number>();
let nextId = 1;
function idOf(on: object): number {
  let id = ids.get(on);
  if (id === undefined) ids.set(on, (id = nextId++));
  return id;
}

function release(): void {
  const undo = releaseProcesses;
  releaseProcesses = undefined;
  undo?.();
}

function onDry(): void {
  // Kept alive before, the loop ran dry again: those processes have ended since.
  release();
  if (stalled.size === 0) return;
  releaseProcesses = keepProcessesAlive?.();
  if (releaseProcesses) return;
  const waits = [...stalled];
  stalled.clear();
  const failed = waits.map((w) => w.key).sort().join(" ");
  repeats = failed === lastFailed ? repeats + 1 : 0;
  lastFailed = failed;
  if (repeats > MAX_REPEATS) {
    // The failures were caught and the same waits made again: end here, saying so once.
    for (const wait of waits) process.stderr.write(`forklab: ${wait.error().message} It failed so ${repeats} times and was tried again each time: the process ends here.\n`);
    process.exitCode ||= 1;
    return;
  }
  for (const wait of waits) wait.fail(wait.error());
  // What the failures run (in microtasks, after this) may wait again. Node looks at the loop once
  // more only if something is scheduled: one turn, after which those waits fail in their turn.
  setImmediate(() => {});
}

/** Why a wait of `where` cannot end: `what` it waits for, and what would end it. */
export function stalledError(where: string, what: string, remedy: string): Error {
  return new Error(
    `${where} would wait for ever: ${what}, and no process this one started is alive while this process has nothing else left to run ` +
      `(Python would hang here; Node would end the process, the rest of the program skipped). ${remedy}`,
  );
}
