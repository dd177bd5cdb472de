import { afterAll, describe, expect, it } from "vitest";
import * as lib from "../../dist/src/index.js";
import { endedHow, endingAdvice, outputTail } from "../../dist/src/protocol/ended.js";
const { spawn, activeChildren, ProcessError } = lib;

const quiet = { output: "none" as const };

afterAll(() => {
  for (const p of activeChildren()) p.kill();
});

describe("how a child ended, in words", () => {
  it("words an exit, a signal and an unknown end one way for every kind of process", () => {
    expect(endedHow({ exitCode: 3, signal: null })).toBe("exited with code 3");
    expect(endedHow({ exitCode: -9, signal: "SIGKILL", stoppedBy: "kill()" })).toBe("was killed by SIGKILL (exitCode -9) after kill()");
    // subprocess: Python's returncode, and a non-zero exit under check is the failure itself.
    expect(endedHow({ exitCode: 3, signal: null }, { code: "returncode", failure: true })).toBe("failed with exit code 3");
    expect(endedHow({ exitCode: -15, signal: "SIGTERM" }, { code: "returncode", failure: true })).toBe("was killed by SIGTERM (returncode -15)");
    // A kernel that Node saw end by a signal has no exit code; one whose end was not seen has neither.
    expect(endedHow({ exitCode: null, signal: "SIGKILL" })).toBe("was killed by SIGKILL");
    expect(endedHow({ exitCode: null, signal: null })).toBe("ended without an exit status");
  });

  it("says a child ran out of memory, and how to raise the limit", async () => {
    const p = spawn(() => {
      const hog: number[][] = [];
      for (;;) hog.push(new Array(1e5).fill(1));
    }, [], { ...quiet, execArgv: ["--max-old-space-size=24"] });
    const error = await p.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessError);
    const message = (error as Error).message;
    expect(message).toMatch(/was killed by SIGABRT .*It ran out of memory \(V8's heap limit\)/);
    expect(message).toContain('execArgv: ["--max-old-space-size=N"]');
    expect(message).toContain("JavaScript heap out of memory");
    // The native frames V8 prints after the fatal line are left out of the tail.
    expect(message).not.toMatch(/\n\s*\d+: 0x[0-9a-f]+ /);
  });

  it("reports a target that writes to fd 3 as a corrupted channel", async () => {
    const p = spawn(() => {
      require("node:fs").writeSync(3, "hello there\n");
      return 1;
    }, [], quiet);
    const error = await p.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessError);
    expect((error as Error).message).toMatch(/Its channel to the parent was corrupted: bytes arrived on fd 3 that are not a forklab message.*Fd 3 belongs to forklab/);
    expect((error as Error).message).not.toContain("process.exit()");
  });

  it("reports a target that closes fd 3 as a broken channel, not as process.exit()", async () => {
    const p = spawn(() => {
      require("node:fs").closeSync(3);
      return 1;
    }, [], quiet);
    const error = await p.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessError);
    expect((error as Error).message).toMatch(/Its target closed or replaced the channel to the parent: fd 3 belongs to forklab/);
    expect((error as Error).message).not.toContain("process.exit()");
  });

  it("words the plain cases as before, and tails output without escapes", () => {
    expect(endingAdvice({ exitCode: 3, signal: null, stderr: "" })).toMatch(/called process\.exit\(\) or the child crashed/);
    expect(endingAdvice({ exitCode: -9, signal: "SIGKILL" })).toMatch(/await join\(\)/);
    // 134 is how a shell reports an abort.
    expect(endingAdvice({ exitCode: 134, signal: null, stderr: "FATAL ERROR: ... JavaScript heap out of memory" })).toMatch(/ran out of memory/);
    expect(outputTail("a\n\x1b[31mb\x1b(B\nc", 2)).toBe("[...]\nb\nc");
  });
});
