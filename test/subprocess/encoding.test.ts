import { describe, expect, it } from "vitest";
import { checkOutput, PIPE, Popen, run } from "../../src/parent/subprocess";
import { js } from "./helpers";

// "你好，世界" in GBK.
const GBK_BYTES = [0xc4, 0xe3, 0xba, 0xc3, 0xa3, 0xac, 0xca, 0xc0, 0xbd, 0xe7];
const PRINT_GBK = `process.stdout.write(Buffer.from(${JSON.stringify(GBK_BYTES)}))`;

describe("bytes and text", () => {
  it("returns bytes by default", async () => {
    const done = await run(js(PRINT_GBK), { captureOutput: true });
    expect(Buffer.isBuffer(done.stdout)).toBe(true);
    expect([...done.stdout!]).toEqual(GBK_BYTES);
  });

  it("decodes gbk with encoding", async () => {
    const done = await run(js(PRINT_GBK), { captureOutput: true, encoding: "gbk" });
    expect(done.stdout).toBe("你好，世界");
    expect(await checkOutput(js(PRINT_GBK), { encoding: "gbk" })).toBe("你好，世界");
    const p = new Popen(js(PRINT_GBK), { stdout: PIPE, encoding: "gbk" });
    expect(await p.communicate()).toEqual(["你好，世界", null]);
  });

  it("decodes utf-8 with text: true and translates newlines as Python does", async () => {
    const done = await run(js("process.stdout.write('a\\r\\nb\\rc\\n')"), { captureOutput: true, text: true });
    expect(done.stdout).toBe("a\nb\nc\n");
  });

  it("replaces undecodable bytes by default; errors: 'strict' throws", async () => {
    const bad = js("process.stdout.write(Buffer.from([0x61, 0xff, 0x62]))");
    expect((await run(bad, { captureOutput: true, text: true })).stdout).toBe("a\uFFFDb");
    await expect(run(bad, { captureOutput: true, text: true, errors: "strict" })).rejects.toThrow(/not valid utf-8/);
  });

  it("encodes string input", async () => {
    const done = await run(js("process.stdin.pipe(process.stdout)"), { input: "héllo", captureOutput: true });
    expect(done.stdout!.toString("utf8")).toBe("héllo");
    await expect(run(js(""), { input: "你好", encoding: "gbk" })).rejects.toThrow(/pass input as bytes/);
  });

  it("rejects an encoding TextDecoder does not know", async () => {
    await expect(run(js(""), { encoding: "klingon" })).rejects.toThrow(
      'run(): option encoding must be an encoding label TextDecoder knows ("utf-8", "gbk", "shift_jis", "latin1", ...), got "klingon" (string)',
    );
  });
});
