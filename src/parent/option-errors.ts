/**
 * The one wording of a bad option: where, which option, what was given (value and type), and
 * what is allowed. Each feature validates its own options next to its code (as execa does) and
 * words its errors through these two functions.
 */

/** `value (type)`, for messages: `"no" (string)`, `NaN (number)`, `an object with keys [a, b]`. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "string") return `${JSON.stringify(value)} (string)`;
  if (typeof value === "function") return `a function ${value.name || "(anonymous)"}`;
  if (typeof value === "symbol") return `${String(value)} (symbol)`;
  if (typeof value === "bigint") return `${value}n (bigint)`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "object") {
    const name = (value as object).constructor?.name;
    return name && name !== "Object" ? `a ${name}` : `an object with keys [${Object.keys(value).join(", ")}]`;
  }
  return `${String(value)} (${typeof value})`;
}

/** `where: option NAME must be EXPECTED, got VALUE (TYPE)`. */
export function optionError(where: string, option: string, expected: string, value: unknown): TypeError {
  return new TypeError(`${where}: option ${option} must be ${expected}, got ${describe(value)}`);
}

/**
 * A queue's get() or put() given Python's positional block and timeout (the tutorial's
 * `q.get(True)`): here they are one options object, and the message says how each call is written.
 */
export function blockingOptionsError(where: string, value: unknown): TypeError {
  const method = where.replace(/\(\)$/, "").split(".").pop()!;
  const item = method === "put" ? "item" : "";
  const call = (...args: string[]) => `${method}(${[item, ...args].filter(Boolean).join(", ")})`;
  return new TypeError(
    `${where}: the options are one object { block?, timeout? } (timeout in seconds), got ${describe(value)}. ` +
      `Python's ${call("True")} is ${call()} here, ${call("False")} is ${call("{ block: false }")}, ` +
      `and ${call("True", "5")} is ${call("{ timeout: 5 }")}`,
  );
}
