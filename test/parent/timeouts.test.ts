import { afterEach, describe, expect, it, vi } from "vitest";
import { Popen, PIPE, run, TimeoutExpired } from "../../src";
import { MAX_TIMER_MS, normalizeTimeout, setLongTimeout, timesOut } from "../../src/parent/timeouts";
import { js } from "../subprocess/helpers";

/** Longer than one Node timer holds (2^31-1 ms is about 24.8 days): 30 days, in seconds. */
const THIRTY_DAYS = 30 * 24 * 3600;

describe("setLongTimeout", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("waits as asked beyond 2^31-1 ms, and fires once", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const fired = vi.fn();
    setLongTimeout(fired, THIRTY_DAYS);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(THIRTY_DAYS * 1000 - MAX_TIMER_MS - 10);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(10);
    expect(fired).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(THIRTY_DAYS * 1000);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it("clear() stops a chained wait", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const fired = vi.fn();
    const timer = setLongTimeout(fired, THIRTY_DAYS);
    vi.advanceTimersByTime(MAX_TIMER_MS + 1);
    timer.clear();
    vi.advanceTimersByTime(THIRTY_DAYS * 1000);
    expect(fired).not.toHaveBeenCalled();
  });

  it("timesOut() says whether the time ran out first", async () => {
    await expect(timesOut(new Promise(() => {}), 0)).resolves.toBe(true);
    await expect(timesOut(Promise.resolve(1), THIRTY_DAYS)).resolves.toBe(false);
    await expect(timesOut(Promise.reject(new Error("boom")), THIRTY_DAYS)).rejects.toThrow("boom");
  });
});

describe("normalizeTimeout", () => {
  it("takes seconds >= 0 and null/undefined for none", () => {
    expect(normalizeTimeout("f()", 2.5)).toBe(2.5);
    expect(normalizeTimeout("f()", 0)).toBe(0);
    expect(normalizeTimeout("f()", null)).toBeUndefined();
    expect(normalizeTimeout("f()", undefined)).toBeUndefined();
  });

  it("names the option, the value and its type", () => {
    expect(() => normalizeTimeout("join()", NaN)).toThrow(
      new TypeError("join(): option timeout must be a number of seconds >= 0 (as in Python; e.g. 2.5), or null for none, got NaN (number)"),
    );
    expect(() => normalizeTimeout("f()", Infinity, "killGrace")).toThrow("option killGrace must be");
    expect(() => normalizeTimeout("f()", "1")).toThrow('got "1" (string)');
  });
});

describe("a timeout longer than 2^31-1 ms waits as asked", () => {
  // The program announces itself, then the test kills it: a timeout that fired at once (Node's
  // overflow to 1 ms) would have rejected before the announcement.
  const announcing = () => js("process.stdout.write('ready\\n'); setInterval(() => {}, 1000)");

  async function readyThenKill(p: Popen): Promise<void> {
    await new Promise<void>((resolve) => p.stdout!.once("data", () => resolve()));
    p.kill();
  }

  it("Popen.wait()", async () => {
    const p = new Popen(announcing(), { stdout: PIPE });
    const waited = p.wait({ timeout: THIRTY_DAYS });
    await readyThenKill(p);
    await expect(waited).resolves.toBe(-9);
  });

  it("Popen.communicate()", async () => {
    const p = new Popen(announcing(), { stdout: PIPE });
    const communicated = p.communicate(null, { timeout: THIRTY_DAYS });
    await readyThenKill(p);
    const [stdout] = await communicated;
    expect(String(stdout)).toBe("ready\n");
  });

  it("run()", async () => {
    const done = run(js("process.stdout.write('ok')"), { timeout: THIRTY_DAYS, captureOutput: true, text: true });
    const completed = await done;
    expect(completed.stdout).toBe("ok");
    expect(completed.returncode).toBe(0);
  });

  it("a TimeoutExpired still comes when the time is short", async () => {
    const p = new Popen(announcing(), { stdout: PIPE });
    await expect(p.wait({ timeout: 0.01 })).rejects.toBeInstanceOf(TimeoutExpired);
    p.kill();
    await p.wait();
  });
});
