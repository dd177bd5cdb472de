/**
 * Turn a TargetSpec into a callable function in the child: evaluate a function's source, or load a
 * module's export (a .ts module through ts-node, transpile only).
 */
import { createRequire } from "node:module";
import * as path from "node:path";
import type { TargetSpec } from "../protocol/messages";

type AnyFunction = (...args: unknown[]) => unknown;

let tsRegistered = false;

function userRequire(): NodeJS.Require {
  const base = createRequire(path.join(process.cwd(), "[forklab-target].js"));
  const wrapped = ((id: string) => {
    try {
      return base(id);
    } catch (error) {
      // A target may `require("forklab")` from a folder where the package does not resolve.
      if (id === "forklab" && (error as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND") {
        return require(path.join(__dirname, "..", "index.js"));
      }
      throw error;
    }
  }) as NodeJS.Require;
  return Object.assign(wrapped, { resolve: base.resolve, cache: base.cache, main: base.main, extensions: base.extensions });
}

function evaluateSource(source: string, name: string): AnyFunction {
  const req = userRequire();
  const dirname = process.cwd();
  const filename = path.join(dirname, "[forklab-target].js");
  let fn: unknown;
  try {
    // The source starts a line of its own, so that a stack's line and column in it are the
    // line and column in the function's own text (main.ts's cleanStack counts the lines before).
    fn = new Function("require", "__filename", "__dirname", `"use strict";\nreturn (\n${source}\n);`)(req, filename, dirname);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    // Method shorthand (`run(x) { ... }`) is not an expression on its own.
    const holder = new Function("require", "__filename", "__dirname", `"use strict";\nreturn ({\n${source}\n});`)(req, filename, dirname);
    fn = Object.values(holder as object)[0];
  }
  if (typeof fn !== "function") throw new TypeError(`The target ${name || "(anonymous)"} did not evaluate to a function in the child`);
  return fn as AnyFunction;
}

function loadModule(spec: Extract<TargetSpec, { kind: "module" }>): AnyFunction {
  if (/\.[cm]?tsx?$/.test(spec.path) && !tsRegistered) {
    tsRegistered = true;
    const tsNode = require(require.resolve("ts-node", { paths: [process.cwd(), __dirname] })) as {
      register(options: object): void;
    };
    tsNode.register({ transpileOnly: true, compilerOptions: { module: "commonjs" } });
  }
  const mod = require(spec.path) as Record<string, unknown>;
  let fn: unknown = spec.export === "default" ? (mod.default ?? mod) : mod[spec.export];
  if (typeof fn !== "function") {
    const available = Object.keys(mod).filter((k) => typeof mod[k] === "function");
    throw new TypeError(
      `Module ${spec.specifier} (${spec.path}) has no exported function "${spec.export}" ` +
        `(it exports ${available.length ? available.map((k) => `"${k}"`).join(", ") : "no functions"}); ` +
        `check the export name, or export the function from the module`,
    );
  }
  return fn as AnyFunction;
}

export function loadTarget(spec: TargetSpec): AnyFunction {
  return spec.kind === "source" ? evaluateSource(spec.source, spec.name) : loadModule(spec);
}
