/**
 * `new Pool({ processes: 4, taskTimeout: 2 })`: Python's keyword habit (`Pool(processes=4)`), where
 * forklab takes the count first and the options after. The message writes the call as it is meant,
 * from the keys and values given.
 */

const IDENT = /^[A-Za-z_$][\w$]*$/;
/** A value longer than this is elided in the suggested call: the call's shape is the point. */
const LONGEST_VALUE = 40;

/** A value as it would be written in the call; undefined if it cannot be written short. */
function written(value: unknown, depth = 0): string | undefined {
  if (typeof value === "function") return value.name || undefined;
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value !== "object" || value === null) return String(value);
  if (depth > 1) return undefined;
  let text: string | undefined;
  if (Array.isArray(value)) {
    const items = value.map((v) => written(v, depth + 1));
    if (items.every((item) => item !== undefined)) text = `[${items.join(", ")}]`;
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.entries(value).map(([k, v]) => [k, written(v, depth + 1)] as const);
    if (entries.every(([, v]) => v !== undefined)) text = entries.length ? `{ ${entries.map(([k, v]) => `${IDENT.test(k) ? k : JSON.stringify(k)}: ${v}`).join(", ")} }` : "{}";
  }
  return text !== undefined && text.length <= LONGEST_VALUE ? text : undefined;
}

/**
 * The error for options given where the process count goes, when they name `processes`; undefined
 * for any other first argument.
 */
export function keywordProcessesError(where: string, given: unknown): TypeError | undefined {
  if (typeof given !== "object" || given === null || Array.isArray(given) || !Object.hasOwn(given, "processes")) return undefined;
  const { processes, ...options } = given as Record<string, unknown>;
  const count = written(processes) ?? "N";
  const rest = Object.entries(options).map(([k, v]) => `${IDENT.test(k) ? k : JSON.stringify(k)}: ${written(v) ?? "..."}`);
  const call = rest.length ? `new Pool(${count}, { ${rest.join(", ")} })` : `new Pool(${count})`;
  return new TypeError(
    `${where}: the process count is the first argument and the options the second, not one object as Python's ` +
      `keyword arguments: did you mean ${call}?`,
  );
}
