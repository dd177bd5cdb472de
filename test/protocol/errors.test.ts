import { afterAll, describe, expect, it } from "vitest";
import * as lib from "../../dist/src/index.js";
import { fromErrorRecord, registerErrorClass, setTargetSource, toErrorRecord } from "../../dist/src/protocol/index.js";
const { spawn, activeChildren, CalledProcessError, TimeoutExpired, SubprocessError, ProcessError } = lib;

const quiet = { output: "none" as const };

afterAll(() => {
  for (const p of activeChildren()) p.kill();
});

describe("forklab's error classes cross as themselves", () => {
  it("rebuilds a registered class with its prototype, message and fields, without running its constructor", () => {
    const original = new CalledProcessError({ returncode: -9, cmd: ["sleep", "9"], display: "sleep 9", stdout: "out", stderr: "err", shownStderr: null, shell: false } as never);
    const rebuilt = fromErrorRecord(toErrorRecord(original, 7)) as InstanceType<typeof CalledProcessError>;
    expect(rebuilt).toBeInstanceOf(CalledProcessError);
    expect(rebuilt).toBeInstanceOf(SubprocessError);
    expect(rebuilt.name).toBe("CalledProcessError");
    expect(rebuilt.message).toBe(original.message);
    expect(rebuilt.returncode).toBe(-9);
    expect(rebuilt.cmd).toEqual(["sleep", "9"]);
    // Getters on the prototype work on the rebuilt instance.
    expect(rebuilt.output).toBe("out");
    expect(rebuilt.signal).toBe("SIGKILL");
    expect((rebuilt.cause as { pid: number }).pid).toBe(7);
  });

  it("keeps a user's class by name, message and own properties, as a plain Error", () => {
    class ValidationError extends Error {
      override name = "ValidationError";
      code = "E_RANGE";
    }
    const rebuilt = fromErrorRecord(toErrorRecord(new ValidationError("too big"), 1)) as Error & { code: string };
    expect(rebuilt).toBeInstanceOf(Error);
    expect(rebuilt.name).toBe("ValidationError");
    expect(rebuilt.message).toBe("too big");
    expect(rebuilt.code).toBe("E_RANGE");
  });

  it("uses a class's own rebuilder when it registers one, and falls back when it fails", () => {
    class Custom extends Error {
      override name = "Custom";
      constructor(readonly detail: string) {
        super(`custom: ${detail}`);
      }
    }
    registerErrorClass(Custom, (fields) => new Custom(String(fields.props.detail)));
    const rebuilt = fromErrorRecord(toErrorRecord(new Custom("d"), 1));
    expect(rebuilt).toBeInstanceOf(Custom);
    expect((rebuilt as Custom).message).toBe("custom: d");
    class Broken extends Error {}
    registerErrorClass(Broken, () => {
      throw new Error("cannot");
    });
    const fallback = fromErrorRecord(toErrorRecord(new Broken("kept"), 1)) as Error;
    expect(fallback.message).toBe("kept");
  });

  it("brings back a CalledProcessError and a TimeoutExpired thrown in a child", async () => {
    const called = spawn(async () => {
      const { run } = require("forklab");
      await run(["false"], { check: true });
    }, [], quiet);
    const error = await called.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CalledProcessError);
    expect((error as InstanceType<typeof CalledProcessError>).returncode).toBe(1);
    expect((error as Error).message).toMatch(/Command .*false/);

    const timed = spawn(async () => {
      const { run } = require("forklab");
      await run(["sleep", "30"], { timeout: 0.05 });
    }, [], quiet);
    const timeout = await timed.result.catch((e: unknown) => e);
    expect(timeout).toBeInstanceOf(TimeoutExpired);
    expect((timeout as InstanceType<typeof TimeoutExpired>).timeout).toBe(0.05);
  });

  it("brings back a ProcessError from a child whose own child failed", async () => {
    const p = spawn(async () => {
      const { spawn: spawnInner } = require("forklab");
      await spawnInner(() => process.exit(3), [], { output: "none" }).result;
    }, [], quiet);
    const error = await p.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessError);
    expect((error as InstanceType<typeof ProcessError>).exitCode).toBe(3);
  });
});

describe("thrown values that resist being described", () => {
  it("gives the target's text to the stacks of one child, not to those of a grandchild under them", () => {
    // As a child sends an error it rethrew from its own child (pid 9): rebuilt there, sent on by pid 8.
    const inGrandchild = new RangeError("in the grandchild", { cause: new TypeError("its cause") });
    const inChild = fromErrorRecord(toErrorRecord(inGrandchild, 9)) as Error;
    const inParent = fromErrorRecord(toErrorRecord(inChild, 8)) as Error;
    setTargetSource(inParent, "(n) => n");
    const chain: Error[] = [];
    for (let at = inParent.cause; at instanceof Error; at = at.cause) chain.push(at);
    const sources = chain.map((e) => [e.name, (e as { targetSource?: string }).targetSource]);
    // The child's own stack gets it; the grandchild's traceback (rebuilt in the child) and all
    // under it do not, though they crossed under the child's pid.
    expect(sources.slice(0, 3)).toEqual([["RemoteTraceback", "(n) => n"], ["RemoteTraceback", undefined], ["RemoteTraceback", undefined]]);
    expect(sources.slice(3).every(([, source]) => source === undefined)).toBe(true);
    expect(chain.some((e) => e.message === "its cause")).toBe(true);
  });

  it("records an Error whose name getter throws, and a value whose toString throws", () => {
    const error = new Error("boom");
    Object.defineProperty(error, "name", {
      get() {
        throw new Error("no name");
      },
    });
    expect(toErrorRecord(error, 1)).toMatchObject({ name: "Error", message: "boom", isError: true });
    const hostile = {
      toString() {
        throw new Error("no string");
      },
      fn() {},
    };
    expect(toErrorRecord(hostile, 1).message).toBe("[object Object] (its toString() threw)");
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    expect(() => toErrorRecord(revoked.proxy, 1)).not.toThrow();
  });

  it("reports them from a child as the target's error, and the child ends normally", async () => {
    const p = spawn(() => {
      const error = new Error("boom");
      // The stack first: redefining it formats V8's lazy stack, which reads the name.
      Object.defineProperty(error, "stack", {
        get() {
          throw new Error("no stack");
        },
      });
      Object.defineProperty(error, "name", {
        get() {
          throw new Error("no name");
        },
      });
      throw error;
    }, [], quiet);
    await expect(p.result).rejects.toThrow("boom");
    await p.join();
    expect(p.exitCode).toBe(1);

    const q = spawn(() => {
      throw {
        toString() {
          throw new Error("no string");
        },
        f() {},
      };
    }, [], quiet);
    await expect(q.result).rejects.toBe("[object Object] (its toString() threw)");
    await q.join();
    expect(q.exitCode).toBe(1);
  });
});
