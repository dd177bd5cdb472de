import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findProgram } from "../../src/parent/subprocess/locate";
import { which } from "../../kernel/jupyter-env";

const dir = mkdtempSync(path.join(tmpdir(), "forklab-locate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(process.platform === "win32")("one PATH search", () => {
  it("finds the first executable on PATH, skipping a file that is not executable", () => {
    const first = path.join(dir, "first");
    const second = path.join(dir, "second");
    for (const d of [first, second]) {
      rmSync(d, { recursive: true, force: true });
      require("node:fs").mkdirSync(d);
    }
    writeFileSync(path.join(first, "tool"), "#!/bin/sh\n");
    writeFileSync(path.join(second, "tool"), "#!/bin/sh\n");
    chmodSync(path.join(second, "tool"), 0o755);
    const env = { PATH: `${first}:${second}` };
    expect(findProgram("tool", env)).toBe(path.join(second, "tool"));
    // The kernel's start-up looks for Jupyter with the same search.
    expect(which("tool", env)).toBe(path.join(second, "tool"));
    expect(findProgram("no-such-tool", env)).toBeUndefined();
    expect(which("tool", { PATH: "" })).toBeUndefined();
  });
});
