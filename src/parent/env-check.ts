/** The environment given to a child or a program, checked before it starts. */
import { optionError } from "./option-errors";

/** A variable's name and value as the system takes them: no "=" in a name, no NUL anywhere. */
export function checkEnv(where: string, env: unknown): void {
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    throw optionError(where, "env", "an object of strings (e.g. { ...process.env, DEBUG: \"1\" })", env);
  }
  for (const [key, value] of Object.entries(env)) {
    if (key === "" || key.includes("=") || key.includes("\0")) {
      throw new TypeError(`${where}: option env has the name ${JSON.stringify(key)}, which cannot be an environment variable: names are not empty and contain no "=" or NUL character`);
    }
    if (value === undefined) continue;
    if (typeof value !== "string") {
      throw optionError(where, `env.${key}`, "a string (environment values are text; convert it with String())", value);
    }
    if (value.includes("\0")) throw optionError(where, `env.${key}`, "a string without NUL characters", value);
  }
}
