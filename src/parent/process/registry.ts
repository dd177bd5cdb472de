/**
 * What the parent knows about all its children: which are alive, their default names, the start
 * method, and the clean-up that makes sure none outlives it (normal exit, kernel shutdown).
 */
import { findKernelBridge, type KernelBridge } from "../../protocol/kernel-bridge";
import { childState } from "../../protocol/messages";
import { onShutdown } from "../../render/display";
import { onStalledKeepAlive } from "../../ipc/stalled";
import { discardSpares } from "./child-handle";

export interface Stoppable {
  isAlive(): boolean;
  /** Make it keep this process alive (while it is alive) until the returned function is called; undefined if it is not alive. */
  keepAlive?(): (() => void) | undefined;
  terminate(reason?: string): void;
  kill(): void;
  join(timeout?: number | null): Promise<void>;
}

const alive = new Set<Stoppable>();
let counter = 0;
let exitHookInstalled = false;
const bridgesHooked = new WeakSet<KernelBridge>();

/** Python's default names: Process-1, Process-2; in a child, Process-1:1 and so on. */
export function nextIdentity(): number[] {
  counter++;
  return [...(childState()?.proc.identity ?? []), counter];
}

/** Where the numbering stands, to give back numbers that a refused start took (see rewind). */
export function identityMark(): number {
  return counter;
}

/**
 * Give back the numbers taken since `mark`: `spawn()` that refuses to start (bad arguments, no
 * such directory) leaves no gap, so the next process is Process-2 after Process-1.
 */
export function rewindIdentity(mark: number): void {
  counter = mark;
}

export function track(p: Stoppable): void {
  alive.add(p);
  installHooks();
}

export function untrack(p: Stoppable): void {
  alive.delete(p);
}

export function tracked(): Stoppable[] {
  return [...alive];
}

/**
 * For a queue's wait here that only another process could end (see ipc/stalled.ts): every process
 * this one started that is still alive keeps it alive, daemons and idle Pool workers too, until
 * the returned function is called; undefined if none is alive.
 */
function keepChildrenAlive(): (() => void) | undefined {
  const undos: (() => void)[] = [];
  for (const p of alive) {
    const undo = p.isAlive() ? p.keepAlive?.() : undefined;
    if (undo) undos.push(undo);
  }
  return undos.length > 0 ? () => undos.forEach((undo) => undo()) : undefined;
}

function installHooks(): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    onStalledKeepAlive(keepChildrenAlive);
    // Only synchronous work is possible here: signal the children; their channel closes anyway.
    process.on("exit", () => {
      discardSpares();
      for (const p of alive) if (p.isAlive()) p.terminate("exit");
    });
  }
  const bridge = findKernelBridge();
  if (bridge && !bridgesHooked.has(bridge)) {
    bridgesHooked.add(bridge);
    onShutdown(async () => {
      discardSpares();
      const running = [...alive].filter((p) => p.isAlive());
      for (const p of running) p.terminate("shutdown");
      await Promise.all(running.map((p) => p.join()));
    });
  }
}

export type StartMethod = "spawn" | "warm";
let startMethod: StartMethod = "spawn";

export function getStartMethod(): StartMethod {
  return startMethod;
}

export function setStartMethodValue(method: StartMethod): void {
  startMethod = method;
}
