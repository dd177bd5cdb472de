/**
 * Loads tslab's converter and executor so that `import ... from "forklab"` works in a cell.
 *
 * tslab type-checks cells with its own bundled TypeScript, rooted at the kernel's current
 * directory and with Node10 resolution, so a notebook in `notebooks/` cannot see this project's
 * library by name. Two hooks fix that without asking users for relative paths:
 *
 * - types: tslab's TypeScript module exposes non-configurable getters, so we hand tslab a copy
 *   whose `createWatchCompilerHost` adds a `paths` entry mapping `forklab` to our declarations;
 * - runtime: `require("forklab")` resolves to this installation's compiled library, the same
 *   files whose declarations the checker saw, and `forklab/package.json` (the package's other
 *   export) to its package.json, wherever the notebook lies.
 */
import Module from "node:module";
import path from "node:path";

const TSLAB_TYPESCRIPT = "@tslab/typescript-for-tslab";
export const LIBRARY_NAME = "forklab";

/** The compiled library next to this kernel: dist/kernel/server/ -> dist/src/index.{js,d.ts}. */
export const libraryEntry = path.resolve(__dirname, "..", "..", "src", "index.js");
const libraryTypes = path.resolve(__dirname, "..", "..", "src", "index.d.ts");
const libraryPackageJson = path.resolve(__dirname, "..", "..", "..", "package.json");

type ModuleInternals = typeof Module & {
  _load(request: string, parent: unknown, isMain: boolean): unknown;
  _resolveFilename(request: string, parent: unknown, isMain: boolean, options?: unknown): string;
};

let installed = false;

export function installLibraryHooks(): void {
  if (installed) return;
  installed = true;
  const internals = Module as ModuleInternals;

  const originalResolve = internals._resolveFilename;
  internals._resolveFilename = function (request, parent, isMain, options) {
    if (request === LIBRARY_NAME) return libraryEntry;
    if (request === `${LIBRARY_NAME}/package.json`) return libraryPackageJson;
    return originalResolve.call(this, request, parent, isMain, options);
  };

  const originalLoad = internals._load;
  let patchedTypeScript: unknown;
  internals._load = function (request, parent, isMain) {
    const loaded = originalLoad.call(this, request, parent, isMain);
    if (request !== TSLAB_TYPESCRIPT) return loaded;
    patchedTypeScript ??= withLibraryPaths(loaded as TypeScriptModule);
    return patchedTypeScript;
  };
}

interface TypeScriptModule {
  createWatchCompilerHost(rootFiles: string[], options: Record<string, unknown>, ...rest: unknown[]): unknown;
}

function withLibraryPaths(ts: TypeScriptModule): TypeScriptModule {
  // A plain object with forwarding getters: tslab reads it through `__importStar`, which copies
  // own enumerable properties only.
  const copy = {} as TypeScriptModule;
  for (const key of Object.keys(ts)) {
    if (key === "createWatchCompilerHost") continue;
    Object.defineProperty(copy, key, { enumerable: true, get: () => ts[key as keyof TypeScriptModule] });
  }
  Object.defineProperty(copy, "createWatchCompilerHost", {
    enumerable: true,
    value(rootFiles: string[], options: Record<string, unknown>, ...rest: unknown[]) {
      const paths = { ...(options.paths as Record<string, string[]> | undefined), [LIBRARY_NAME]: [libraryTypes] };
      return ts.createWatchCompilerHost(rootFiles, { ...options, baseUrl: process.cwd(), paths }, ...rest);
    },
  });
  return copy;
}
