import { describe, expect, it } from "vitest";
import { PIPE, Popen, run, STDOUT } from "../../src/parent/subprocess";
import { js } from "./helpers";

describe("options are validated with expected value, actual value and type", () => {
  it.each([
    [{ stdout: "pipe" }, 'Popen(): option stdout must be PIPE, DEVNULL, null or a file descriptor, got "pipe" (string)'],
    [{ stdin: STDOUT }, "option stdin must be PIPE, DEVNULL, null, a file descriptor or a readable stream (another Popen's stdout) (STDOUT is only for stderr)"],
    [{ env: { N: 1 } }, "Popen(): option env.N must be a string (environment values are text; convert it with String()), got 1 (number)"],
    [{ cwd: 42 }, "option cwd must be a directory path (string or file: URL), got 42 (number)"],
    [{ shell: "yes" }, 'option shell must be true or false, got "yes" (string)'],
    [{ capture_output: true }, "Popen(): unknown option capture_output"],
  ])("%o", (options, message) => {
    expect(() => new Popen(js(""), options as never)).toThrow(message);
  });

  it("gives the camelCase spelling of a Python option", async () => {
    await expect(run(js(""), { capture_output: true } as never)).rejects.toThrow("run(): unknown option capture_output; in TypeScript it is spelled captureOutput");
  });

  it("checks args", () => {
    expect(() => new Popen([])).toThrow("args must name a program, got an empty array");
    expect(() => new Popen(["ls", 3 as never])).toThrow("args[1] must be a string, got 3 (number)");
  });

  it("refuses contradictory options as Python does", async () => {
    await expect(run(js(""), { input: "x", stdin: PIPE })).rejects.toThrow("stdin and input may not both be used");
    await expect(run(js(""), { captureOutput: true, stdout: PIPE })).rejects.toThrow("may not be used with captureOutput");
    const p = new Popen(js(""));
    await expect(p.communicate("x")).rejects.toThrow("start it with stdin: PIPE");
    await p.wait();
  });

  it("runs a command line with shell: true; extra list items are the shell's $0, $1", async () => {
    if (process.platform === "win32") return;
    const done = await run("echo $((6 * 7))", { shell: true, captureOutput: true, text: true });
    expect(done.stdout).toBe("42\n");
    const positional = await run(["echo $0-$1", "zero", "one"], { shell: true, captureOutput: true, text: true });
    expect(positional.stdout).toBe("zero-one\n");
  });
});
