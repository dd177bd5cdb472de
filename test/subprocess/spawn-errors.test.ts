import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Popen, ProgramNotFoundError, run, SpawnError } from "../../src";
import * as lib from "../../dist/src/index.js";

const dir = mkdtempSync(path.join(tmpdir(), "forklab-spawn-errors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function thrown(start: () => unknown): SpawnError {
  try {
    start();
  } catch (error) {
    return error as SpawnError;
  }
  throw new Error("it started");
}

describe.skipIf(process.platform === "win32")("a program the system refuses to start gets a SpawnError with advice", () => {
  it("ENOTDIR: the working directory is a file", () => {
    const file = path.join(dir, "a-file");
    writeFileSync(file, "");
    const error = thrown(() => new Popen(["true"], { cwd: file }));
    expect(error).toBeInstanceOf(SpawnError);
    expect(error.code).toBe("ENOTDIR");
    expect(error.message).toBe(
      `Cannot run true: its working directory ${JSON.stringify(file)} is a file, not a directory (ENOTDIR).\n\nPass a directory as cwd (the file's folder is ${JSON.stringify(dir)}).`,
    );
  });

  it("ENOTDIR for a Process too", () => {
    const file = path.join(dir, "another-file");
    writeFileSync(file, "");
    const error = thrown(() => lib.spawn(() => 1, [], { output: "none", cwd: file, name: "p" }));
    expect(error.name).toBe("SpawnError");
    expect(error.message).toContain(`Cannot run p: its working directory ${JSON.stringify(file)} is a file, not a directory (ENOTDIR)`);
  });

  it("ENOTDIR: a part of the program's path is a file", () => {
    const file = path.join(dir, "plain");
    writeFileSync(file, "");
    const error = thrown(() => new Popen([path.join(file, "prog")]));
    expect(error.code).toBe("ENOTDIR");
    expect(error.message).toContain("is a file, not a directory (ENOTDIR).\n\nCheck the path");
  });

  it("E2BIG: arguments too large", async () => {
    const error = (await run(["true", "x".repeat(200_000)]).catch((e: unknown) => e)) as SpawnError;
    expect(error).toBeInstanceOf(SpawnError);
    expect(error.code).toBe("E2BIG");
    expect(error.message).toContain("larger than the system allows (E2BIG).\n\nPass large data through stdin (run's input option) or a file");
  });

  it("ELOOP: a symbolic link loop", () => {
    symlinkSync(path.join(dir, "loop-b"), path.join(dir, "loop-a"));
    symlinkSync(path.join(dir, "loop-a"), path.join(dir, "loop-b"));
    const error = thrown(() => new Popen([path.join(dir, "loop-a")]));
    expect(error.code).toBe("ELOOP");
    expect(error.message).toContain("a link points back to itself (ELOOP).\n\nFind the loop with readlink -f");
  });

  it("EBADF: a file descriptor that is not open", () => {
    const error = thrown(() => new Popen(["true"], { stdin: 987 }));
    expect(error).toBeInstanceOf(SpawnError);
    expect(error.code).toBe("EBADF");
    expect(error.message).toContain("is not open (EBADF).\n\nPass an open descriptor");
  });

  it("a script whose #! interpreter is missing", () => {
    const script = path.join(dir, "script.sh");
    writeFileSync(script, "#!/nonexistent/forklab-interpreter\necho hi\n");
    chmodSync(script, 0o755);
    const error = thrown(() => new Popen([script]));
    expect(error).toBeInstanceOf(SpawnError);
    expect(error).not.toBeInstanceOf(ProgramNotFoundError);
    expect(error.message).toBe(
      `Cannot run ${JSON.stringify(script)}: its #! line names the interpreter "/nonexistent/forklab-interpreter", which does not exist (the system says ENOENT).\n\n` +
        `Install that interpreter, fix the #! line (e.g. #!/usr/bin/env node), or run the script through an interpreter you have, e.g. ["sh", ${JSON.stringify(script)}].`,
    );
  });
});
