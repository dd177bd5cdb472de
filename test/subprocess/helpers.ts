import { KERNEL_BRIDGE, type DisplayOptions, type KernelBridge, type MimeBundle } from "../../src/protocol/kernel-bridge";

export const node = process.execPath;

/** `[node, "-e", script, "--", ...args]`: a portable program. */
export const js = (script: string, ...args: string[]): string[] => [node, "-e", script, "--", ...args];

export interface RecordedDisplay {
  bundle: MimeBundle;
  options: DisplayOptions;
}

/**
 * A kernel bridge as a kernel installs it (the contract in src/protocol/kernel-bridge.ts), that
 * records what the library sends and lets a test fire interrupt and shutdown.
 */
export class RecordingBridge implements KernelBridge {
  displays: RecordedDisplay[] = [];
  interruptListeners = new Set<() => void>();
  shutdownListeners = new Set<() => void | Promise<void>>();
  #waiters: Array<{ test: (d: RecordedDisplay) => boolean; resolve: (d: RecordedDisplay) => void }> = [];

  display(bundle: MimeBundle, options: DisplayOptions = {}): void {
    const entry = { bundle, options };
    this.displays.push(entry);
    this.#waiters = this.#waiters.filter((w) => (w.test(entry) ? (w.resolve(entry), false) : true));
  }
  clearOutput(): void {}
  onInterrupt(listener: () => void): () => void {
    this.interruptListeners.add(listener);
    return () => this.interruptListeners.delete(listener);
  }
  onShutdown(listener: () => void | Promise<void>): () => void {
    this.shutdownListeners.add(listener);
    return () => this.shutdownListeners.delete(listener);
  }
  /** Resolves with the first display (past or future) that passes `test`. */
  next(test: (d: RecordedDisplay) => boolean): Promise<RecordedDisplay> {
    const found = this.displays.find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }
  install(): this {
    (globalThis as Record<symbol, unknown>)[KERNEL_BRIDGE] = this;
    return this;
  }
  uninstall(): void {
    delete (globalThis as Record<symbol, unknown>)[KERNEL_BRIDGE];
  }
}
