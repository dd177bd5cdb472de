import { spawn } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const LIB = path.resolve(__dirname, "../../dist/src/index.js");

/** Run a Node script that uses the built library outside any kernel; resolves once it exits. */
function script(source: string, stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", `const lib = require(${JSON.stringify(LIB)});\n${source}`], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe("input() outside a kernel", () => {
  it("reads every line of a piped stdin, then rejects with EOFError at its end", async () => {
    const { code, stdout } = await script(
      `(async () => {
        for (;;) {
          try { console.log(JSON.stringify(await lib.input("? "))); }
          catch (e) { console.log(e.name, e instanceof lib.EOFError, e.message); break; }
        }
      })();`,
      "first\nsecond\r\nthird",
    );
    expect(code).toBe(0);
    expect(stdout).toBe(
      '? "first"\n? "second"\n? "third"\n? EOFError true input(): end of input: stdin was closed before a line arrived (as Python\'s EOFError); catch EOFError to stop reading\n',
    );
  });

  it("an unhandled EOFError fails the script instead of exiting silently", async () => {
    const { code, stderr } = await script(`lib.input("? ");`, "");
    expect(code).not.toBe(0);
    expect(stderr).toContain("EOFError: input(): end of input");
  });
});

describe("live: true outside a kernel", () => {
  it("prints the command line, the output and the final status as text", async () => {
    const { code, stdout } = await script(
      `lib.run([process.execPath, "-e", "console.log('one'); console.log('two'); process.exit(3)"], { live: true });`,
      "",
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/^\$ .*node -e .*\none\ntwo\n\[exit 3 · .* · pid \d+\]\n$/);
  });
});
