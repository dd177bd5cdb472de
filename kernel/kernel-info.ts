/** What `kernel_info_reply` says about this kernel and its language. */
import path from "node:path";
import { PROTOCOL_VERSION } from "./wire";

/** This installation's forklab version (dist/kernel/ -> package.json). */
export function forklabVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("../../package.json") as { version: string }).version;
}

function typescriptVersion(): string {
  // The TypeScript that checks cells is tslab's own bundled compiler, not the project's; its
  // package.json says which, without loading the compiler.
  const tslabDir = path.dirname(require.resolve("tslab/package.json"));
  const manifest = require.resolve("@tslab/typescript-for-tslab/package.json", { paths: [tslabDir] });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(manifest) as { version: string }).version;
}

let cached: Record<string, unknown> | undefined;

export function kernelInfo(): Record<string, unknown> {
  return (cached ??= describeKernel());
}

function describeKernel(): Record<string, unknown> {
  const version = forklabVersion();
  const typescript = typescriptVersion();
  return {
    status: "ok",
    protocol_version: PROTOCOL_VERSION,
    implementation: "forklab",
    implementation_version: version,
    language_info: {
      name: "typescript",
      version: typescript,
      mimetype: "text/typescript",
      file_extension: ".ts",
      codemirror_mode: { name: "javascript", typescript: true },
      pygments_lexer: "typescript",
    },
    banner: `forklab ${version}: TypeScript ${typescript} (type-checked by tslab) on Node.js ${process.version}`,
    help_links: [
      { text: "TypeScript handbook", url: "https://www.typescriptlang.org/docs/handbook/intro.html" },
      { text: "Node.js child_process", url: "https://nodejs.org/api/child_process.html" },
    ],
  };
}
