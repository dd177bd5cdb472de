/** What every benchmark of forklab returns, and the statistics behind it. */

/** One variant's timing, compared with its anchor measured in the same run. */
export interface Row {
  name: string;
  /** The row this one is compared with. */
  anchor: string;
  median_ms: number;
  /** median_ms / the anchor's median_ms. */
  ratio: number;
}

/** The middle value of `values` (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
