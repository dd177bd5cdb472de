/** The session's input history, answering `history_request` (tail, range, search). */

export type HistoryEntry = [session: number, line: number, input: string | [string, string | null]];

interface Record {
  line: number;
  input: string;
  output: string | null;
}

/** Only this session's history is kept; it is session 0 in requests, as IPython numbers it. */
const CURRENT_SESSION = 0;

export class History {
  readonly #records: Record[] = [];

  add(line: number, input: string): void {
    this.#records.push({ line, input, output: null });
  }

  setOutput(line: number, output: string): void {
    const record = this.#records.find((r) => r.line === line);
    if (record) record.output = output;
  }

  tail(n: number, withOutput: boolean): HistoryEntry[] {
    return this.#entries(n > 0 ? this.#records.slice(-n) : [], withOutput);
  }

  /** Lines `start` (inclusive) to `stop` (exclusive), 1-based; `stop` 0 or absent means to the end. */
  range(start: number, stop: number | undefined, withOutput: boolean): HistoryEntry[] {
    return this.#entries(
      this.#records.filter((r) => r.line >= start && (stop === undefined || stop <= 0 || r.line < stop)),
      withOutput,
    );
  }

  /** Glob search (`*` and `?`), newest `n` matches, optionally without repeated inputs. */
  search(pattern: string, n: number | undefined, unique: boolean, withOutput: boolean): HistoryEntry[] {
    const regex = new RegExp(
      "^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$",
      "s",
    );
    let matches = this.#records.filter((r) => regex.test(r.input));
    if (unique) {
      const seen = new Set<string>();
      matches = matches.reverse().filter((r) => !seen.has(r.input) && seen.add(r.input)).reverse();
    }
    if (n !== undefined && n > 0) matches = matches.slice(-n);
    return this.#entries(matches, withOutput);
  }

  #entries(records: Record[], withOutput: boolean): HistoryEntry[] {
    return records.map((r) => [CURRENT_SESSION, r.line, withOutput ? [r.input, r.output] : r.input]);
  }
}
