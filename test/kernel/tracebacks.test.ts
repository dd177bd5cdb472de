/**
 * What an uncaught error shows, through jupyter_client: every frame of a cell at that cell's line
 * (top-level awaits included), and for forklab's own errors the message and the cell's frames
 * only, as IPython shows a library's exceptions.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stripAnsi } from "../../src/render/terminal";
import { jupyterAvailable } from "../support/jupyter";
import { KernelSession } from "./client/session";

/** The cell line of every `In[N]:line:column` frame in a traceback. */
function cellLines(traceback: string[]): number[] {
  return traceback.flatMap((line) => [...stripAnsi(line).matchAll(/^\s*at .*In\[\d+\]:(\d+):\d+\)?$/gm)].map((m) => Number(m[1])));
}

describe.skipIf(!jupyterAvailable("the traceback tests"))("tracebacks under jupyter_client", () => {
  let kernel: KernelSession;

  beforeAll(async () => {
    kernel = await KernelSession.start();
  });

  afterAll(async () => {
    await kernel?.stop();
  });

  it("maps `at async In[N]` frames back to the cell's line", async () => {
    const { reply } = await kernel.run(
      `async function fails() {\n  await null;\n  throw new RangeError("from an async function");\n}\nawait fails();`,
    );
    expect(reply.content.ename).toBe("RangeError");
    const traceback = reply.content.traceback as string[];
    expect(traceback.join("\n")).toMatch(/at async In\[\d+\]:5:/);
    expect(cellLines(traceback)).toEqual([3, 5]);
  });

  it("shows a library error as its message and the cell's frames, without the library's frames or fields", async () => {
    const { reply, outputs } = await kernel.run(`import { run } from "forklab";\nawait run(["false"], { check: true });`);
    expect(reply.content.ename).toBe("CalledProcessError");
    const traceback = (reply.content.traceback as string[]).map(stripAnsi);
    const text = traceback.join("\n");
    expect(traceback[0]).toBe(`CalledProcessError: ${reply.content.evalue}`);
    expect(text).not.toMatch(/[\\/]dist[\\/]src[\\/]/);
    expect(text).not.toMatch(/returncode:|cmd:/);
    expect(cellLines(traceback)).toEqual([2]);
    const error = outputs.find((m) => m.msg_type === "error");
    expect(error?.content.traceback).toEqual(reply.content.traceback);
  });

  it("points a child's frames in a target function at the line of the cell that defined it", async () => {
    const defined = await kernel.run(
      `import { spawn } from "forklab";\nfunction check(n: number): number {\n  const doubled: number = n * 2;\n  if (doubled > 4) throw new RangeError(\`too big: \${n}\`);\n  return doubled;\n}\nconst oneLine = (n: number) => { const made = new Map(); if (n > 5) throw new RangeError("first"); throw new TypeError(\`one line \${n}\`); };`,
    );
    expect(defined.reply.content, JSON.stringify(defined.reply.content)).toMatchObject({ status: "ok" });
    const cell = `In[${defined.reply.content.execution_count}]`;
    const runs = [
      ["check", 4, "new RangeError", `const pcheck = spawn(check, [3], { output: "none" });\nawait pcheck.result;`],
      ["oneLine", 7, "new TypeError", `const poneLine = spawn(oneLine, [3], { output: "none" });\nawait poneLine.result;`],
      // A pool's task, too: item 3 of the map raises.
      ["check", 4, "new RangeError", `const { Pool } = require("forklab");\nconst pool = new Pool(1);\ntry {\n  await pool.map(check, [1, 2, 3]);\n} finally {\n  await pool.terminate();\n}`],
    ] as const;
    for (const [target, line, marked, code] of runs) {
      const { reply } = await kernel.run(code);
      expect(reply.content.evalue, target).toMatch(/^(too big: 3|one line 3)$/);
      const traceback = (reply.content.traceback as string[]).map(stripAnsi);
      const frame = traceback.find((l) => /^\s+at /.test(l) && l.includes(`${cell}:`));
      expect(traceback.join("\n")).not.toContain("<target>");
      expect(frame, traceback.join("\n")).toMatch(new RegExp(`\\(${cell.replace(/[[\]]/g, "\\$&")}:${line}:\\d+\\)$`));
      // The excerpt under it: the cell's line, and the caret under where the error was made.
      const at = traceback.indexOf(frame!);
      const [text, caret] = [traceback[at + 1]!, traceback[at + 2]!];
      expect(text).toMatch(new RegExp(`^\\s+${line} \\| `));
      expect(text.slice(caret.indexOf("^"))).toMatch(new RegExp(`^${marked}`));
    }
  });

  it("shows every cause of an error in turn, outermost first, and stops where the causes go round", async () => {
    const chained = await kernel.run(
      `const inner = new TypeError("the inner one");\nconst middle = new RangeError("the middle one", { cause: inner });\nthrow new Error("the outer one", { cause: middle });`,
    );
    const lines = (chained.reply.content.traceback as string[]).map(stripAnsi).join("\n").split("\n");
    const order = ["Error: the outer one", "RangeError: the middle one", "TypeError: the inner one"].map((head) => lines.indexOf(head));
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!)), lines.join("\n")).toBe(true);
    expect(lines.filter((line) => line === "Caused by:")).toHaveLength(2);
    // Each cause made in the cell has its frame at its own line: the outer one's, then the others'.
    expect(cellLines(chained.reply.content.traceback as string[])).toEqual([3, 2, 1]);

    const revoked = await kernel.run(`const { proxy, revoke } = Proxy.revocable({}, {});\nrevoke();\nthrow new Error("with a revoked cause", { cause: proxy });`);
    expect(revoked.reply.content.ename).toBe("Error");
    expect((revoked.reply.content.traceback as string[]).map(stripAnsi)).toContain("Caused by:");

    const cycle = await kernel.run(`const a = new Error("a in a cycle");\nconst b = new Error("b in a cycle", { cause: a });\na.cause = b;\nthrow a;`);
    const cycleLines = (cycle.reply.content.traceback as string[]).map(stripAnsi).join("\n").split("\n");
    expect(cycleLines.filter((line) => line.startsWith("Caused by:"))).toEqual(["Caused by:", "Caused by: an error shown above (the causes go round in a cycle)"]);
    expect(cycleLines).toContain("Error: b in a cycle");
  });

  it("shows the causes a child's error had in the child, at the lines of the cell that defined its target", async () => {
    const defined = await kernel.run(
      `import { spawn } from "forklab";\nfunction nested(): never {\n  const inner = new TypeError("inner in the child");\n  throw new RangeError("outer in the child", { cause: inner });\n}`,
    );
    expect(defined.reply.content, JSON.stringify(defined.reply.content)).toMatchObject({ status: "ok" });
    const { reply } = await kernel.run(`const pnested = spawn(nested, [], { output: "none" });\nawait pnested.result;`);
    expect(reply.content.ename).toBe("RangeError");
    const traceback = (reply.content.traceback as string[]).map(stripAnsi);
    const text = traceback.join("\n");
    expect(text).toContain("TypeError: inner in the child");
    expect(text).not.toContain("<target>");
    // The outer error's frame, then the inner one's: both in the cell that defined nested().
    expect(cellLines(traceback), text).toEqual([4, 3]);
  });

  it("keeps the fields of an error the user's code made", async () => {
    const { reply } = await kernel.run(`throw Object.assign(new Error("with fields"), { detail: "kept" });`);
    expect((reply.content.traceback as string[]).join("\n")).toContain("detail: 'kept'");
  });
});
