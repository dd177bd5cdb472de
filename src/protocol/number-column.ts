/**
 * A list of numbers as one typed array, for a pool's chunks and answers whose items (or results)
 * are all numbers. V8's serializer writes a typed array as one copy of its bytes, where it writes
 * (and the other side reads back) an array of numbers one tagged value at a time: for a map chunk
 * of 12 500 numbers that walk was most of the chunk's cost, both ways, in both processes.
 *
 * Exact by construction: a Float64Array holds any number as it is (-0, NaN, Infinity, fractions),
 * and an Int32Array is used only when every one is an int32 other than -0. Anything that is not a
 * primitive number (a hole, undefined, a string, a boxed Number, a bigint, an object) makes the
 * whole list go as it was, through structured clone.
 *
 * Pure functions: no I/O.
 */
import { types } from "node:util";

export type NumberColumn = Int32Array | Float64Array;

/** Shorter lists go as they are: the typed array's own framing costs about what it saves. */
export const MIN_COLUMN = 32;

const isInt32 = (value: number): boolean => (value | 0) === value && (value !== 0 || 1 / value > 0);

/**
 * The column of `entry(0)` .. `entry(n - 1)`, or undefined as soon as one is not a number. An
 * Int32Array while every number fits one (the usual case, and half the bytes); at the first that
 * does not, the numbers so far move to a Float64Array.
 */
function columnOf(n: number, entry: (i: number) => unknown): NumberColumn | undefined {
  // Most lists that are not numbers show it at once: no column is made for them.
  if (n < MIN_COLUMN || typeof entry(0) !== "number") return undefined;
  let ints: Int32Array | undefined = new Int32Array(n);
  let floats: Float64Array | undefined;
  for (let i = 0; i < n; i++) {
    const value = entry(i);
    if (typeof value !== "number") return undefined;
    if (ints) {
      if (isInt32(value)) {
        ints[i] = value;
        continue;
      }
      floats = new Float64Array(n);
      floats.set(ints.subarray(0, i));
      ints = undefined;
    }
    floats![i] = value;
  }
  return ints ?? floats;
}

/** The numbers of `values` as a typed array, or undefined unless every entry is a number. */
export function numberColumn(values: ArrayLike<unknown>): NumberColumn | undefined {
  return columnOf(values.length, (i) => values[i]);
}

/**
 * Argument lists that are each a plain array of exactly one number (an applyAsync(fn, [x]) each),
 * as the column of those numbers: `fn(...[x])` is `fn(x)`. A Proxy is not taken at its word
 * (structured clone refuses one), nor a list of any other length.
 */
export function argumentColumn(lists: readonly unknown[]): NumberColumn | undefined {
  return columnOf(lists.length, (i) => {
    const list = lists[i];
    return Array.isArray(list) && list.length === 1 && !types.isProxy(list) ? (list[0] as unknown) : undefined;
  });
}

/** Entries `from` to `to` of a column as a packed array (filled with push: no holes). */
export function columnValues(column: NumberColumn, from = 0, to = column.length): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(column[i]!);
  return out;
}
