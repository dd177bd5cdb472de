/** Turning what the user passes as a target into what crosses to the child. */
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import type { TargetSpec } from "../../protocol/messages";
import { checkFunctionTarget, TargetError, type TargetUse } from "../target-check";

/** A module export to run: `{ module: "./tasks.ts", export: "longTimeTask" }`. */
export interface ModuleTarget {
  /** A path relative to the current directory (the notebook's folder in a kernel), or a package name. */
  module: string;
  /** @default "default" (the default export, or the module itself when it is a function) */
  export?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Target<A extends unknown[] = any[], R = unknown> = ((...args: A) => R) | ModuleTarget;

const EXTENSIONS = ["", ".ts", ".js", ".cjs", ".cts", ".mts", ".tsx", "/index.ts", "/index.js"];

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return `an object with keys [${Object.keys(value as object).join(", ")}]`;
  return `${typeof value} ${String(value)}`;
}

export function resolveModule(specifier: string, cwd: string): string {
  if (specifier.startsWith(".") || path.isAbsolute(specifier)) {
    const base = path.resolve(cwd, specifier);
    for (const ext of EXTENSIONS) {
      const candidate = base + ext;
      if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
    }
    throw new TargetError(
      `Module ${JSON.stringify(specifier)} not found: looked for ${base} (and with .ts, .js); module paths are ` +
        `relative to the current directory ${cwd} (the notebook's folder in a kernel)`,
    );
  }
  try {
    return createRequire(path.join(cwd, "[forklab].js")).resolve(specifier);
  } catch {
    throw new TargetError(
      `Module ${JSON.stringify(specifier)} not found from ${cwd}; for a file, start the path with "./"`,
    );
  }
}

export function toTargetSpec(target: unknown, cwd: string, use: TargetUse = "spawn"): { spec: TargetSpec; label: string } {
  if (typeof target === "function") {
    const source = checkFunctionTarget(target as (...args: never[]) => unknown, use);
    const name = (target as { name?: string }).name ?? "";
    return { spec: { kind: "source", source, name }, label: name ? `${name}()` : "(anonymous function)" };
  }
  if (typeof target === "object" && target !== null && typeof (target as ModuleTarget).module === "string") {
    const t = target as ModuleTarget;
    const exportName = t.export ?? "default";
    if (typeof exportName !== "string" || !exportName) {
      throw new TargetError(`target.export must be the name of an exported function, got ${describe(t.export)}`);
    }
    const resolved = resolveModule(t.module, cwd);
    return {
      spec: { kind: "module", path: resolved, export: exportName, specifier: t.module },
      label: `${t.module}#${exportName}`,
    };
  }
  throw new TargetError(
    `target must be a function or { module: "./file.ts", export: "name" }, got ${describe(target)}`,
  );
}
