/** The subprocess helpers, with Python's names in camelCase. */
export { PIPE, STDOUT, DEVNULL } from "./constants";
export type { StdioSpec, StderrSpec } from "./constants";
export { Popen } from "./popen";
export type { OutputOf } from "./popen";
export { run, call, checkCall, checkOutput } from "./run";
export type { CallOptions, CheckOutputOptions, TextOutput } from "./run";
export { CompletedProcess } from "./completed";
export { SubprocessError, CalledProcessError, TimeoutExpired, SpawnError, ProgramNotFoundError } from "./errors";
export { sh, shlex, ShellCommand } from "./sh";
export type { ShellValue, QuotePlatform } from "./sh";
export type { Args, Env, PopenOptions, RunOptions } from "./options";
export type { DecodeErrors } from "./encoding";
