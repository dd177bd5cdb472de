import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, outputPath, parseRunArgs, type Io } from "../../kernel/cli";
import { CellExecutionError, CellTimeoutError, KernelDiedError, cellMessage } from "../../kernel/runner/errors";
import { stripAnsi } from "../../src/render/terminal";
import { runNotebook } from "../../kernel/runner/execute";
import {
  InvalidNotebookError,
  normalizeNotebook,
  parseNotebook,
  readNotebook,
  serializeNotebook,
  splitLines,
  type CodeCell,
  type Notebook,
} from "../../kernel/runner/notebook";
import { jupyterAvailable, python } from "../support/jupyter";
import { isGone, waitFor } from "../support/processes";
import { packageRoot } from "../../kernel/kernelspec";

function captureIo(): Io & { stdout: string; stderr: string } {
  const io = { stdout: "", stderr: "", errIsTTY: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

type CellInput = string | { source: string; tags?: string[]; type?: "markdown" };

/** A notebook file without ids (nbformat 4.4), so that the runner has to add them. */
function writeNb(dir: string, name: string, cells: CellInput[]): string {
  const file = join(dir, name);
  const nb = {
    nbformat: 4,
    nbformat_minor: 4,
    metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
    cells: cells.map((c) => {
      const cell = typeof c === "string" ? { source: c } : c;
      if (cell.type === "markdown") return { cell_type: "markdown", metadata: {}, source: cell.source };
      return { cell_type: "code", metadata: cell.tags ? { tags: cell.tags } : {}, source: splitLines(cell.source), outputs: [], execution_count: null };
    }),
  };
  writeFileSync(file, JSON.stringify(nb));
  return file;
}

const code = (nb: Notebook, i: number) => nb.cells[i] as CodeCell;

describe("notebook files", () => {
  it("reads list or string sources and writes them back as nbformat does", () => {
    const nb = normalizeNotebook(
      parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 2, metadata: {}, cells: [{ cell_type: "code", source: ["a\n", "b"], metadata: {}, outputs: [{ output_type: "stream", name: "stdout", text: ["x\n", "y\n"] }], execution_count: 3 }] })),
    );
    expect(nb.cells[0].source).toBe("a\nb");
    expect(code(nb, 0).outputs[0]).toEqual({ output_type: "stream", name: "stdout", text: "x\ny\n" });
    expect(nb.nbformat_minor).toBe(5);
    expect(nb.cells[0].id).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    const text = serializeNotebook(nb);
    expect(text.endsWith("}\n")).toBe(true);
    const json = JSON.parse(text);
    expect(json.cells[0].source).toEqual(["a\n", "b"]);
    expect(Object.keys(json)).toEqual(["cells", "metadata", "nbformat", "nbformat_minor"]);
  });

  it("keeps valid ids and replaces duplicates", () => {
    const cell = (id: string) => ({ cell_type: "markdown", id, source: "", metadata: {} });
    const nb = normalizeNotebook(parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [cell("one"), cell("one"), cell("bad id!")] })));
    expect(nb.cells[0].id).toBe("one");
    expect(nb.cells[1].id).not.toBe("one");
    expect(nb.cells[2].id).not.toBe("bad id!");
  });

  it("splits lines keeping their newlines", () => {
    expect(splitLines("a\nb\n")).toEqual(["a\n", "b\n"]);
    expect(splitLines("a\n\nb")).toEqual(["a\n", "\n", "b"]);
    expect(splitLines("")).toEqual([]);
  });

  it.each([
    ["not JSON", "{oops", /not JSON/],
    ["not an object", "[1]", /expected a JSON object, found an array/],
    ["nbformat 3", '{"nbformat": 3, "cells": []}', /nbformat 3 is not supported/],
    ["no nbformat", '{"cells": []}', /no "nbformat" field/],
    ["no cells", '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', /no "cells" list/],
    ["cells not a list", '{"nbformat": 4, "cells": {}}', /"cells" is not a list/],
    ["bad cell type", '{"nbformat": 4, "cells": [{"cell_type": "python", "source": ""}]}', /cell 1 has cell_type "python"/],
    ["no source", '{"nbformat": 4, "cells": [{"cell_type": "code"}]}', /cell 1 has no "source"/],
  ])("rejects a file with %s, naming the file", (_what, text, problem) => {
    expect(() => parseNotebook(text, "lesson.ipynb")).toThrow(InvalidNotebookError);
    expect(() => parseNotebook(text, "lesson.ipynb")).toThrow(/^lesson\.ipynb is not a valid notebook: /);
    expect(() => parseNotebook(text, "lesson.ipynb")).toThrow(problem);
  });

  it("reports a missing file", () => {
    expect(() => readNotebook("/nonexistent/x.ipynb")).toThrow(/x\.ipynb is not a valid notebook: no such file/);
  });

  it.each([
    ["a parser error with a position", '{\n  "nbformat": 4,\n  "cells": [}\n}', /not JSON \(Unexpected token '}'; line 3, column 13\)/],
    ["a parser error with a position in its message", '{\n  oops', /not JSON \(Expected property name .* at position 4; line 2, column 3\)/],
    ["a file cut short", '{"nbformat": 4, "cells": [', /not JSON \(Unexpected end of JSON input; the file ends too early, at line 1, column 27\)/],
  ])("says where a file that is not JSON breaks: %s", (_what, text, problem) => {
    expect(() => parseNotebook(text, "lesson.ipynb")).toThrow(problem);
    expect(() => parseNotebook(text, "lesson.ipynb")).toThrow(/\nA notebook is a JSON file: fix the JSON there/);
  });

  it("says what to do about an nbformat 3 file and a cell without source", () => {
    expect(() => parseNotebook('{"nbformat": 3, "cells": []}', "old.ipynb")).toThrow(/\nConvert it first: jupyter nbconvert --to notebook --nbformat 4 old\.ipynb$/);
    expect(() => parseNotebook('{"nbformat": 4, "cells": [{"cell_type": "code"}]}', "x.ipynb")).toThrow(/\nOpen it in JupyterLab and save it again/);
  });
});

describe("messages and options", () => {
  it("strips ANSI colours from tracebacks", () => {
    expect(stripAnsi("\u001b[0;31mZeroDivisionError\u001b[0m: division")).toBe("ZeroDivisionError: division");
  });

  it("quotes the cell in error messages", () => {
    const source = Array.from({ length: 20 }, (_, i) => `line${i}`).join("\n");
    const message = cellMessage({ file: "a.ipynb", index: 2, source }, "raised an error", "Boom");
    expect(message).toMatch(/^a\.ipynb: cell 3 \(index 2\) raised an error:/);
    expect(message).toContain("line0\n");
    expect(message).toContain("... (8 more lines)");
    expect(message.endsWith("Boom")).toBe(true);
  });

  it("parses run flags and picks nbconvert-like output names", () => {
    expect(parseRunArgs(["a.ipynb", "--timeout=5", "--allow-errors", "--kernel", "python3"])).toEqual({
      notebooks: ["a.ipynb"], out: undefined, inplace: false, timeout: 5, allowErrors: true, kernel: "python3",
    });
    expect(outputPath("dir/a.ipynb", {})).toBe(join("dir", "a.nbconvert.ipynb"));
    expect(outputPath("dir/a.ipynb", { out: "o" })).toBe(join("o", "a.ipynb"));
    expect(outputPath("dir/a.ipynb", { inplace: true })).toBe("dir/a.ipynb");
  });

  it("rejects bad run flags with exit code 2", async () => {
    for (const [args, message] of [
      [["run"], /needs at least one NOTEBOOK/],
      [["run", "--timeout", "soon", "a.ipynb"], /--timeout expects seconds.*got "soon"/],
      [["run", "--timeout=-1", "a.ipynb"], /--timeout expects seconds/],
      [["run", "--out", "o", "--inplace", "a.ipynb"], /choose one of --out and --inplace/],
      [["run", "--verbose", "a.ipynb"], /unknown option "--verbose" for "forklab run"; valid options: --out, --inplace, --timeout, --allow-errors, --kernel/],
      [["run", "--out", "o", "x/a.ipynb", "y/a.ipynb"], /two notebooks would be written to/],
    ] as const) {
      const io = captureIo();
      expect(await cli([...args], io)).toBe(2);
      expect(io.stderr).toMatch(message);
    }
  });

  it.each([
    ["not JSON", "{oops", /broken\.ipynb is not a valid notebook: not JSON \(.*line 1, column 2\)/],
    ["JSON but not nbformat 4", '{"nbformat": 3, "cells": []}', /broken\.ipynb is not a valid notebook: nbformat 3 is not supported/],
    ["a cell without source", '{"nbformat": 4, "cells": [{"cell_type": "code"}]}', /broken\.ipynb is not a valid notebook: cell 1 has no "source"/],
  ])("exits 2 on a notebook that is %s, naming it, and runs none of the notebooks", async (_what, text, problem) => {
    const dir = mkdtempSync(join(tmpdir(), "forklab-broken-"));
    try {
      // The good notebook comes first: it would run, and be written, if the files were read one by one.
      const good = writeNb(dir, "fine.ipynb", ["print(1)"]);
      writeFileSync(join(dir, "broken.ipynb"), text);
      const io = captureIo();
      expect(await cli(["run", good, join(dir, "broken.ipynb")], io)).toBe(2);
      expect(io.stderr).toMatch(problem);
      expect(io.stderr).toContain("nothing was run");
      expect(existsSync(join(dir, "fine.nbconvert.ipynb"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names an unknown kernelspec and the installed ones, exit code 1", async () => {
    const io = captureIo();
    expect(await cli(["run", "--kernel", "no-such-kernel", "a.ipynb"], io)).toBe(1);
    expect(io.stderr).toMatch(/no kernelspec named "no-such-kernel"/);
  });
});

describe.skipIf(!jupyterAvailable("runner tests with the python3 ipykernel"))("running notebooks through ipykernel", () => {
  let dir: string;
  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "forklab-runner-test-")));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("records streams, results, displays and their updates, as nbclient does", async () => {
    const file = writeNb(dir, "outputs.ipynb", [
      { type: "markdown", source: "# Outputs" },
      "import sys\nsys.stdout.write('a\\n'); sys.stdout.flush()\nsys.stdout.write('b\\n'); sys.stdout.flush()\nsys.stderr.write('e\\n'); sys.stderr.flush()\nprint('c')",
      "6 * 7",
      "from IPython.display import display, clear_output\nh = display({'text/plain': 'first'}, raw=True, display_id='card')",
      "h.update({'text/plain': 'second'}, raw=True)\nprint('updated')",
      "print('gone'); clear_output()\nprint('kept')",
      "print('waiting'); clear_output(wait=True)\nprint('replaced')",
      "import os\nos.getcwd()",
      "",
    ]);
    const events: string[] = [];
    const { notebook: nb, errors } = await runNotebook(file, { kernel: "python3", onProgress: (e) => events.push(e.type) });
    expect(errors).toEqual([]);
    expect(events[0]).toBe("start");
    expect(events.filter((e) => e === "cell")).toHaveLength(7);
    expect(events.at(-1)).toBe("done");

    expect(code(nb, 1).outputs).toEqual([
      { output_type: "stream", name: "stdout", text: "a\nb\n" },
      { output_type: "stream", name: "stderr", text: "e\n" },
      { output_type: "stream", name: "stdout", text: "c\n" },
    ]);
    expect(code(nb, 2).outputs).toEqual([{ output_type: "execute_result", execution_count: 2, data: { "text/plain": "42" }, metadata: {} }]);
    expect(code(nb, 2).execution_count).toBe(2);
    // The update from cell 4 reached the display in cell 3; cell 4 itself only printed.
    expect(code(nb, 3).outputs).toEqual([{ output_type: "display_data", data: { "text/plain": "second" }, metadata: {} }]);
    expect(code(nb, 4).outputs).toEqual([{ output_type: "stream", name: "stdout", text: "updated\n" }]);
    expect(code(nb, 5).outputs).toEqual([{ output_type: "stream", name: "stdout", text: "kept\n" }]);
    expect(code(nb, 6).outputs).toEqual([{ output_type: "stream", name: "stdout", text: "replaced\n" }]);
    // The kernel runs in the notebook's folder.
    expect(code(nb, 7).outputs[0]).toMatchObject({ data: { "text/plain": `'${dir}'` } });
    // Empty cells are not sent to the kernel.
    expect(code(nb, 8).execution_count).toBeNull();
    expect(nb.nbformat_minor).toBe(5);
    expect(new Set(nb.cells.map((c) => c.id)).size).toBe(nb.cells.length);
  });

  it("writes NAME.nbconvert.ipynb that nbformat validates", async () => {
    const file = writeNb(dir, "valid.ipynb", ["print('hi')", "{'x': [1, 2]}"]);
    const io = captureIo();
    expect(await cli(["run", "--kernel", "python3", file], io)).toBe(0);
    const out = join(dir, "valid.nbconvert.ipynb");
    expect(io.stderr).toContain(`wrote ${out}`);
    expect(io.stderr).toMatch(/valid\.ipynb: cell 1\/2/);
    expect(python(`import nbformat; nb = nbformat.read(${JSON.stringify(out)}, as_version=4); nbformat.validate(nb); print(nb.nbformat_minor, len(nb.cells))`).trim()).toBe("5 2");
  });

  it("writes into --out DIR and over the notebook with --inplace", async () => {
    const file = writeNb(dir, "places.ipynb", ["1 + 1"]);
    expect(await cli(["run", "--kernel", "python3", "--out", join(dir, "out"), file], captureIo())).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, "out", "places.ipynb"), "utf8")).cells[0].outputs[0].data["text/plain"]).toEqual(["2"]);
    expect(await cli(["run", "--kernel", "python3", "--inplace", file], captureIo())).toBe(0);
    expect(JSON.parse(readFileSync(file, "utf8")).cells[0].execution_count).toBe(1);
  });

  it("records errors and goes on with --allow-errors", async () => {
    const file = writeNb(dir, "allowed.ipynb", ["1 / 0", "print('after')"]);
    const { notebook: nb, errors } = await runNotebook(file, { kernel: "python3", allowErrors: true });
    expect(code(nb, 0).outputs).toHaveLength(1);
    expect(code(nb, 0).outputs[0]).toMatchObject({ output_type: "error", ename: "ZeroDivisionError", evalue: "division by zero" });
    expect(code(nb, 1).outputs).toEqual([{ output_type: "stream", name: "stdout", text: "after\n" }]);
    expect(errors).toHaveLength(1);
    expect(errors[0].ename).toBe("ZeroDivisionError");
  });

  it("lets a cell tagged raises-exception fail without --allow-errors", async () => {
    const file = writeNb(dir, "tagged.ipynb", [{ source: "raise ValueError('shown on purpose')", tags: ["raises-exception"] }, "print('after')"]);
    const { notebook: nb } = await runNotebook(file, { kernel: "python3" });
    expect(code(nb, 1).outputs).toEqual([{ output_type: "stream", name: "stdout", text: "after\n" }]);
  });

  it("stops at an error, exits 1 naming notebook, cell, source and traceback, and keeps the partial output", async () => {
    const file = writeNb(dir, "fails.ipynb", ["x = 1", "def divide(a, b):\n    return a / b\n\ndivide(x, 0)", "print('never')"]);
    await expect(runNotebook(file, { kernel: "python3" })).rejects.toThrow(CellExecutionError);

    const io = captureIo();
    expect(await cli(["run", "--kernel", "python3", file], io)).toBe(1);
    expect(io.stderr).toContain(`${file}: cell 2 (index 1) raised an error:`);
    expect(io.stderr).toContain("def divide(a, b):\n    return a / b");
    expect(io.stderr).toContain("ZeroDivisionError: division by zero");
    expect(io.stderr).toMatch(/return a \/ b/);
    expect(io.stderr).not.toContain("\u001b[");
    expect(io.stderr).toMatch(/1 of 1 notebook failed/);
    const partial = JSON.parse(readFileSync(join(dir, "fails.nbconvert.ipynb"), "utf8"));
    expect(partial.cells[1].outputs[0].ename).toBe("ZeroDivisionError");
    expect(partial.cells[2].execution_count).toBeNull();
  });

  it("reports an invalid notebook file by name and runs none of them, exit code 2", async () => {
    const bad = join(dir, "broken.ipynb");
    writeFileSync(bad, '{"nbformat": 4, "metadata": {}}');
    const good = writeNb(dir, "fine.ipynb", ["print(1)"]);
    const io = captureIo();
    expect(await cli(["run", "--kernel", "python3", good, bad], io)).toBe(2);
    expect(io.stderr).toContain(`${bad} is not a valid notebook: no "cells" list`);
    expect(existsSync(join(dir, "fine.nbconvert.ipynb"))).toBe(false);
  });

  it("reports a kernel that dies, and leaves none of its processes behind", async () => {
    const file = writeNb(dir, "dies.ipynb", [
      "import subprocess\nchild = subprocess.Popen(['sleep', '600'])\nprint(child.pid)",
      "import os\nos._exit(1)",
      "print('never')",
    ]);
    const error = await runNotebook(file, { kernel: "python3" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KernelDiedError);
    const died = error as KernelDiedError;
    expect(died.message).toMatch(/dies\.ipynb: cell 2 \(index 1\) was running when the kernel died \(it exited with code 1\)/);
    expect(died.message).toContain("os._exit(1)");
    const pid = Number((code(died.notebook!, 0).outputs[0] as { text: string }).text.trim());
    expect(pid).toBeGreaterThan(0);
    await waitFor(`the dead kernel's child ${pid} to be gone`, () => isGone(pid), 10_000);
  });

  it("kills the kernel's process group at the end of a successful run", async () => {
    const file = writeNb(dir, "orphans.ipynb", ["import subprocess\nchild = subprocess.Popen(['sleep', '600'])\nprint(child.pid)"]);
    const { notebook: nb } = await runNotebook(file, { kernel: "python3" });
    const pid = Number((code(nb, 0).outputs[0] as { text: string }).text.trim());
    expect(pid).toBeGreaterThan(0);
    await waitFor(`the kernel's child ${pid} to be gone after the run`, () => isGone(pid), 10_000);
  });

  it("interrupts a cell that overruns its deadline, then fails", async () => {
    const file = writeNb(dir, "slow.ipynb", ["import time\nprint('started', flush=True)\ntime.sleep(600)"]);
    const error = await runNotebook(file, { kernel: "python3", cellTimeoutMs: 1000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CellTimeoutError);
    expect((error as Error).message).toMatch(/slow\.ipynb: cell 1 \(index 0\) did not finish within 1 s/);
    const outputs = code((error as CellTimeoutError).notebook!, 0).outputs;
    expect(outputs[0]).toEqual({ output_type: "stream", name: "stdout", text: "started\n" });
    // The interrupt reached the kernel: its KeyboardInterrupt is recorded.
    expect(outputs.some((o) => o.output_type === "error" && o.ename === "KeyboardInterrupt")).toBe(true);
  });
});

const BIN = join(packageRoot(), "bin", "forklab.js");
function builtCli(): boolean {
  if (existsSync(join(packageRoot(), "dist", "kernel", "cli.js"))) return true;
  console.warn("\n!!! SKIPPED: dist/ is not built; run `npm test` (which builds first) to run the command-line tests\n");
  return false;
}

/** Run bin/forklab.js; resolves with its exit code or signal and its stderr. */
function forklab(args: string[], onStart?: (child: ReturnType<typeof spawn>) => void) {
  return new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    onStart?.(child);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

describe.skipIf(!builtCli())("the forklab command", () => {
  let dir: string;
  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "forklab-cli-test-")));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("runs a TypeScript notebook through this installation's kernel by default", async () => {
    const file = writeNb(dir, "typescript.ipynb", ["const answer: number = 6 * 7;\nconsole.log('hello');", "answer"]);
    const { code: exit, stderr } = await forklab(["run", file]);
    expect(stderr).toContain("starting kernel forklab");
    expect(exit).toBe(0);
    const nb = readNotebook(join(dir, "typescript.nbconvert.ipynb"));
    expect(code(nb, 0).outputs).toEqual([{ output_type: "stream", name: "stdout", text: "hello\n" }]);
    expect(code(nb, 1).outputs[0]).toMatchObject({ output_type: "execute_result", data: { "text/plain": "42" } });
  });

  it.skipIf(!findJupyter())("stops the kernel and its children when terminated", async () => {
    const pidFile = join(dir, "child.pid");
    const file = writeNb(dir, "hangs.ipynb", [
      `import subprocess, time\nchild = subprocess.Popen(['sleep', '600'])\nopen(${JSON.stringify(pidFile)} + '.tmp', 'w').write(str(child.pid))\nimport os; os.rename(${JSON.stringify(pidFile)} + '.tmp', ${JSON.stringify(pidFile)})\ntime.sleep(600)`,
    ]);
    const { code: exit, stderr } = await forklab(["run", "--kernel", "python3", file], (child) => {
      const watch = setInterval(() => {
        if (existsSync(pidFile)) {
          clearInterval(watch);
          child.kill("SIGTERM");
        }
      }, 50);
    });
    expect(exit).toBe(143);
    expect(stderr).toContain("SIGTERM, kernels stopped");
    const pid = Number(readFileSync(pidFile, "utf8"));
    await waitFor(`the kernel's child ${pid} to be gone after SIGTERM`, () => isGone(pid), 10_000);
  });
});

function findJupyter(): boolean {
  return jupyterAvailable("the runner's signal test");
}
