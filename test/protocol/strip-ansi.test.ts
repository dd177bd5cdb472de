import { describe, expect, it } from "vitest";
import * as lib from "../../dist/src/index.js";
import { stripAnsi } from "../../dist/src/render/format.js";
import { renderTerminal } from "../../dist/src/render/terminal.js";

// What `tput sgr0` prints on xterm: the character-set switch ESC(B, then the attribute reset.
const SGR0 = "\x1b(B\x1b[m";

describe("terminal escapes", () => {
  it("strips colours, titles and character-set switches", () => {
    expect(stripAnsi(`\x1b[1;31mred${SGR0} plain`)).toBe("red plain");
    expect(stripAnsi("\x1b]0;title\x07after")).toBe("after");
    expect(stripAnsi("no escapes")).toBe("no escapes");
  });

  it("keeps a terminal block free of escapes, also when one is split across two reads", () => {
    const bundle = renderTerminal({
      command: "tput sgr0",
      chunks: [
        { stream: "stdout", text: "bold\x1b(" },
        { stream: "stdout", text: "B done\n" },
      ],
      returncode: 0,
    });
    expect(bundle["text/plain"]).toContain("bold done");
    expect(bundle["text/plain"]).not.toContain("\x1b");
    expect(bundle["text/html"]).not.toContain("\x1b");
  });

  it("quotes a program's stderr without escapes in a CalledProcessError", async () => {
    const error = await lib
      .run(["sh", "-c", `printf '\\033[31mfailed\\033(B\\033[m here\\n' >&2; exit 3`], { check: true, captureOutput: true, text: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(lib.CalledProcessError);
    expect((error as Error).message).toContain("failed here");
    expect((error as Error).message).not.toContain("\x1b");
  });
});
