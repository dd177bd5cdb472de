/**
 * The command line's parsing: `--help` anywhere among a command's own arguments prints usage, and
 * what follows `--` is passed on untouched, `--help` included.
 */
import { describe, expect, it } from "vitest";
import { cli, parseFlags, type Io } from "../../kernel/cli";

function captureIo(): Io & { stdout: string; stderr: string } {
  const io = { stdout: "", stderr: "", errIsTTY: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

describe("forklab's command line", () => {
  it.each([
    [["run", "a.ipynb", "--help"]],
    [["install", "--prefix", "/tmp/x", "-h"]],
    [["kernel", "--help", "--connection-file", "f.json"]],
    [["start", "--no-install", "--help", "--", "--port=1"]],
    [["run", "--verbose", "--help"]],
  ])("prints usage for --help or -h before --: %j", async (args) => {
    const io = captureIo();
    expect(await cli(args, io)).toBe(0);
    expect(io.stdout).toContain("forklab run [--out DIR");
    expect(io.stderr).toBe("");
  });

  it("passes what follows -- on as it is, --help and -h included", () => {
    const parsed = parseFlags("start", ["--no-install", "--", "--help", "-h", "--ip=0.0.0.0", "x"], { "no-install": {} }, true);
    expect(parsed.rest).toEqual(["--help", "-h", "--ip=0.0.0.0", "x"]);
    expect(parsed.flags).toEqual(new Map([["no-install", true]]));
    expect(parsed.positional).toEqual([]);
  });

  it.each([
    [["run", "--out"], /option --out of "forklab run" needs a value/],
    [["run", "--inplace=yes", "a.ipynb"], /option --inplace of "forklab run" takes no value, got "--inplace=yes"/],
    [["kernel", "-x"], /unknown option "-x" for "forklab kernel"; valid options: --connection-file \(-f\)/],
    [["run", "a.ipynb", "--", "--help"], /"forklab run" takes no arguments after "--"/],
    [["setup", "extra"], /"forklab setup" takes no arguments, got "extra"/],
  ])("rejects %j with exit code 2 and a message naming the option", async (args, message) => {
    const io = captureIo();
    expect(await cli(args, io)).toBe(2);
    expect(io.stderr).toMatch(message);
    expect(io.stderr).toContain(`Run "forklab --help" for usage.`);
  });

  it("reads short options and values given with =", () => {
    expect(parseFlags("kernel", ["-f", "c.json"], { "connection-file": { value: true, short: "f" } }).flags.get("connection-file")).toBe("c.json");
    expect(parseFlags("run", ["--timeout=5", "a"], { timeout: { value: true } }).flags.get("timeout")).toBe("5");
  });
});
