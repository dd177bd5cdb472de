import { describe, expect, it } from "vitest";
import { checkOutput, run, sh, shlex, ShellCommand } from "../../src/parent/subprocess";
import { node } from "./helpers";

const HOSTILE = [
  "",
  " ",
  "two words",
  "'",
  '"',
  "it's",
  "$(echo pwned)",
  "`echo pwned`",
  "$HOME",
  "${PATH}",
  "a\nb",
  "*",
  "; echo pwned #",
  "&& echo pwned",
  "| cat",
  "> /tmp/forklab-pwned",
  "\\",
  "\\'",
  "-n",
  "!!",
  "~",
  "é 你好",
  "a'b\"c$d`e\\f",
];

const ARGV = "process.stdout.write(JSON.stringify(process.argv.slice(1)))";

describe("sh`...` and shlex", () => {
  it.skipIf(process.platform === "win32")("passes hostile strings through a real shell unchanged", async () => {
    const out = await checkOutput(sh`${node} -e ${ARGV} -- ${HOSTILE}`, { text: true });
    expect(JSON.parse(out)).toEqual(HOSTILE);
    for (const word of HOSTILE) {
      const one = await checkOutput(sh`${node} -e ${ARGV} -- ${word}`, { text: true });
      expect(JSON.parse(one)).toEqual([word]);
    }
  });

  it.skipIf(process.platform === "win32")("keeps shell syntax in the literal text", async () => {
    const done = await run(sh`${node} -e ${"console.log('a'); console.log('b')"} | wc -l`, { captureOutput: true, text: true });
    expect(done.stdout!.trim()).toBe("2");
    expect(done.args).toContain("| wc -l");
  });

  it("returns a ShellCommand that composes and reads like the command", () => {
    const dir = "my files";
    const inner = sh`ls ${dir}`;
    expect(inner).toBeInstanceOf(ShellCommand);
    expect(sh.posix`ls ${dir}`.command).toBe("ls 'my files'");
    expect(sh.posix`${inner} | wc -l`.command).toBe(inner.command + " | wc -l");
    expect(sh.posix`echo ${3} ${["a b", "c"]}`.command).toBe("echo 3 'a b' c");
    expect(() => sh`echo ${{} as never}`).toThrow(/value #1 is an object/);
    expect(() => sh`echo ${undefined as never}`).toThrow(/value #1 is undefined/);
  });

  it("quotes as Python's shlex.quote and shlex.join do", () => {
    expect(shlex.quote("", "posix")).toBe("''");
    expect(shlex.quote("safe-name_1.txt", "posix")).toBe("safe-name_1.txt");
    expect(shlex.quote("it's", "posix")).toBe(`'it'"'"'s'`);
    expect(shlex.join(["echo", "a b", "$x"], "posix")).toBe("echo 'a b' '$x'");
  });

  it("quotes for cmd.exe on Windows: quoted argument, metacharacters escaped with ^", () => {
    expect(shlex.quote("a b", "win32")).toBe('^"a^ b^"');
    expect(shlex.quote('say "hi" & exit', "win32")).toBe('^"say^ \\^"hi\\^"^ ^&^ exit^"');
    expect(shlex.quote("C:\\dir\\", "win32")).toBe('^"C:\\dir\\\\^"');
    expect(shlex.quote("100%|<>", "win32")).toBe('^"100^%^|^<^>^"');
  });

  it("refuses shell: false with an sh command", async () => {
    await expect(run(sh`true`, { shell: false })).rejects.toThrow(/runs through the shell/);
  });
});
