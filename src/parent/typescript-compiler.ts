/** The TypeScript compiler, loaded on first use: target checks parse functions (and a notebook's imports) with it. */
import type * as TS from "typescript";
import { loadAfresh } from "../protocol/lazy-require";

let ts: typeof TS | undefined;

export function typescript(): typeof TS {
  // TypeScript takes a few hundred milliseconds to load, in the kernel within a cell's first spawn:
  // a load stopped there by an interrupt must not leave a half-made module for every later spawn.
  ts ??= loadAfresh(() => require("typescript") as typeof TS);
  return ts;
}
