/**
 * Pipelines, as Python writes them: `p2 = Popen(b, stdin=p1.stdout, stdout=PIPE)`: one program's
 * output becomes the next one's input, with nothing lost and no program left behind.
 */
import { describe, expect, it } from "vitest";
import { PIPE, Popen, run } from "../../src/parent/subprocess";
import { isGone, waitFor } from "../support/processes";
import { js } from "./helpers";

describe("Popen with another Popen's stdout as stdin", () => {
  it("passes every byte through, including what the first program wrote before the second started", async () => {
    // The first program writes, says so on stderr, and ends only when its stdin closes: its output
    // sits in the pipe (and in this process's buffer) before the second program exists.
    const p1 = new Popen(
      js("process.stdout.write('x'.repeat(40000) + '\\nend\\n', () => process.stderr.write('written')); process.stdin.resume()"),
      { stdin: PIPE, stdout: PIPE, stderr: PIPE },
    );
    await new Promise((resolve) => p1.stderr!.once("data", resolve));
    const p2 = new Popen(js("let n = 0; process.stdin.on('data', (c) => (n += c.length)).on('end', () => console.log(n))"), {
      stdin: p1.stdout,
      stdout: PIPE,
    });
    expect(p2.stdin).toBeNull();
    p1.stdin!.end();
    const [out] = await p2.communicate();
    expect(Number(out!.toString())).toBe(40000 + 5);
    expect([await p1.wait(), p2.returncode]).toEqual([0, 0]);
  });

  it("runs a three-stage pipeline of text, as a shell's a | b | c", async () => {
    const words = new Popen(js("console.log(['pear', 'apple', 'fig', 'apple'].join('\\n'))"), { stdout: PIPE });
    const sorted = new Popen(js("let t = ''; process.stdin.on('data', (c) => (t += c)).on('end', () => console.log(t.trim().split('\\n').sort().join('\\n')))"), {
      stdin: words.stdout,
      stdout: PIPE,
    });
    const unique = await run(js("let t = ''; process.stdin.on('data', (c) => (t += c)).on('end', () => console.log([...new Set(t.trim().split('\\n'))].join(' ')))"), {
      stdin: sorted.stdout,
      captureOutput: true,
      text: true,
    });
    expect(unique.stdout).toBe("apple fig pear\n");
    expect([await words.wait(), await sorted.wait()]).toEqual([0, 0]);
  });

  it("the first program gets SIGPIPE when the second stops reading, as in Python", async () => {
    const endless = new Popen(js("const b = Buffer.alloc(65536, 97); (function w() { while (process.stdout.write(b)); process.stdout.once('drain', w); })()"), {
      stdout: PIPE,
      stderr: PIPE,
    });
    const head = await run(js("process.stdin.once('data', (c) => { console.log('got', c.length > 0); process.exit(0); })"), {
      stdin: endless.stdout,
      captureOutput: true,
      text: true,
    });
    expect(head.stdout).toBe("got true\n");
    // Node reports a write to a closed pipe as EPIPE and exits with an error rather than dying
    // of the signal; either way it ends instead of blocking on a pipe nobody reads.
    expect(await endless.wait()).not.toBe(0);
    await waitFor("the writer of the pipeline is gone", () => isGone(endless.pid), 10_000);
  });

  it("leaves the first program's communicate() without the stdout it handed over", async () => {
    const p1 = new Popen(js("console.log('for the next program'); console.error('for me')"), { stdout: PIPE, stderr: PIPE });
    const p2 = new Popen(js("process.stdin.pipe(process.stdout)"), { stdin: p1.stdout, stdout: PIPE, text: true });
    const [out1, err1] = await p1.communicate();
    expect(out1).toBeNull();
    expect(err1!.toString()).toBe("for me\n");
    expect((await p2.communicate())[0]).toBe("for the next program\n");
  });

  it("refuses a stream already being read, a closed one, and a Popen itself, before starting anything", async () => {
    const p1 = new Popen(js("console.log('once')"), { stdout: PIPE });
    await p1.communicate();
    expect(() => new Popen(js("0"), { stdin: p1.stdout })).toThrow(
      /^Popen\(\): option stdin is a stream that (something else is already reading|is already closed or read to the end)/,
    );
    const p2 = new Popen(js("0"), { stdout: PIPE });
    expect(() => new Popen(js("0"), { stdin: p2 as never })).toThrow(
      "Popen(): option stdin must be PIPE, DEVNULL, null, a file descriptor or a readable stream (another Popen's stdout) (pass its .stdout, started with stdout: PIPE), got a Popen",
    );
    await p2.wait();
  });
});
