/**
 * A lazy load stopped half way by V8's termination (what an interrupt does to a cell; here a vm
 * timeout, which stops a script the same way and runs no catch or finally block) is loaded again
 * whole at the next use, instead of the half-made module Node leaves in its cache.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import vm from "node:vm";
import { afterAll, describe, expect, it } from "vitest";
import { loadAfresh } from "../../dist/src/protocol/lazy-require.js";

const GO = "__forklabLazyFixtureGo";
const CALL = "__forklabLazyFixtureCall";
const dir = mkdtempSync(join(tmpdir(), "forklab-lazy-"));

/** A module that requires another, which stops in the middle of its load until GO is set. */
function fixture(name: string): string {
  writeFileSync(join(dir, `${name}-part.js`), `exports.value = undefined;\nwhile (!globalThis.${GO}) {}\nexports.value = "whole";\n`);
  writeFileSync(join(dir, `${name}.js`), `const part = require("./${name}-part");\nexports.value = () => part.value;\n`);
  return join(dir, `${name}.js`);
}

/** Run `fn` in a script that V8 terminates after 0.05 s, as a SIGINT terminates a cell. */
function terminated(fn: () => unknown): unknown {
  (globalThis as Record<string, unknown>)[CALL] = fn;
  try {
    vm.runInThisContext(`globalThis.${CALL}()`, { timeout: 50 });
  } catch (error) {
    return error;
  } finally {
    delete (globalThis as Record<string, unknown>)[CALL];
  }
  return undefined;
}

afterAll(() => {
  delete (globalThis as Record<string, unknown>)[GO];
  rmSync(dir, { recursive: true, force: true });
});

describe("loading a module lazily", () => {
  it("a plain require after a terminated load finds the half-made module (why loadAfresh exists)", () => {
    delete (globalThis as Record<string, unknown>)[GO];
    const file = fixture("plain");
    expect(String(terminated(() => require(file)))).toMatch(/timed out/);
    (globalThis as Record<string, unknown>)[GO] = true;
    expect(require(file).value).toBeUndefined();
  });

  it("loadAfresh after a terminated load loads the module again, whole", () => {
    delete (globalThis as Record<string, unknown>)[GO];
    const file = fixture("afresh");
    expect(String(terminated(() => loadAfresh(() => require(file))))).toMatch(/timed out/);
    (globalThis as Record<string, unknown>)[GO] = true;
    const loaded = loadAfresh(() => require(file) as { value: () => string });
    expect(loaded.value()).toBe("whole");
    // And once whole, the next use is the same module.
    expect(loadAfresh(() => require(file))).toBe(loaded);
  });
});
