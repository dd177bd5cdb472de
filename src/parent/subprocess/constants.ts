/**
 * Python's special values for `stdin`, `stdout` and `stderr`.
 *
 * - `PIPE`: create a pipe; read it with `communicate()` or the `stdout`/`stderr` streams.
 * - `STDOUT` (for `stderr` only): send the program's stderr to the same place as its stdout.
 * - `DEVNULL`: connect to the null device.
 * - `null` or `undefined` (Python's `None`): the program's output is shown, as if inherited. In a
 *   notebook it appears live in the cell that started the program; in a plain script the program
 *   writes straight to this process's own stdout/stderr.
 */
export const PIPE = "PIPE";
export const STDOUT = "STDOUT";
export const DEVNULL = "DEVNULL";

export type Pipe = typeof PIPE;
export type Stdout = typeof STDOUT;
export type DevNull = typeof DEVNULL;

/** What a standard stream of the program is connected to. A number is an open file descriptor. */
export type StdioSpec = Pipe | DevNull | number | null | undefined;
export type StderrSpec = StdioSpec | Stdout;
