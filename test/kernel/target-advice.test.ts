/**
 * What a target's error says of the notebook names it uses, with the kernel's own cell executor
 * (tslab in this process) and the one thing of the kernel bridge that the message reads: the
 * cells' declarations, which say which names are imports and from where.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CellExecutor } from "../../dist/kernel/server/cell-executor.js";
import { KERNEL_BRIDGE } from "../../dist/src/protocol/kernel-bridge.js";

const slot = globalThis as { [KERNEL_BRIDGE]?: unknown };

describe("a target's names in a notebook", () => {
  let executor: CellExecutor;
  let cell = 0;
  const run = async (source: string): Promise<unknown> => {
    const outcome = await executor.execute(source, `In[${++cell}]`, new AbortController().signal);
    if (outcome.status !== "ok") throw new Error(JSON.stringify(outcome.error));
    return outcome.hasValue ? outcome.value : undefined;
  };
  const lines = (message: unknown) => String(message).split("\n").filter((l) => l.startsWith("  - "));

  beforeAll(() => {
    // A bridge of the kernel's, only as far as the target check reads it.
    expect(slot[KERNEL_BRIDGE]).toBeUndefined();
    executor = new CellExecutor();
    slot[KERNEL_BRIDGE] = { declarations: () => executor.declarations };
  });

  afterAll(() => {
    delete slot[KERNEL_BRIDGE];
    executor?.close();
  });

  it("tells a function, a class, data and each kind of import apart, across cells", async () => {
    await run('import { spawn } from "forklab";\nimport * as fs from "node:fs";\nimport { join, basename as bn } from "node:path";\nimport os from "node:os";');
    await run('function helper(x: number) { return x + 1; }\nclass Point { x = 1; }\nconst greeting = "hello";\nconst util = require("node:util");');
    const message = await run(
      'let message = "";\n' +
        'try { spawn(() => helper(1) + new Point().x + greeting + fs.existsSync("/") + join("a") + bn("/a") + os.cpus().length + util.format("x")); }\n' +
        "catch (e) { message = (e as Error).message; }\nmessage",
    );
    expect(lines(message)).toEqual([
      '  - helper: a function from another notebook cell; a function cannot be passed as an argument, so define it inside the target function, or in a module file that the target requires (const { helper } = require("./helpers"))',
      '  - Point: a class from another notebook cell; a class cannot be passed as an argument, so define it inside the target function, or in a module file that the target requires (const { Point } = require("./helpers"))',
      "  - greeting: a variable from another notebook cell; pass it as an argument (add a parameter and call spawn(fn, [greeting])), or compute it inside the function",
      '  - fs: the module "node:fs" from another notebook cell; require it inside the function: const fs = require("node:fs")',
      '  - join: imported by another notebook cell from "node:path"; require it inside the function: const { join } = require("node:path")',
      '  - bn: imported by another notebook cell from "node:path"; require it inside the function: const { basename: bn } = require("node:path")',
      '  - os: the module "node:os" from another notebook cell; require it inside the function: const os = require("node:os")',
      // `const util = require(...)` in a cell: a module by its value.
      '  - util: the module "node:util" from another notebook cell; require it inside the function: const util = require("node:util")',
    ]);
  });

  it("says the same of the target's own cell, where its imports stay bare names", async () => {
    const message = await run(
      'import * as path from "node:path";\nimport { dirname } from "node:path";\nconst local = [1];\nlet same = "";\n' +
        'try { spawn(() => path.sep + dirname("/a") + local.length); } catch (e) { same = (e as Error).message; }\nsame',
    );
    expect(lines(message)).toEqual([
      '  - path: the module "node:path"; require it inside the function: const path = require("node:path")',
      '  - dirname: imported by the notebook cell (compiled as node_path_1.dirname); require it inside the function: const { dirname } = require("node:path")',
      "  - local: defined outside the function; pass it as an argument (add a parameter and call spawn(fn, [local])), or compute it inside the function",
    ]);
  });
});
