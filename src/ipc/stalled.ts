/**
 * Waits that only another process could end: an untimed get() of an empty queue, put() into a full
 * one, join(), recv() and poll(null), in the process that owns the queue. The owner's queues do not
 * keep it alive (server.ts), its processes do, as in Python. So when nothing else is left to run,
 * nothing can ever end such a wait: Python would hang there, and Node ends the process with exit
 * code 0 and the wait's promise never settled, the rest of the program silently skipped. Instead,
 * when the event loop runs dry ('beforeExit'), each such wait fails with an error that says why.
 */

const stalled = new Set<() => void>();
let listening = false;

/**
 * `fail` is called if the process runs out of work while the wait is on. Returns what to call
 * once the wait is over (it settled another way).
 */
export function failIfStalled(fail: () => void): () => void {
  if (!listening) {
    listening = true;
    process.on("beforeExit", failStalled);
  }
  stalled.add(fail);
  return () => stalled.delete(fail);
}

function failStalled(): void {
  if (stalled.size === 0) return;
  const waits = [...stalled];
  stalled.clear();
  for (const fail of waits) fail();
  // What the failures run (in microtasks, after this) may wait again. Node looks at the loop once
  // more only if something is scheduled: one turn, after which those waits fail in their turn.
  setImmediate(() => {});
}

/** Why a wait of `where` on a queue (or a pipe) cannot end: `what` it waits for, and what would end it. */
export function stalledError(where: string, on: "queue" | "pipe", what: string, remedy: string): Error {
  return new Error(
    `${where} would wait for ever: ${what}, and no other process is using the ${on} while this process has nothing else left to run ` +
      `(Python would hang here; Node would end the process, the rest of the program skipped). ${remedy}`,
  );
}
