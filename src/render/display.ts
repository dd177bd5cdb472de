/**
 * The one place where the library talks to whatever runs it: the forklab kernel (through its
 * bridge), vanilla tslab (through its display hook, as far as it allows), or nothing at all (a
 * plain Node script or a test), where text goes to stdout.
 */
import { findKernelBridge, type DisplayOptions, type MimeBundle } from "../protocol/kernel-bridge";
import { readStdinLine } from "./stdin-lines";

export type { DisplayOptions, MimeBundle } from "../protocol/kernel-bridge";

/** tslab's own hook, `lastWriteDisplayData`, lives in its `dist/jupyter.js` once its kernel runs. */
type TslabWriteDisplayData = (
  message: { data: MimeBundle; metadata: Record<string, unknown>; transient: { display_id?: string } },
  update: boolean,
) => void;

/** null: looked, and this process is not vanilla tslab's kernel. */
let tslabWriter: TslabWriteDisplayData | null | undefined;

/**
 * tslab's hook, looked up once: tslab loads `jupyter.js` when its kernel starts, before any cell
 * runs, so the first call already knows, and later calls need not scan the module cache again.
 */
function findTslabWriter(): TslabWriteDisplayData | undefined {
  if (tslabWriter !== undefined) return tslabWriter ?? undefined;
  tslabWriter = null;
  for (const file of Object.keys(require.cache)) {
    if (!/[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(file)) continue;
    const writer = (require.cache[file]?.exports as { lastWriteDisplayData?: TslabWriteDisplayData } | undefined)
      ?.lastWriteDisplayData;
    if (typeof writer === "function") {
      tslabWriter = writer;
      break;
    }
  }
  return tslabWriter ?? undefined;
}

function checkBundle(bundle: MimeBundle): void {
  if (bundle === null || typeof bundle !== "object" || typeof bundle["text/plain"] !== "string") {
    throw new TypeError(
      `display() needs a MIME bundle with a "text/plain" string, got ${describe(bundle)}; ` +
        `pass e.g. { "text/plain": "hello", "text/html": "<b>hello</b>" }`,
    );
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return `${typeof value} ${String(value)}`;
  return `an object with keys [${Object.keys(value).join(", ")}]`;
}

/**
 * Show a MIME bundle in the current cell's outputs.
 *
 * With `displayId`, the output can be replaced later by `display(newBundle, { displayId, update:
 * true })`, from any cell and after the cell has finished. Outside a kernel, `text/plain` is printed
 * and updates are skipped (a script would otherwise print every intermediate state).
 */
export function display(bundle: MimeBundle, options: DisplayOptions = {}): void {
  checkBundle(bundle);
  const bridge = findKernelBridge();
  if (bridge) return bridge.display(bundle, options);
  const writer = findTslabWriter();
  if (writer) {
    return writer(
      { data: bundle, metadata: options.metadata ?? {}, transient: { display_id: options.displayId } },
      options.update === true,
    );
  }
  if (!options.update) process.stdout.write(bundle["text/plain"] + "\n");
}

/** Clear the current cell's outputs; with `wait`, only once the next output arrives. */
export function clearOutput(options: { wait?: boolean } = {}): void {
  const bridge = findKernelBridge();
  // tslab has no clear_output message; outside a kernel there is nothing to clear.
  bridge?.clearOutput(options.wait === true);
}

/** Run `listener` when the user interrupts the cell running now. Returns an unsubscribe function. */
export function onInterrupt(listener: () => void): () => void {
  return findKernelBridge()?.onInterrupt(listener) ?? (() => {});
}

/** Run `listener` before the kernel shuts down or restarts. Returns an unsubscribe function. */
export function onShutdown(listener: () => void | Promise<void>): () => void {
  return findKernelBridge()?.onShutdown(listener) ?? (() => {});
}

/**
 * Python's `input()`: ask for a line of text. In the forklab kernel the frontend shows a text box
 * under the cell (with `password`, a masked one); outside a kernel the line is read from stdin,
 * and the end of stdin rejects with EOFError.
 * vanilla tslab has no way to ask, so there it rejects.
 */
export async function input(prompt = "", options: { password?: boolean } = {}): Promise<string> {
  const bridge = findKernelBridge();
  if (bridge) return bridge.input(String(prompt), { password: options.password === true });
  if (findTslabWriter()) {
    throw new Error("input() needs the forklab kernel: vanilla tslab cannot ask the frontend for input");
  }
  return readStdinLine(String(prompt));
}

/** Whether a Jupyter frontend will render rich bundles (otherwise only text reaches anyone). */
export function isInKernel(): boolean {
  return findKernelBridge() !== undefined || findTslabWriter() !== undefined;
}
