import { describe, expect, it } from "vitest";
import { PIPE, Popen, run, TimeoutExpired } from "../../src/parent/subprocess";
import { js } from "./helpers";

// Writes "first", then waits for SIGUSR1 (or a line on stdin on Windows) before writing "second".
const TWO_PHASES = `
process.stdout.write("first\\n");
const go = () => { process.stdout.write("second\\n"); process.exit(0); };
process.on("SIGUSR1", go);
setInterval(() => {}, 1000);
`;

describe("timeouts (seconds, as in Python)", () => {
  it.skipIf(process.platform === "win32")("communicate: TimeoutExpired keeps the program running; a second call returns all output", async () => {
    const p = new Popen(js(TWO_PHASES), { stdout: PIPE, stderr: PIPE });
    // Retry until the first line has arrived: each expiry leaves the program running.
    let expired: TimeoutExpired | undefined;
    for (;;) {
      expired = (await p.communicate(null, { timeout: 0.05 }).catch((e: unknown) => e)) as TimeoutExpired;
      expect(expired).toBeInstanceOf(TimeoutExpired);
      expect(p.returncode).toBeNull();
      if (expired.stdout?.toString() === "first\n") break;
    }
    expect(expired.timeout).toBe(0.05);
    expect(expired.cmd).toEqual(p.args);
    expect(expired.message).toContain("still running");
    await expect(p.communicate("late input")).rejects.toThrow(/cannot send input after communication started/);

    p.sendSignal("SIGUSR1");
    const [stdout, stderr] = await p.communicate();
    expect(stdout?.toString()).toBe("first\nsecond\n");
    expect(stderr?.toString()).toBe("");
    expect(p.returncode).toBe(0);
  });

  it("wait: TimeoutExpired leaves the program running", async () => {
    const p = new Popen(js("setInterval(() => {}, 1000)"));
    await expect(p.wait({ timeout: 0.01 })).rejects.toBeInstanceOf(TimeoutExpired);
    expect(p.poll()).toBeNull();
    p.kill();
    expect(await p.wait()).toBeLessThan(0);
  });

  it("run: kills the program and reports the output so far", async () => {
    const error = (await run(js("process.stdout.write('partial'); setInterval(() => {}, 1000)"), {
      captureOutput: true,
      timeout: 0.5,
    }).catch((e: unknown) => e)) as TimeoutExpired;
    expect(error).toBeInstanceOf(TimeoutExpired);
    expect(error.timeout).toBe(0.5);
    expect(error.message).toMatch(/^Command timed out after 0.5 seconds: /);
    expect(error.message).toContain("It was killed");
  });

  it("validates the timeout", async () => {
    await expect(run(js(""), { timeout: -1 })).rejects.toThrow("run(): option timeout must be a number of seconds >= 0 (as in Python; e.g. 2.5), or null for none, got -1 (number)");
    await expect(run(js(""), { timeout: "5" as never })).rejects.toThrow('got "5" (string)');
  });
});
