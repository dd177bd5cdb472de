/** What every benchmark of forklab returns, the statistics behind it, and how one is shown on its own. */

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

/** Milliseconds with three significant digits or so: 132, 15.5, 4.55. */
export function ms(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/** Rows as an aligned plain-text table: name, median, ratio, anchor. */
export function textTable(rows: Row[]): string {
  const cells = [["name", "median ms", "ratio", "anchor"], ...rows.map((r) => [r.name, ms(r.median_ms), `${r.ratio.toFixed(2)}x`, r.anchor])];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  const numeric = (i: number) => i === 1 || i === 2;
  return cells.map((c) => c.map((v, i) => (numeric(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join("  ").trimEnd()).join("\n");
}

/**
 * Run one benchmark as a program: print `title` and its rows as a table, then exit (a warm spare
 * the process benchmark leaves would otherwise keep it running); exit code 1 on an error.
 */
export function runAlone(title: string, bench: () => Promise<Row[]>): void {
  bench().then(
    (rows) => {
      console.log(title);
      console.log(textTable(rows));
      process.exit(0);
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
