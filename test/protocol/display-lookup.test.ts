import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const LIB = path.resolve(__dirname, "../../dist/src/index.js");

// A plain Node script (no kernel, no tslab) that counts how often the module cache is listed.
const SCRIPT = `
const Module = require("node:module");
let listed = 0;
Module._cache = new Proxy(Module._cache, { ownKeys(target) { listed++; return Reflect.ownKeys(target); } });
const { display, isInKernel } = require(${JSON.stringify(LIB)});
const before = listed;
for (let i = 0; i < 200; i++) display({ "text/plain": "line " + i });
const inKernel = isInKernel();
console.log(JSON.stringify({ listed: listed - before, inKernel }));
`;

describe("display() outside a kernel", () => {
  it("looks for tslab's display hook once, not on every call", () => {
    const result = spawnSync(process.execPath, ["-e", SCRIPT], { encoding: "utf8" });
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines.slice(0, 200)).toEqual(Array.from({ length: 200 }, (_, i) => `line ${i}`));
    expect(JSON.parse(lines.at(-1)!)).toEqual({ listed: 1, inKernel: false });
  });
});
