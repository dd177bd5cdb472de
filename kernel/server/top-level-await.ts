/**
 * Which cells tslab must run as an async function.
 *
 * tslab wraps a cell in `async function` only when TypeScript reported an `await` outside one
 * (diagnostic 1308). A `for await` loop at the top of a cell gets no such diagnostic, so a cell
 * whose only top-level await is that loop ran in a plain function and failed with "SyntaxError:
 * Unexpected reserved word", before any of its code ran.
 */
import type * as TS from "typescript";

/** The TypeScript tslab checks cells with (the same parser, whatever else is installed). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ts = require("@tslab/typescript-for-tslab") as typeof TS;

/** Whether `src` has a `for await` loop outside any function or class. */
export function hasTopLevelForAwait(src: string): boolean {
  // Cheap first: most cells have none.
  if (!/\bfor\s+await\b/.test(src)) return false;
  const file = ts.createSourceFile("cell.ts", src, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const visit = (node: TS.Node): boolean => {
    if (ts.isForOfStatement(node) && node.awaitModifier !== undefined) return true;
    // Inside these an await belongs to them, not to the cell.
    if (ts.isFunctionLike(node) || ts.isClassLike(node) || ts.isModuleDeclaration(node)) return false;
    return ts.forEachChild(node, visit) ?? false;
  };
  return ts.forEachChild(file, visit) ?? false;
}
