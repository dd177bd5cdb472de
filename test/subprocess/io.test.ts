import { describe, expect, it } from "vitest";
import { DEVNULL, PIPE, Popen, run, STDOUT } from "../../src/parent/subprocess";
import { js } from "./helpers";
import { waitFor } from "../support/processes";

const MB = 1 << 20;

// Writes `mb` megabytes of "a" to stdout and, if asked, as many of "b" to stderr, honouring backpressure.
const WRITER = `
const mb = Number(process.argv[1]);
const both = process.argv[2] === "both";
function pump(stream, byte, done) {
  const chunk = Buffer.alloc(${MB}, byte);
  let left = mb;
  (function write() {
    while (left > 0) { left--; if (!stream.write(chunk)) return stream.once("drain", write); }
    done();
  })();
}
let open = both ? 2 : 1;
const done = () => { if (--open === 0) process.exitCode = 0; };
pump(process.stdout, 97, done);
if (both) pump(process.stderr, 98, done);
`;

describe("large outputs and stdin", () => {
  it("collects 100 MB of output without deadlock", async () => {
    const done = await run(js(WRITER, "100"), { captureOutput: true });
    expect(done.returncode).toBe(0);
    expect(done.stdout!.length).toBe(100 * MB);
    expect(done.stdout![0]).toBe(97);
    expect(done.stdout![100 * MB - 1]).toBe(97);
    expect(done.stderr!.length).toBe(0);
  });

  it("drains stdout and stderr together (each larger than a pipe buffer)", async () => {
    const done = await run(js(WRITER, "8", "both"), { captureOutput: true });
    expect(done.stdout!.length).toBe(8 * MB);
    expect(done.stderr!.length).toBe(8 * MB);
  });

  it("writes stdin while the program writes stdout", async () => {
    const input = Buffer.alloc(20 * MB, 120);
    const done = await run(js("process.stdin.pipe(process.stdout)"), { input, captureOutput: true });
    expect(done.stdout!.equals(input)).toBe(true);
  });

  it("keeps the output of a program that ended before anything read it, for communicate()", async () => {
    const p = new Popen(js("process.stdout.write('kept'); process.stderr.write('also kept')"), { stdout: PIPE, stderr: PIPE });
    // poll(), unlike wait(), reads nothing: the program ends with its output unread.
    await waitFor("the program exited", () => p.poll() !== null, 10_000);
    const [stdout, stderr] = await p.communicate();
    expect([stdout!.toString(), stderr!.toString()]).toEqual(["kept", "also kept"]);
  });

  it("wait() does not deadlock on a full pipe; communicate() returns what was kept", async () => {
    const p = new Popen(js(WRITER, "4"), { stdout: PIPE });
    expect(await p.wait()).toBe(0);
    const [stdout] = await p.communicate();
    expect(stdout!.length).toBe(4 * MB);
  });

  it("survives a program that closes stdin early (EPIPE)", async () => {
    const input = Buffer.alloc(16 * MB, 1);
    const done = await run(js("require('fs').closeSync(0); process.stdout.write('closed')"), { input, captureOutput: true });
    expect(done.returncode).toBe(0);
    expect(done.stdout!.toString()).toBe("closed");

    const p = new Popen(js("process.exit(0)"), { stdin: PIPE });
    await p.wait();
    const writeError = await new Promise<Error | null | undefined>((resolve) => p.stdin!.write(input, resolve));
    expect(writeError === null || writeError === undefined || writeError instanceof Error).toBe(true);
    expect(p.returncode).toBe(0);
  });

  it("merges stderr into stdout with STDOUT, and discards with DEVNULL", async () => {
    const merged = await run(js("process.stdout.write('o'); process.stderr.write('e')"), { stdout: PIPE, stderr: STDOUT });
    expect(merged.stderr).toBeNull();
    expect([...merged.stdout!.toString()].sort().join("")).toBe("eo");

    const quiet = await run(js("process.stdout.write('o'); process.stderr.write('e')"), { stdout: DEVNULL, stderr: PIPE });
    expect(quiet.stdout).toBeNull();
    expect(quiet.stderr!.toString()).toBe("e");
  });

  it("exposes the streams of a Popen", async () => {
    const p = new Popen(js("process.stdin.on('data', (d) => process.stdout.write(String(d).toUpperCase()))"), { stdin: PIPE, stdout: PIPE });
    const reply = new Promise<string>((resolve) => p.stdout!.once("data", (d: Buffer) => resolve(d.toString())));
    p.stdin!.write("ping");
    expect(await reply).toBe("PING");
    p.stdin!.end();
    expect(await p.wait()).toBe(0);
    expect(typeof p.pid).toBe("number");
  });

  it("passes cwd and replaces env, as in Python", async () => {
    const root = process.platform === "win32" ? process.env.SystemRoot! : "/";
    const done = await run(js("process.stdout.write(JSON.stringify([process.cwd(), process.env.FORKLAB_X, process.env.HOME ?? null]))"), {
      cwd: root,
      env: { FORKLAB_X: "1", PATH: process.env.PATH },
      text: true,
      captureOutput: true,
    });
    expect(JSON.parse(done.stdout!)).toEqual([root, "1", null]);
  });
});
