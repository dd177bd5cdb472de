/**
 * The contract between a kernel and the library.
 *
 * The library never imports a kernel: a kernel that wants to serve it installs an object of this
 * shape on `globalThis[KERNEL_BRIDGE]`. Everything the library sends through it is routed by the
 * kernel to the cell whose work caused it (the kernel tracks that with AsyncLocalStorage), so a
 * callback that fires after its cell finished still reaches that cell's outputs.
 */

/** A Jupyter MIME bundle: `text/plain` always, plus richer representations. */
export type MimeBundle = { "text/plain": string } & Record<string, unknown>;

export interface DisplayOptions {
  /** Names the output so that later calls with `update: true` replace it in place. */
  displayId?: string;
  /** Replace every output that has `displayId` instead of adding a new one. */
  update?: boolean;
  metadata?: Record<string, unknown>;
}

export interface KernelBridge {
  display(bundle: MimeBundle, options?: DisplayOptions): void;
  clearOutput(wait: boolean): void;
  /** Called when the user interrupts the cell that was running when `listener` was registered. */
  onInterrupt(listener: () => void): () => void;
  /** Called once before the kernel shuts down or restarts; the kernel awaits what it returns. */
  onShutdown(listener: () => void | Promise<void>): () => void;
  /**
   * Ask the user for a line of text in the frontend (Jupyter's stdin channel), for the cell that
   * runs now. Rejects when the frontend does not take input (`allow_stdin` false, as in nbclient).
   */
  input(prompt: string, options: { password: boolean }): Promise<string>;
  /**
   * The TypeScript declarations of the cells run so far (tslab's declaration output, which keeps
   * the cells' imports with their modules), the running cell's included once it type-checked. A
   * target that uses a cell's import is told which module to require; without this, the library
   * goes by the function's source alone.
   */
  declarations?(): string;
}

export const KERNEL_BRIDGE = Symbol.for("forklab.kernel-bridge");

export function findKernelBridge(): KernelBridge | undefined {
  return (globalThis as { [KERNEL_BRIDGE]?: KernelBridge })[KERNEL_BRIDGE];
}

/**
 * How an object shows itself in a notebook: a method under this symbol returns a MIME bundle (or a
 * promise of one). The forklab kernel, tslab and IPython-style frontends all look for it.
 */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/**
 * A live object (a Process, a Pool, a Queue) already has an output that it keeps up to date; this
 * property holds that output's display id. A kernel that shows such an object as a cell's result
 * shows it once per cell, with this display id, so that the result stays live too.
 */
export const LIVE_DISPLAY_ID: unique symbol = Symbol.for("forklab.liveDisplayId") as never;
