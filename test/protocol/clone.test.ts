import { afterAll, describe, expect, it } from "vitest";
import * as lib from "../../dist/src/index.js";
import { CLASS_CHECK_BUDGET, encodeRecord, findClassInstance, findUncloneable, uncloneableMessage } from "../../dist/src/protocol/index.js";
const { spawn, activeChildren } = lib;

const quiet = { output: "none" as const };

class Point {
  constructor(readonly x: number, readonly y: number) {}
  norm(): number {
    return Math.hypot(this.x, this.y);
  }
}

afterAll(() => {
  for (const p of activeChildren()) p.kill();
});

describe("class instances", () => {
  it("refuses one in the arguments before any process starts, naming path, class, methods and the fix", () => {
    const before = activeChildren().length;
    expect(() => spawn((p: Point) => p.norm(), [new Point(3, 4)], quiet)).toThrow(
      /^args\[0\] is an instance of class Point: it would reach the other process as a plain object, without its class and its methods \(norm\)\. Pass plain data instead \(e\.g\. \{ x, y \}\) and rebuild the Point in the target \(new Point\(\.\.\.\)\)/,
    );
    expect(() => spawn((o: unknown) => o, [{ shapes: [1, new Point(1, 1)] }], quiet)).toThrow(/^args\[0\]\.shapes\[1\] is an instance of class Point/);
    expect(() => spawn((m: unknown) => m, [new Map([["origin", new Point(0, 0)]])], quiet)).toThrow(/^args\[0\]\.get\("origin"\) is an instance of class Point/);
    expect(activeChildren().length).toBe(before);
  });

  it("refuses one as a result, as the task's error", async () => {
    const p = spawn(() => {
      class Vector {
        constructor(readonly x: number) {}
        length() {
          return Math.abs(this.x);
        }
      }
      return { v: new Vector(2) };
    }, [], quiet);
    await expect(p.result).rejects.toThrow(/^result\.v is an instance of class Vector: .*methods \(length\)/);
  });

  it("lets through what clones as itself, and classes without methods", async () => {
    class Fields {
      a = 1;
    }
    const p = spawn(
      (...values: unknown[]) => values.map((v) => Object.prototype.toString.call(v)),
      [new Map(), new Set(), new Date(0), new RangeError("r"), new Uint8Array(2), Buffer.from("b"), /x/, new Fields(), Object.create(null), [[{ deep: 1 }]]],
      quiet,
    );
    expect(await p.result).toEqual([
      "[object Map]", "[object Set]", "[object Date]", "[object Error]", "[object Uint8Array]", "[object Uint8Array]",
      "[object RegExp]", "[object Object]", "[object Object]", "[object Array]",
    ]);
  });

  it("looks at a bounded number of values nearest the root, so plain data costs a constant", () => {
    const many = Array.from({ length: 100_000 }, (_, i) => ({ i }));
    expect(findClassInstance([many], "args")).toBeUndefined();
    // Past the budget an instance is not looked for: the price of a check on every message.
    const late = [...many.slice(0, CLASS_CHECK_BUDGET * 2), new Point(1, 1)];
    expect(findClassInstance(late, "args")).toBeUndefined();
    expect(findClassInstance([many.slice(0, 3), new Point(1, 1)], "args")?.path).toBe("args[1]");
  });

  it("never runs a getter (the serialize already ran it once)", () => {
    let reads = 0;
    const args = [{ get value() { return ++reads; } }];
    encodeRecord({ t: "run", id: 1, target: 1, args });
    expect(reads).toBe(1);
  });
});

describe("values that cannot cross, described", () => {
  it("names a Proxy and a generator object, with what to pass instead", () => {
    const proxy = findUncloneable({ config: new Proxy({ a: 1 }, {}) }, "args")!;
    expect(proxy).toMatchObject({ path: "args.config", what: "a Proxy" });
    expect(uncloneableMessage(proxy, "to Process-1")).toMatch(/^args\.config is a Proxy: it cannot be sent to Process-1; .*pass the plain object it wraps/);
    const gen = findUncloneable([(function* numbers() {})()], "args")!;
    expect(gen).toMatchObject({ path: "args[0]", what: "a generator object" });
    expect(uncloneableMessage(gen, "to Process-1")).toMatch(/pass its values instead \(\[\.\.\.gen\]\)/);
    expect(() => spawn((x: unknown) => x, [new Proxy([1, 2], {})], quiet)).toThrow(/^args\[0\] is a Proxy/);
  });

  it("a queue or pipe end crosses as a handle: what is named is the value beside it that cannot cross, at any depth, or nothing", () => {
    const [, end] = lib.Pipe();
    const q = new lib.Queue();
    const path = (value: unknown) => findUncloneable(value, "args")?.path;
    expect(path([end, () => 1])).toBe("args[1]");
    expect(path([{ end, f: Symbol("s") }])).toBe("args[0].f");
    expect(path([new Map([[q, { x: () => 2 }]])])).toBe("args[0].get(<key 0>).x");
    // Only handles: nothing in it cannot be cloned (the encoding failed for another reason).
    expect(path([end])).toBeUndefined();
    expect(path([{ deep: [{ e: end }] }, 1])).toBeUndefined();
  });
});

