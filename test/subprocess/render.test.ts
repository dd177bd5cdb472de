import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { CompletedProcess, run } from "../../src/parent/subprocess";
import { renderTerminal, statusText, tailChunks, terminalText } from "../../src/render/terminal";
import { js } from "./helpers";

describe("renderTerminal", () => {
  const finished = {
    command: "node build.js --out 'dist dir'",
    chunks: [
      { stream: "stdout" as const, text: "compiling <App> & co\n" },
      { stream: "stderr" as const, text: "\x1b[33mwarning\x1b[0m: slow\n" },
    ],
    returncode: 0,
    durationMs: 1234.5,
    pid: 4242,
  };

  it("renders a plain-text terminal block", () => {
    expect(renderTerminal(finished)["text/plain"]).toBe(
      "$ node build.js --out 'dist dir'\ncompiling <App> & co\nwarning: slow\n[exit 0 · 1.23 s · pid 4242]",
    );
  });

  it("renders escaped HTML with inline styles and no script", () => {
    const html = renderTerminal(finished)["text/html"] as string;
    expect(html).toContain("compiling &lt;App&gt; &amp; co");
    expect(html).toContain("node build.js --out &#39;dist dir&#39;");
    expect(html).toMatch(/<span style="color:#f48771">warning: slow\n<\/span>/);
    expect(html).toContain("background:#1e1e1e");
    expect(html).not.toMatch(/<script|onclick|javascript:|class=/i);
    expect(html).not.toContain("\x1b");
  });

  it("shows running programs, signals and notes in the status line", () => {
    expect(statusText({ command: "x", chunks: [], returncode: null, pid: 7 })).toBe("running · pid 7");
    expect(statusText({ command: "x", chunks: [], returncode: -9, signal: "SIGKILL", note: "timed out after 2 s", durationMs: 5 })).toBe(
      "killed by SIGKILL · timed out after 2 s · 5 ms",
    );
    expect(terminalText({ command: "x", chunks: [], returncode: 3 })).toBe("$ x\n[exit 3]");
  });

  it("keeps the tail of long output and says how much was left out", () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join("");
    const { chunks, omitted } = tailChunks([{ stream: "stdout", text: lines }], 10, 1_000_000);
    expect(chunks[0].text).toBe(Array.from({ length: 10 }, (_, i) => `line ${990 + i}\n`).join(""));
    expect(omitted).toBe(lines.length - chunks[0].text.length);
    const text = terminalText({ command: "yes", chunks: [{ stream: "stdout", text: lines }], returncode: 0 });
    expect(text).toContain("earlier characters not shown");
    expect(text).toContain("line 999\n[exit 0]");
  });
});

describe("result objects", () => {
  it("a CompletedProcess renders as a terminal block and inspects like Python's repr", async () => {
    const done = await run(js("console.log('hello'); console.error('careful'); process.exit(2)"), { captureOutput: true, text: true });
    const bundle = (done as unknown as Record<symbol, () => Record<string, string>>)[Symbol.for("Jupyter.display")]();
    expect(bundle["text/plain"]).toMatch(/^\$ .+ -e "console\.log\('hello'\); console\.error\('careful'\); process\.exit\(2\)" --\nhello\ncareful\n\[exit 2 · \d+ ms · pid \d+\]$/);
    expect(bundle["text/html"]).toContain("careful");
    expect(inspect(done)).toMatch(/^CompletedProcess\(args=\[.*\], returncode=2, stdout='hello\\n', stderr='careful\\n'\)$/);
    expect(inspect(new CompletedProcess(["ls"], 0))).toBe("CompletedProcess(args=[ 'ls' ], returncode=0)");
  });
});
