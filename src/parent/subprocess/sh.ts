/**
 * Shell quoting: Python's `shlex.quote`/`shlex.join` for POSIX shells, their counterpart for
 * Windows' cmd.exe, and the `sh` tagged template that builds a shell command line whose
 * interpolated values are quoted.
 */

/** A command line for the shell (`/bin/sh -c`, or cmd.exe on Windows), made by `sh`. */
export class ShellCommand {
  constructor(readonly command: string) {}
  toString(): string {
    return this.command;
  }
}

export type QuotePlatform = "posix" | "win32";

const defaultPlatform = (): QuotePlatform => (process.platform === "win32" ? "win32" : "posix");

const POSIX_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quote one word so that the shell reads it back unchanged (Python's `shlex.quote`).
 * POSIX: wrap in single quotes, each `'` written as `'"'"'`. Windows (cmd.exe): the argument is
 * quoted for the program's command-line parser, then every cmd.exe metacharacter is escaped
 * with `^`.
 */
export function quote(word: string, platform: QuotePlatform = defaultPlatform()): string {
  if (typeof word !== "string") {
    throw new TypeError(`quote() takes a string, got ${typeof word} ${String(word)}`);
  }
  return platform === "win32" ? quoteWindows(word) : quotePosix(word);
}

function quotePosix(word: string): string {
  if (word === "") return "''";
  if (POSIX_SAFE.test(word)) return word;
  return "'" + word.replace(/'/g, `'"'"'`) + "'";
}

function quoteWindows(word: string): string {
  // Rules of CommandLineToArgvW / the MSVC runtime: backslashes are literal except before a quote.
  let arg = word.replace(/(\\*)"/g, '$1$1\\"');
  arg = arg.replace(/(\\*)$/, "$1$1");
  arg = `"${arg}"`;
  // cmd.exe parses the line first: escape everything it would interpret.
  return arg.replace(/[()\][%!^"`<>&|;, *?]/g, "^$&");
}

/** Join words into one command line, each quoted (Python's `shlex.join`). */
export function join(words: readonly string[], platform: QuotePlatform = defaultPlatform()): string {
  return words.map((word) => quote(word, platform)).join(" ");
}

/**
 * A command line for people to read: like `join` for POSIX shells, but a word with single quotes
 * and nothing a shell expands inside double quotes is written in double quotes.
 */
export function displayJoin(words: readonly string[]): string {
  return words
    .map((word) => (word.includes("'") && !/["$`\\!]/.test(word) ? `"${word}"` : quotePosix(word)))
    .join(" ");
}

/** Python's `shlex` names, grouped: `shlex.quote(s)`, `shlex.join(args)`. */
export const shlex = { quote, join } as const;

export type ShellValue = string | number | bigint | boolean | ShellCommand | readonly ShellValue[];

function interpolate(value: unknown, index: number, platform: QuotePlatform): string {
  if (value instanceof ShellCommand) return value.command;
  if (Array.isArray(value)) return value.map((item) => interpolate(item, index, platform)).join(" ");
  if (typeof value === "string") return quote(value, platform);
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    return quote(String(value), platform);
  }
  const shown = value === null ? "null" : typeof value === "object" ? "an object" : typeof value;
  throw new TypeError(
    `sh\`...\`: value #${index + 1} is ${shown}; interpolate a string, a number, an array of ` +
      `them, or another sh\`...\` command (convert the value with String() if that is what you mean)`,
  );
}

function build(platform: QuotePlatform, strings: TemplateStringsArray, values: unknown[]): ShellCommand {
  let command = strings[0];
  for (let i = 0; i < values.length; i++) command += interpolate(values[i], i, platform) + strings[i + 1];
  return new ShellCommand(command);
}

/**
 * A shell command line whose interpolated values are quoted:
 *
 *     await run(sh`ls -l ${dir} | wc -l`)
 *
 * The literal text is shell syntax (pipes, redirections, globs); every `${value}` becomes one
 * word that the shell does not interpret (an array becomes several words). Passing the result to
 * `run`, `call`, `checkOutput` or `Popen` runs it through the shell, as `shell: true` would.
 * `sh.posix` and `sh.win32` quote for a given shell regardless of the platform.
 */
export const sh = Object.assign(
  (strings: TemplateStringsArray, ...values: ShellValue[]): ShellCommand => build(defaultPlatform(), strings, values),
  {
    posix: (strings: TemplateStringsArray, ...values: ShellValue[]) => build("posix", strings, values),
    win32: (strings: TemplateStringsArray, ...values: ShellValue[]) => build("win32", strings, values),
  },
);
