/**
 * Runs cells with tslab: converts and type-checks each one against the cells before it, executes
 * it, and reports the outcome as data (a value, or an error with cell positions) instead of
 * printing it, as tslab's own kernel does.
 */
import vm from "node:vm";
import { watchSigint, type SigintWatch } from "./sigint-watch";
import { installLibraryHooks } from "./tslab-loader";
import { hasTopLevelForAwait } from "./top-level-await";
import { diagnosticsError, runtimeError, type CellSource, type Diagnostic, type ErrorContent } from "./traceback";

export type CellOutcome =
  | { status: "ok"; hasValue: false }
  | { status: "ok"; hasValue: true; value: unknown }
  | { status: "error"; error: ErrorContent; interrupted?: boolean };

export interface CompletionResult {
  matches: string[];
  cursorStart: number;
  cursorEnd: number;
}

interface TslabExecutor {
  execute(src: string): Promise<boolean>;
  complete(src: string, position: number): { start: number; end: number; candidates: string[] };
  inspect(src: string, position: number): unknown;
  interrupt(): void;
  close(): void;
}

/** tslab prints diagnostics with exactly this format string; that is how we tell them apart. */
const DIAGNOSTIC_FORMAT = "%s%d:%d - %s";

export class CellExecutor {
  #created: TslabExecutor | undefined;
  #printQuickInfo!: (info: unknown) => string;
  #isCompleteCode!: (code: string) => { completed: boolean; indent?: string };
  readonly #cells = new Map<string, CellSource>();
  readonly #declarations = new Declarations();
  #scriptName: string | undefined;
  #lastSource = "";
  /** The running cell's interrupt (the kernel aborts it), and the SIGINTs noticed while it was type-checked. */
  #cell: { signal: AbortSignal; typeCheck: SigintWatch } | undefined;
  #captured: { value?: { value: unknown }; thrown?: { value: unknown }; diagnostics: Diagnostic[] } = { diagnostics: [] };

  /**
   * tslab's compiler takes about a second to start, so it starts on first use (or on `warmUp`),
   * not with the kernel: the kernel answers kernel_info at once.
   */
  get #tslab(): TslabExecutor {
    return (this.#created ??= this.#createTslab());
  }

  warmUp(): void {
    void this.#tslab;
  }

  constructor() {
    // Before anything loads tslab's converter (the kernel's display hook does): it binds its
    // TypeScript module once, at load.
    installLibraryHooks();
  }

  #createTslab(): TslabExecutor {
    this.#nameCellScripts();
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { createConverter, isCompleteCode } = require("tslab/dist/converter");
    const { createExecutor } = require("tslab/dist/executor");
    this.#printQuickInfo = require("tslab/dist/inspect").printQuickInfo;
    /* eslint-enable @typescript-eslint/no-require-imports */
    this.#isCompleteCode = isCompleteCode;
    let browser: { close(): void } | undefined;
    const node = this.#interruptibleAfterTypeCheck(this.#declarations.converter(createConverter({ isJS: false, isBrowser: false })));
    const declarations = this.#declarations;
    const converters = {
      node,
      get browser() {
        return (browser ??= declarations.converter(createConverter({ isJS: false, isBrowser: true })));
      },
      close() {
        node.close();
        browser?.close();
      },
    };
    return createExecutor(process.cwd(), converters, {
      log: (value: unknown) => {
        this.#captured.value = { value };
      },
      error: (first: unknown, ...rest: unknown[]) => {
        if (first === DIAGNOSTIC_FORMAT) {
          const [, line, column, message] = rest as [string, number, number, string];
          this.#captured.diagnostics.push({ line, column, message });
        } else {
          this.#captured.thrown = { value: first };
        }
      },
    });
  }

  /**
   * tslab runs every cell as an anonymous script; give each a name (`In[3]`) so that a stack
   * frame says which cell it is in, even for a function defined in one cell and called in another.
   */
  #nameCellScripts(): void {
    const original = vm.runInThisContext;
    const cells = this.#cells;
    const executor = this;
    vm.runInThisContext = function (code: string, options?: vm.RunningScriptOptions | string) {
      const filename = executor.#scriptName;
      if (filename === undefined || typeof options === "string") return original(code, options);
      // Only the cell's own script: a cell awaiting may let other code run scripts meanwhile.
      executor.#scriptName = undefined;
      cells.set(filename, { filename, source: executor.#lastSource, generated: code });
      return original(code, { ...options, filename });
    };
  }

  /**
   * Runs one cell. `signal` is the cell's interrupt: aborted by the kernel when an interrupt
   * reaches it, from the moment the cell is its running cell.
   */
  async execute(source: string, cellName: string, signal: AbortSignal): Promise<CellOutcome> {
    if (signal.aborted) return { status: "error", error: INTERRUPTED_BEFORE_RUN, interrupted: true };
    this.#captured = { diagnostics: [] };
    this.#scriptName = cellName;
    this.#lastSource = source;
    // From here until its script runs the cell is type-checked (and, first, tslab's compiler
    // started): synchronous work that a SIGINT cannot break, so it is recorded instead.
    const typeCheck = watchSigint();
    this.#cell = { signal, typeCheck };
    let ok: boolean;
    try {
      ok = await this.#tslab.execute(source);
    } catch (thrown) {
      if (thrown === INTERRUPTED_WHILE_TYPE_CHECKED) return { status: "error", error: INTERRUPTED_BEFORE_RUN, interrupted: true };
      // A failure inside tslab itself (the converter), not in the cell's code.
      return { status: "error", error: runtimeError(thrown, this.#cells) };
    } finally {
      // A cell tslab runs no script for (a module, a cell with errors) is never stopped before one.
      typeCheck.stop();
      // Nor kept: its interrupt signal belongs to a cell that has ended.
      if (this.#cell?.typeCheck === typeCheck) this.#cell = undefined;
      this.#scriptName = undefined;
      // A cell that type-checked has run, to its end or not: what it declared stays declared.
      this.#declarations.commit();
    }
    const { value, thrown, diagnostics } = this.#captured;
    if (diagnostics.length > 0) return { status: "error", error: diagnosticsError(diagnostics, source, cellName) };
    if (thrown) {
      const interrupted = signal.aborted ||
        (thrown.value as { code?: unknown } | null)?.code === "ERR_SCRIPT_EXECUTION_INTERRUPTED";
      return { status: "error", error: runtimeError(thrown.value, this.#cells), interrupted };
    }
    if (!ok) {
      return { status: "error", error: { ename: "Error", evalue: "the cell failed without a message", traceback: [] } };
    }
    return value ? { status: "ok", hasValue: true, value: value.value } : { status: "ok", hasValue: false };
  }

  /** An error thrown by code from any cell, with positions mapped back to the cells. */
  describeError(thrown: unknown): ErrorContent {
    return runtimeError(thrown, this.#cells);
  }

  complete(code: string, cursorPos: number): CompletionResult {
    const info = this.#tslab.complete(code, cursorPos);
    return { matches: info.candidates, cursorStart: info.start, cursorEnd: info.end };
  }

  inspect(code: string, cursorPos: number): string | undefined {
    const info = this.#tslab.inspect(code, cursorPos);
    return info ? this.#printQuickInfo(info) : undefined;
  }

  isComplete(code: string): { status: "complete" } | { status: "incomplete"; indent: string } {
    void this.#tslab;
    const result = this.#isCompleteCode(code);
    return result.completed ? { status: "complete" } : { status: "incomplete", indent: result.indent ?? "" };
  }

  /** The declarations of the cells run so far, the running cell's too once it type-checked (for the library's messages). */
  get declarations(): string {
    return this.#declarations.current;
  }

  /** Stops a cell awaiting a promise; a cell spinning in sync code is stopped by SIGINT itself. */
  interrupt(): void {
    this.#created?.interrupt();
  }

  /**
   * tslab converts a cell and runs its script in one synchronous call: the converter's `convert`
   * returning is the last moment before the script runs. An interrupt that came while the cell
   * was type-checked stops it there: nothing of it runs, and what it declared stays declared, as
   * for a cell interrupted while it runs.
   */
  #interruptibleAfterTypeCheck<C extends TslabConverter>(converter: C): C {
    return Object.assign(Object.create(converter) as C, {
      convert: (prevDecl: string, src: string) => {
        const converted = converter.convert(prevDecl, src);
        const cell = this.#cell;
        if (cell?.typeCheck.stop()) throw INTERRUPTED_WHILE_TYPE_CHECKED;
        // tslab sees a top-level await by its diagnostic, which a top-level `for await` lacks.
        if (!converted.hasToplevelAwait && hasTopLevelForAwait(src)) converted.hasToplevelAwait = true;
        return converted;
      },
    });
  }

  close(): void {
    this.#created?.close();
  }
}

/** Thrown by the converter out of tslab's execute, so that the cell's script never runs. */
const INTERRUPTED_WHILE_TYPE_CHECKED = Symbol("interrupted while type-checked");

/** The ename of every interrupted cell's error, whatever stopped it and wherever. */
export const INTERRUPTED = "Interrupted";

const INTERRUPTED_BEFORE_RUN: ErrorContent = {
  ename: INTERRUPTED,
  evalue: "before any of its code ran",
  traceback: [`${INTERRUPTED}: the cell was interrupted before any of its code ran`],
};

interface TslabConverter {
  convert(prevDecl: string, src: string): { diagnostics: unknown[]; declOutput?: string; hasToplevelAwait?: boolean };
  inspect(prevDecl: string, src: string, position: number): unknown;
  complete(prevDecl: string, src: string, position: number): unknown;
  close(): void;
}

/**
 * The declarations of the cells run so far, which each new cell is checked against.
 *
 * tslab's executor keeps them itself, but only when a cell ends without an exception, so after
 * `const x = 5; throw e` (or an interrupt) the next cell cannot see `x`, although it exists. Here
 * the converter is handed these declarations instead of the executor's, and a cell's declarations
 * are committed once it type-checked, however it ended; a cell with diagnostics ran nothing and
 * declares nothing.
 */
class Declarations {
  #committed = "";
  /** What the cell being run declares, once it type-checked. */
  #pending: string | undefined;

  converter<C extends TslabConverter>(converter: C): C {
    return Object.assign(Object.create(converter) as C, {
      convert: (_prevDecl: string, src: string) => {
        const converted = converter.convert(this.#committed, src);
        this.#pending = converted.diagnostics.length > 0 ? undefined : (converted.declOutput ?? "");
        return converted;
      },
      inspect: (_prevDecl: string, src: string, position: number) => converter.inspect(this.#committed, src, position),
      complete: (_prevDecl: string, src: string, position: number) => converter.complete(this.#committed, src, position),
      close: () => converter.close(),
    });
  }

  /** What the next cell would be checked against; while a cell runs, that includes what it declares. */
  get current(): string {
    return this.#pending ?? this.#committed;
  }

  commit(): void {
    if (this.#pending !== undefined) this.#committed = this.#pending;
    this.#pending = undefined;
  }
}
