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
  let excerptShown = false;
  for (const frame of frames) {
    if (INTERNAL_FRAME.test(frame) || isLibraryFrame(frame)) continue;
    const match = FRAME.exec(frame);
    const cell = match ? cells.get(match[2]) : undefined;
    if (!match || !cell) {
      traceback.push(frame);
      continue;
    }
    const mapped = mapPosition(cell, Number(match[3]), Number(match[4]));
    if (!mapped) continue; // the wrapper tslab puts around a cell: nothing the user wrote
    traceback.push(`${match[1]}${cell.filename}:${mapped.line}:${mapped.column}${match[5]}`);
    if (!excerptShown) {
      traceback.push(...excerpt(cell.source.split("\n"), mapped.line, mapped.column).map((l) => "    " + l));
      excerptShown = true;
    }
  }
  // As IPython does for a library's exceptions: the library's own errors say in their message what
  // matters (the command, the exit code, the stderr tail); a dump of their fields only repeats it.
  const fromLibrary = frames.length > 0 && isLibraryFrame(frames[0]!);
  const ownProperties = fromLibrary ? [] : Object.keys(thrown).filter((key) => key !== "stack" && key !== "message");
  if (ownProperties.length > 0) {
    const props = Object.fromEntries(ownProperties.map((key) => [key, (thrown as unknown as Record<string, unknown>)[key]]));
    traceback.push(`  ${util.inspect(props, { colors: false, breakLength: 100 })}`);
  }
  if (thrown.cause !== undefined) {
    traceback.push("Caused by:", ...String(thrown.cause instanceof Error ? thrown.cause.stack : util.inspect(thrown.cause)).split("\n"));
  }
  return { ename: thrown.name, evalue: thrown.message, traceback };
}

function tokens(text: string): string[] {
  return text.match(/[A-Za-z_$][\w$]*|\d+(?:\.\d+)?|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g) ?? [];
}

/** Map a 1-based line:column of generated code to the cell line sharing most of its tokens. */
export function mapPosition(cell: CellSource, line: number, column: number): { line: number; column: number } | undefined {
  const generatedLine = cell.generated.split("\n")[line - 1] ?? "";
  const wanted = tokens(generatedLine).filter((t) => t !== "exports" && !/^\w+_\d+$/.test(t));
  const sourceLines = cell.source.split("\n");
  const wantedSet = new Set(wanted);
  let best = { line: 0, score: 0 };
  sourceLines.forEach((text, index) => {
    const have = new Set(tokens(text));
    const shared = [...wantedSet].filter((token) => have.has(token)).length;
    // Shared over all distinct tokens: `f()` matches the line `f()` better than `function f() {`.
    const score = shared / new Set([...have, ...wantedSet]).size;
    if (score > best.score) best = { line: index + 1, score };
  });
  if (best.line === 0) return undefined;
  // The column: where the token under the generated column sits in the cell's line.
  const tokenAt = /[\w$]+/.exec(generatedLine.slice(column - 1))?.[0];
  const found = tokenAt ? sourceLines[best.line - 1].indexOf(tokenAt) : -1;
  return { line: best.line, column: found >= 0 ? found + 1 : 1 };
}
