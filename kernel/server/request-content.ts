/**
 * Checks the content of a shell request against the messaging spec before the kernel acts on it,
 * so that `code: {}` or `user_expressions: "abc"` gets an error reply naming the field instead of
 * a TypeScript error about `object`, or a loop over the characters of a string. Pure.
 */
import util from "node:util";

type Check = (value: unknown) => boolean;
interface Field {
  check: Check;
  /** What is allowed, as the error says it. */
  expected: string;
  required?: boolean;
}

const isString: Check = (v) => typeof v === "string";
const isBoolean: Check = (v) => typeof v === "boolean";
const isCount: Check = (v) => Number.isInteger(v) && (v as number) >= 0;
const isInteger: Check = (v) => Number.isInteger(v);
const isStringMap: Check = (v) =>
  v !== null && typeof v === "object" && !Array.isArray(v) && Object.values(v).every((e) => typeof e === "string");

const code: Field = { check: isString, expected: "a string (the source)", required: true };
const flag: Field = { check: isBoolean, expected: "true or false" };
const cursor: Field = { check: isCount, expected: "a character offset, an integer >= 0" };

const FIELDS: Record<string, Record<string, Field>> = {
  execute_request: {
    code,
    silent: flag,
    store_history: flag,
    allow_stdin: flag,
    stop_on_error: flag,
    user_expressions: { check: isStringMap, expected: "an object whose values are expression strings" },
  },
  complete_request: { code, cursor_pos: cursor },
  inspect_request: { code, cursor_pos: cursor, detail_level: { check: (v) => v === 0 || v === 1, expected: "0 or 1" } },
  is_complete_request: { code },
  history_request: {
    hist_access_type: { check: (v) => v === "range" || v === "tail" || v === "search", expected: '"range", "tail" or "search"' },
    output: flag,
    raw: flag,
    unique: flag,
    session: { check: isInteger, expected: "an integer" },
    start: { check: isInteger, expected: "an integer" },
    stop: { check: isInteger, expected: "an integer" },
    n: { check: isCount, expected: "an integer >= 0" },
    pattern: { check: isString, expected: "a glob pattern string" },
  },
  shutdown_request: { restart: flag },
  comm_info_request: { target_name: { check: isString, expected: "a string" } },
};

/**
 * Why this request's content cannot be served, naming the field, or undefined when it can.
 * An optional field may be absent or null.
 */
export function contentProblem(msgType: string, content: Record<string, unknown>): string | undefined {
  const fields = FIELDS[msgType];
  if (!fields) return undefined;
  for (const [name, field] of Object.entries(fields)) {
    const value = content[name];
    if (value === undefined || value === null) {
      if (field.required) return `${msgType} content.${name} is missing; it must be ${field.expected}`;
      continue;
    }
    if (!field.check(value)) {
      const shown = util.inspect(value, { colors: false, depth: 1, breakLength: Infinity, maxStringLength: 60 });
      return `${msgType} content.${name} must be ${field.expected}, got ${Array.isArray(value) ? "an array" : typeof value} ${shown}`;
    }
  }
  return undefined;
}
