/** What `kernel_info_reply` says about this kernel and its language. */
import path from "node:path";
import { PROTOCOL_VERSION } from "./wire";

function packageVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("../../package.json") as { version: string }).version;
}

function typescriptVersion(): string {
  // The TypeScript that checks cells is tslab's own bundled compiler, not the project's.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tslabDir = path.dirname(require.resolve("tslab/package.json"));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(require.resolve("@tslab/typescript-for-tslab", { paths: [tslabDir] })) as { version: string }).version;
}

export function kernelInfo(): Record<string, unknown> {
  const version = packageVersion();
  return {
    status: "ok",
    protocol_version: PROTOCOL_VERSION,
    implementation: "forklab",
    implementation_version: version,
    language_info: {
      name: "typescript",
      version: typescriptVersion(),
      mimetype: "text/typescript",
      file_extension: ".ts",
      codemirror_mode: { name: "javascript", typescript: true },
      pygments_lexer: "typescript",
    },
    banner: `forklab ${version}: TypeScript ${typescriptVersion()} (type-checked by tslab) on Node.js ${process.version}`,
    help_links: [
      { text: "TypeScript handbook", url: "https://www.typescriptlang.org/docs/handbook/intro.html" },
      { text: "Node.js child_process", url: "https://nodejs.org/api/child_process.html" },
    ],
  };
}
