import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CalledProcessError,
  checkCall,
  checkOutput,
  PIPE,
  Popen,
  ProgramNotFoundError,
  run,
  SpawnError,
} from "../../src/parent/subprocess";
import { calledProcessErrorMessage } from "../../src/parent/subprocess/errors";
import { js } from "./helpers";

describe("a program that cannot be started", () => {
  it("names the program, lists the PATH directories searched, and says what to do", async () => {
    const env = { PATH: ["/nonexistent/forklab-a", "/nonexistent/forklab-b"].join(process.platform === "win32" ? ";" : ":") };
    const error = await run(["forklab-no-such-program", "--flag"], { env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProgramNotFoundError);
    const e = error as ProgramNotFoundError;
    expect(e.code).toBe("ENOENT");
    expect(e.filename).toBe("forklab-no-such-program");
    expect(e.searched).toEqual(["/nonexistent/forklab-a", "/nonexistent/forklab-b"]);
    expect(e.message).toContain('"forklab-no-such-program"');
    expect(e.message).toContain("  /nonexistent/forklab-a\n  /nonexistent/forklab-b");
    expect(e.message).toMatch(/Install it, pass its full path, or add its directory to PATH/);
  });

  it("throws from the Popen constructor at once, as Python does", () => {
    expect(() => new Popen(["forklab-no-such-program"], { stdout: PIPE })).toThrow(ProgramNotFoundError);
  });

  it("suggests a list when a command line is given as the program", async () => {
    const error = (await run("ls -l /").catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(ProgramNotFoundError);
    expect(error.message).toContain('["ls","-l","/"]');
    expect(error.message).toContain("sh`...`");
  });

  it("reports a missing working directory as such", async () => {
    const error = (await run(js(""), { cwd: "/nonexistent/forklab-cwd" }).catch((e: unknown) => e)) as SpawnError;
    expect(error).toBeInstanceOf(SpawnError);
    expect(error).not.toBeInstanceOf(ProgramNotFoundError);
    expect(error.message).toContain('working directory "/nonexistent/forklab-cwd" does not exist');
  });

  it.skipIf(process.platform === "win32")("reports a file that is not executable", async () => {
    const dir = mkdtempSync(join(tmpdir(), "forklab-"));
    const file = join(dir, "script.sh");
    writeFileSync(file, "#!/bin/sh\necho hi\n");
    chmodSync(file, 0o644);
    try {
      const error = (await run([file]).catch((e: unknown) => e)) as SpawnError;
      expect(error.code).toBe("EACCES");
      expect(error.message).toContain("chmod +x");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("check", () => {
  it("throws CalledProcessError naming the command, the exit code and the tail of stderr", async () => {
    const error = (await run(js("console.log('out'); console.error('line 1\\nthe cause'); process.exit(3)"), {
      captureOutput: true,
      check: true,
    }).catch((e: unknown) => e)) as CalledProcessError;
    expect(error).toBeInstanceOf(CalledProcessError);
    expect(error.returncode).toBe(3);
    expect(error.cmd[0]).toBe(process.execPath);
    expect(error.stdout?.toString()).toBe("out\n");
    expect(error.output).toBe(error.stdout);
    expect(error.stderr?.toString()).toBe("line 1\nthe cause\n");
    expect(error.message).toMatch(/^Command failed with exit code 3: /);
    expect(error.message).toContain("line 1\nthe cause");
    expect(error.message).toContain("check: false");
  });

  it("is off by default: the returncode is returned", async () => {
    const done = await run(js("process.exit(4)"));
    expect(done.returncode).toBe(4);
    expect(done.stdout).toBeNull();
    expect(() => done.checkReturncode()).toThrow(CalledProcessError);
  });

  it("checkCall resolves to 0 or throws; checkOutput returns stdout", async () => {
    await expect(checkCall(js(""))).resolves.toBe(0);
    await expect(checkCall(js("process.exit(1)"))).rejects.toBeInstanceOf(CalledProcessError);
    await expect(checkOutput(js("process.stdout.write('abc')"), { text: true })).resolves.toBe("abc");
  });

  it("keeps the end of a long stderr", () => {
    const stderr = Buffer.from(Array.from({ length: 100 }, (_, i) => `line ${i}`).join("\n"));
    const failed = calledProcessErrorMessage({ returncode: 1, cmd: "long", display: "long", stdout: null, stderr, shell: false });
    // The last 20 lines, after a mark that says some were left out.
    expect(failed).toContain("\n\n[...]\nline 80\n");
    expect(failed).toContain("line 99");
    expect(failed).not.toContain("line 79\n");
    const message = calledProcessErrorMessage({ returncode: 127, cmd: "nope", display: "nope", stdout: null, stderr: null, shell: true });
    expect(message).toContain("did not find the program");
  });
});

describe("death by signal", () => {
  it.skipIf(process.platform === "win32")("gives a negative returncode and names the signal", async () => {
    const p = new Popen(js("process.stdout.write('ready'); setInterval(() => {}, 1000)"), { stdout: PIPE });
    await new Promise((resolve) => p.stdout!.once("data", resolve));
    p.terminate();
    expect(await p.wait()).toBe(-15);
    expect(p.returncode).toBe(-15);
    expect(p.poll()).toBe(-15);

    const error = (await run(js("process.kill(process.pid, 'SIGKILL')"), { check: true }).catch((e: unknown) => e)) as CalledProcessError;
    expect(error.returncode).toBe(-9);
    expect(error.signal).toBe("SIGKILL");
    expect(error.message).toMatch(/^Command was killed by SIGKILL \(returncode -9\): /);
  });

  it("kill() and sendSignal() do nothing once the program has ended", async () => {
    const p = new Popen(js(""));
    expect(await p.wait()).toBe(0);
    p.kill();
    p.sendSignal("SIGTERM");
    expect(p.returncode).toBe(0);
  });
});
