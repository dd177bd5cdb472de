/**
 * Turns what went wrong in a cell into Jupyter's `error` content, with positions in the cell's
 * TypeScript, not in the JavaScript tslab generated from it. Pure functions.
 *
 * tslab transpiles each cell twice (TypeScript, then ES module to CommonJS) without source maps,
 * so a stack frame's line in generated code is mapped back by content: type erasure keeps a
 * statement's identifiers and literals, so the cell line sharing the most tokens with the
 * generated line is the one that ran.
 */
import path from "node:path";
import util from "node:util";
import { isError, safeGet } from "../../src/protocol/errors";
import { libraryEntry } from "./tslab-loader";

export interface ErrorContent {
  ename: string;
  evalue: string;
  traceback: string[];
}

export interface CellSource {
  /** The script name the cell's generated code runs under, e.g. `In[3]`. */
  filename: string;
  source: string;
  generated: string;
}

export interface Diagnostic {
  line: number; // 1-based, in the cell
  column: number; // 1-based
  message: string;
}

export function diagnosticsError(diagnostics: Diagnostic[], source: string, cellName: string): ErrorContent {
  const lines = source.split("\n");
  const traceback = diagnostics.flatMap((d) => [
    `${cellName}:${d.line}:${d.column} - error: ${d.message}`,
    ...excerpt(lines, d.line, d.column),
  ]);
  const first = diagnostics[0];
  return {
    ename: "TypeScriptError",
    evalue: `${cellName}:${first.line}:${first.column} - ${first.message}` +
      (diagnostics.length > 1 ? ` (and ${diagnostics.length - 1} more)` : ""),
    traceback,
  };
}

function excerpt(lines: string[], line: number, column: number): string[] {
  const text = lines[line - 1];
  if (text === undefined) return [];
  const gutter = `${line} | `;
  return [`${gutter}${text}`, `${" ".repeat(gutter.length + Math.max(0, column - 1))}^`];
}

// `at f (In[1]:2:3)`, `at In[1]:2:3`, and `at async In[1]:2:3` (a cell's top-level await).
const FRAME = /^(\s*at (?:async )?(?:.*?\()?)([^()]+?):(\d+):(\d+)(\)?)$/;
const INTERNAL_FRAME = /node:internal|node:vm|\(node:|[\\/]tslab[\\/]dist[\\/]|[\\/]dist[\\/]kernel[\\/]/;
/** The compiled library's folder: its frames are forklab's workings, not the user's code. */
const LIBRARY_DIR = path.dirname(libraryEntry) + path.sep;

function isLibraryFrame(frame: string): boolean {
  return frame.includes(LIBRARY_DIR);
}

export function runtimeError(thrown: unknown, cells: ReadonlyMap<string, CellSource>): ErrorContent {
  if (!(thrown instanceof Error)) {
    const evalue = util.inspect(thrown, { colors: false });
    return { ename: "Uncaught", evalue, traceback: [`Uncaught ${evalue}`] };
  }
  const stackLines = (thrown.stack ?? `${thrown.name}: ${thrown.message}`).split("\n");
  const headerEnd = stackLines.findIndex((line) => FRAME.test(line));
  const frames = headerEnd < 0 ? [] : stackLines.slice(headerEnd);
  // Not the stack's own header: Node prefixes it with the generated line for errors from a script.
  const traceback = [`${thrown.name}: ${thrown.message}`];
  const shown: Shown = { excerpt: false };
  traceback.push(...userFrames(frames, cells, shown));
  // As IPython does for a library's exceptions: the library's own errors say in their message what
  // matters (the command, the exit code, the stderr tail); a dump of their fields only repeats it.
  const fromLibrary = frames.length > 0 && isLibraryFrame(frames[0]!);
  // Not `cause` either (made own and enumerable by Object.assign): it is shown below, in full.
  const ownProperties = fromLibrary ? [] : Object.keys(thrown).filter((key) => key !== "stack" && key !== "message" && key !== "cause");
  if (ownProperties.length > 0) {
    const props = Object.fromEntries(ownProperties.map((key) => [key, (thrown as unknown as Record<string, unknown>)[key]]));
    traceback.push(`  ${util.inspect(props, { colors: false, breakLength: 100 })}`);
  }
  // Every cause, outermost first, as Python prints each direct cause: a child's error has the
  // child's stack as its cause, and an error the child had from its own child has that one's under it.
  const { causes, cut } = causeChain(thrown);
  for (const cause of causes) traceback.push("Caused by:", ...describeCause(cause, cells, shown));
  if (cut === "cycle") traceback.push("Caused by: an error shown above (the causes go round in a cycle)");
  if (cut === "depth") traceback.push(`Caused by: ... (more causes; the first ${MAX_CAUSES} are shown)`);
  return { ename: thrown.name, evalue: thrown.message, traceback };
}

/**
 * Causes shown under an error: a child's error crosses with up to 8 causes of its own (see
 * toErrorRecord), each rebuilt with its child's stack as its cause, 17 under the error in all;
 * past that a chain is a loop of rethrows, not a story.
 */
const MAX_CAUSES = 20;

/** Whether the one excerpt of a traceback (under the first frame in a cell) was shown already. */
interface Shown {
  excerpt: boolean;
}

/**
 * The user's frames of a stack: those in a cell at the cell's line and column (with the excerpt
 * under the first one shown), other code's as they are, without Node's, tslab's or forklab's own.
 */
function userFrames(frames: string[], cells: ReadonlyMap<string, CellSource>, shown: Shown): string[] {
  const lines: string[] = [];
  for (const frame of frames) {
    if (INTERNAL_FRAME.test(frame) || isLibraryFrame(frame)) continue;
    const match = FRAME.exec(frame);
    const cell = match ? cells.get(match[2]) : undefined;
    if (!match || !cell) {
      lines.push(frame);
      continue;
    }
    const mapped = mapPosition(cell, Number(match[3]), Number(match[4]));
    if (!mapped) continue; // the wrapper tslab puts around a cell: nothing the user wrote
    lines.push(`${match[1]}${cell.filename}:${mapped.line}:${mapped.column}${match[5]}`);
    if (!shown.excerpt) {
      lines.push(...excerpt(cell.source.split("\n"), mapped.line, mapped.column).map((l) => "    " + l));
      shown.excerpt = true;
    }
  }
  return lines;
}

/**
 * One cause's lines: a child's stack with its `<target>` frames at the lines of the cell that
 * defined the target, an error made in this process with its frames as the error's own, any other
 * value inspected. Never throws: a cause that cannot be read (a revoked Proxy) says so.
 */
function describeCause(cause: unknown, cells: ReadonlyMap<string, CellSource>, shown: Shown): string[] {
  try {
    if (!isError(cause)) return util.inspect(cause, { colors: false }).split("\n");
    const stack = safeGet(cause, "stack", undefined);
    const lines = (typeof stack === "string" ? stack : `${safeGet(cause, "name", "Error")}: ${safeGet(cause, "message", "")}`).split("\n");
    const target = targetInCells(cause, cells);
    if (!target) {
      const headerEnd = lines.findIndex((line) => FRAME.test(line));
      return headerEnd < 0 ? lines : [...lines.slice(0, headerEnd), ...userFrames(lines.slice(headerEnd), cells, shown)];
    }
    const described: string[] = [];
    for (const line of lines) {
      const mapped = mapTargetFrame(line, target);
      if (!mapped) {
        described.push(line);
        continue;
      }
      described.push(mapped.frame);
      if (!shown.excerpt) {
        described.push(...excerpt(target.cell.source.split("\n"), mapped.line, mapped.column).map((l) => "    " + l));
        shown.excerpt = true;
      }
    }
    return described;
  } catch (error) {
    return [`(a cause that could not be read: ${String((error as Error)?.message ?? error)})`];
  }
}

/**
 * The causes under `thrown`, outermost first: each one's `cause` in turn, until one has none,
 * one was already shown (`cut` "cycle") or MAX_CAUSES are listed (`cut` "depth").
 */
function causeChain(thrown: Error): { causes: unknown[]; cut?: "cycle" | "depth" } {
  const causes: unknown[] = [];
  const seen = new Set<unknown>([thrown]);
  for (let cause = causeOf(thrown); cause !== undefined; cause = causeOf(cause)) {
    if (seen.has(cause)) return { causes, cut: "cycle" };
    if (causes.length === MAX_CAUSES) return { causes, cut: "depth" };
    seen.add(cause);
    causes.push(cause);
  }
  return { causes };
}

/** An error's `cause`; undefined for a value that is no Error, a revoked Proxy, or a getter that throws. */
function causeOf(value: unknown): unknown {
  return isError(value) ? safeGet(value, "cause", undefined) : undefined;
}

/** A child's `at f (<target>:3:15)`: a line and column in the text of the target function it ran. */
const TARGET_FRAME = /^(\s*at (?:async )?(?:.*?\()?)<target>:(\d+):(\d+)(\)?)$/;

interface TargetInCell {
  cell: CellSource;
  /** Where the target's text starts in the cell's generated code: 1-based line, 0-based column. */
  line: number;
  column: number;
}

/**
 * The latest cell whose generated code holds the text of the target function a child ran (a child's
 * error says it as `targetSource`, forklab's RemoteTraceback): a function crosses as its own
 * source, so that text is a piece of the generated code of the cell that defined it.
 */
function targetInCells(cause: unknown, cells: ReadonlyMap<string, CellSource>): TargetInCell | undefined {
  const source = isError(cause) ? safeGet(cause, "targetSource", undefined) : undefined;
  if (typeof source !== "string" || source.length === 0) return undefined;
  // The latest cell first: a function defined again with the same text is the later one.
  for (const cell of [...cells.values()].reverse()) {
    const at = cell.generated.indexOf(source);
    if (at < 0) continue;
    const before = cell.generated.slice(0, at);
    return { cell, line: before.split("\n").length, column: at - (before.lastIndexOf("\n") + 1) };
  }
  return undefined;
}

function mapTargetFrame(frame: string, target: TargetInCell): { frame: string; line: number; column: number } | undefined {
  const match = TARGET_FRAME.exec(frame);
  if (!match) return undefined;
  const line = Number(match[2]);
  const column = Number(match[3]);
  // On the target's first line its columns start where the target starts in the generated line.
  const mapped = mapPosition(target.cell, target.line + line - 1, line === 1 ? target.column + column : column);
  if (!mapped) return undefined;
  return { frame: `${match[1]}${target.cell.filename}:${mapped.line}:${mapped.column}${match[4]}`, ...mapped };
}

function tokens(text: string): string[] {
  return text.match(/[A-Za-z_$][\w$]*|\d+(?:\.\d+)?|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g) ?? [];
}

/** Map a 1-based line:column of generated code to the cell line sharing most of its tokens. */
export function mapPosition(cell: CellSource, line: number, column: number): { line: number; column: number } | undefined {
  const generatedLine = cell.generated.split("\n")[line - 1] ?? "";
  const tokenAt = /[\w$]+/.exec(generatedLine.slice(column - 1))?.[0];
  const counted = tokenAt && COUNTED.has(tokenAt) ? byCount(cell, line, column, tokenAt) : undefined;
  if (counted) return counted;
  const sourceLines = cell.source.split("\n");
  const best = bestSourceLine(generatedLine, sourceLines);
  if (best === 0) return undefined;
  if (!tokenAt) return { line: best, column: 1 };
  // The column: where the token under the generated column sits in the cell's line, the same
  // occurrence of it if the line has as many, else its first.
  const sourceLine = sourceLines[best - 1]!;
  const found = occurrences(sourceLine, tokenAt)[occurrences(generatedLine.slice(0, column - 1), tokenAt).length] ?? sourceLine.indexOf(tokenAt);
  return { line: best, column: found >= 0 ? found + 1 : 1 };
}

/** Tokens the compiled code keeps in place, one for one, and adds none of: found by count. */
const COUNTED = new Set(["new", "throw", "await", "return", "yield"]);

/**
 * tslab's output puts each statement on a line of its own, so one cell line may become several
 * generated lines, each of which may look more like another cell line than its own. A `new` or a
 * `throw` is found by its count instead: the k-th `new` of the generated code is the k-th `new`
 * of the cell. Undefined when the cell line so found shares nothing else with the generated line.
 */
function byCount(cell: CellSource, line: number, column: number, token: string): { line: number; column: number } | undefined {
  const generated = cell.generated.split("\n");
  const generatedLine = generated[line - 1] ?? "";
  const before = [...generated.slice(0, line - 1), generatedLine.slice(0, column - 1)].join("\n");
  const offset = occurrences(cell.source, token)[occurrences(before, token).length];
  if (offset === undefined) return undefined;
  const upTo = cell.source.slice(0, offset).split("\n");
  const sourceLine = new Set(tokens(cell.source.split("\n")[upTo.length - 1]!));
  if (!tokens(generatedLine).some((t) => t !== token && sourceLine.has(t))) return undefined;
  return { line: upTo.length, column: upTo.at(-1)!.length + 1 };
}

/** The 1-based cell line sharing most of its tokens with a generated line; 0 if none shares any. */
function bestSourceLine(generatedLine: string, sourceLines: string[]): number {
  const wanted = new Set(tokens(generatedLine).filter((t) => t !== "exports" && !/^\w+_\d+$/.test(t)));
  let best = { line: 0, score: 0 };
  sourceLines.forEach((text, index) => {
    const have = new Set(tokens(text));
    const shared = [...wanted].filter((token) => have.has(token)).length;
    // Shared over all distinct tokens: `f()` matches the line `f()` better than `function f() {`.
    const score = shared / new Set([...have, ...wanted]).size;
    if (score > best.score) best = { line: index + 1, score };
  });
  return best.line;
}

/** Where `token` stands in `text` as a whole word, in order. */
function occurrences(text: string, token: string): number[] {
  const escaped = token.replace(/\$/g, "\\$");
  return [...text.matchAll(new RegExp(`(?<![\\w$])${escaped}(?![\\w$])`, "g"))].map((m) => m.index!);
}
