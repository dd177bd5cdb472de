/**
 * The same notebook, executed by nbclient (through nbconvert) and by `forklab run`, both talking to
 * the forklab kernel, must come out with the same outputs, cell by cell. Explicit assertions on the
 * key outputs make sure that the two do not merely agree on something wrong.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../kernel/kernelspec";
import { readNotebook, type CodeCell, type Notebook, type Output } from "../../kernel/runner/notebook";
import { findJupyterPython, jupyterAvailable, python } from "../support/jupyter";

const root = packageRoot();
const fixtureDir = resolve(__dirname, "fixtures");
const fixture = join(fixtureDir, "parity.ipynb");
const LATE_LINE = "late line from the timer cell";

/** Run a command to its end; resolves with its exit code and output. */
function exec(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

/** What both clients must agree on: everything but nbclient's timing metadata. */
function normalized(notebook: Notebook) {
  return {
    nbformat: notebook.nbformat,
    nbformat_minor: notebook.nbformat_minor,
    metadata: notebook.metadata,
    cells: notebook.cells.map((cell) => {
      const { execution: _timings, ...metadata } = cell.metadata;
      return { ...cell, metadata };
    }),
  };
}

const codeCell = (notebook: Notebook, id: string): CodeCell => {
  const cell = notebook.cells.find((c) => c.id === id);
  if (cell?.cell_type !== "code") throw new Error(`no code cell ${id}`);
  return cell;
};
const texts = (outputs: Output[]) => outputs.map((o) => (o.output_type === "stream" ? `${o.name}: ${o.text}` : o.output_type));

describe.skipIf(!jupyterAvailable("the nbclient parity test"))("nbclient and forklab run agree", () => {
  let work: string;
  let viaNbclient: Notebook;
  let viaForklab: Notebook;
  let runStderr: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "forklab-parity-"));
    const install = await exec(process.execPath, [join(root, "bin/forklab.js"), "install", "--prefix", join(work, "prefix")]);
    expect(install.code, install.stderr).toBe(0);
    const jupyterPath = join(work, "prefix/share/jupyter");
    // Both in parallel: each starts its own kernel in the fixture's folder.
    const [nbconvert, forklab] = await Promise.all([
      exec(
        findJupyterPython()!,
        ["-m", "nbconvert", "--to", "notebook", "--execute", "--allow-errors", "--ExecutePreprocessor.kernel_name=forklab", "--output-dir", join(work, "nbclient"), fixture],
        { env: { JUPYTER_PATH: jupyterPath } },
      ),
      exec(process.execPath, [join(root, "bin/forklab.js"), "run", "--allow-errors", "--out", join(work, "forklab"), fixture]),
    ]);
    expect(nbconvert.code, nbconvert.stderr).toBe(0);
    expect(forklab.code, forklab.stderr).toBe(0);
    runStderr = forklab.stderr;
    viaNbclient = readNotebook(join(work, "nbclient/parity.ipynb"));
    viaForklab = readNotebook(join(work, "forklab/parity.ipynb"));
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("produce the same notebook, cell by cell", () => {
    const a = normalized(viaNbclient);
    const b = normalized(viaForklab);
    expect(b.cells.map((c) => c.id)).toEqual(a.cells.map((c) => c.id));
    for (const [index, cell] of a.cells.entries()) expect(b.cells[index], `cell ${cell.id}`).toEqual(cell);
    expect(b).toEqual(a);
  });

  it("keep ids and record the kernel's language", () => {
    const ids = readNotebook(fixture).cells.map((c) => c.id);
    for (const notebook of [viaNbclient, viaForklab]) {
      expect(notebook.cells.map((c) => c.id)).toEqual(ids);
      expect(notebook.nbformat_minor).toBe(5);
      expect(notebook.metadata.kernelspec).toMatchObject({ name: "forklab" });
      expect(notebook.metadata.language_info).toMatchObject({ name: "typescript", file_extension: ".ts" });
    }
  });

  describe.each([
    ["nbclient", () => viaNbclient],
    ["forklab run", () => viaForklab],
  ])("as executed by %s", (_client, notebook) => {
    it("numbers the cells in order", () => {
      const counts = notebook()
        .cells.filter((c): c is CodeCell => c.cell_type === "code")
        .map((c) => c.execution_count);
      expect(counts).toEqual([1, 2, 3, 4, 5, 6, 7]);
    });

    it("shows a display where it was created, as last updated by a later cell", () => {
      const shown = codeCell(notebook(), "display").outputs;
      expect(texts(shown)).toEqual(["stdout: before the display\n", "display_data", "stdout: after the display\n"]);
      expect(shown[1]).toMatchObject({ data: { "text/plain": "progress 2/2", "text/html": "<b>progress 2/2</b>" } });
      // The update replaces the output in place; the updating cell gets no copy of it.
      expect(texts(codeCell(notebook(), "update").outputs)).toEqual(["stdout: updated\n"]);
    });

    it("records the error of a cell that throws, and runs the cells after it", () => {
      const outputs = codeCell(notebook(), "throws").outputs;
      expect(texts(outputs)).toEqual(["stdout: about to throw\n", "error"]);
      const error = outputs[1] as Extract<Output, { output_type: "error" }>;
      expect(error.ename).toBe("RangeError");
      expect(error.evalue).toBe("parity boom");
      expect(error.traceback.join("\n")).toContain("In[3]");
      const after = codeCell(notebook(), "after-error").outputs;
      expect(after).toEqual([
        { output_type: "stream", name: "stdout", text: "still running after the error\n" },
        { output_type: "execute_result", execution_count: 4, data: { "text/plain": "42" }, metadata: {} },
      ]);
    });

    it("does not put a timer's late line into the cell that runs when it fires", () => {
      expect(codeCell(notebook(), "timer").outputs).toEqual([{ output_type: "stream", name: "stdout", text: "timer set\n" }]);
      expect(codeCell(notebook(), "waiter").outputs).toEqual([{ output_type: "stream", name: "stdout", text: "the timer has fired\n" }]);
      // It belongs to the timer cell, which had finished: clients that record a cell until its idle
      // status (nbclient, and forklab run like it) keep it nowhere.
      const outputs = notebook().cells.flatMap((c) => (c.cell_type === "code" ? c.outputs : []));
      expect(JSON.stringify(outputs)).not.toContain(LATE_LINE);
    });

    it("shows a rich last expression as its MIME bundle", () => {
      expect(codeCell(notebook(), "rich").outputs).toEqual([
        { output_type: "execute_result", execution_count: 7, data: { "text/plain": "a rich value", "text/html": "<i>a rich value</i>" }, metadata: {} },
      ]);
    });
  });

  it("forklab run reports the allowed error", () => {
    expect(runStderr).toContain("1 cell raised an error");
  });

  it("the kernel sends the late line with the header of the cell that set the timer", () => {
    // Straight from jupyter_client: every IOPub message, whichever request it answers.
    const source = (id: string) => codeCell(readNotebook(fixture), id).source;
    const script = `
import json, os, sys
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="forklab", cwd=${JSON.stringify(fixtureDir)})
try:
    seen = []
    def run(code):
        msg_id = kc.execute(code)
        while True:
            msg = kc.get_iopub_msg(timeout=60)
            parent = msg["parent_header"].get("msg_id")
            if msg["msg_type"] == "stream":
                seen.append({"parent": parent, "text": msg["content"]["text"]})
            if parent == msg_id and msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        # By parent: start_new_kernel may have sent kernel_info twice, and its second reply can
        # arrive now, before this cell's.
        reply = kc.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        return msg_id
    timer = run(json.loads(sys.stdin.readline()))
    waiter = run(json.loads(sys.stdin.readline()))
    print(json.dumps({"timer": timer, "waiter": waiter, "streams": seen}))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=False)
`;
    const work2 = mkdtempSync(join(tmpdir(), "forklab-parity-late-"));
    try {
      const install = python(`import subprocess, sys; sys.exit(subprocess.call([${JSON.stringify(process.execPath)}, ${JSON.stringify(join(root, "bin/forklab.js"))}, "install", "--prefix", ${JSON.stringify(work2)}]))`);
      expect(install).toContain("Installed kernelspec");
      const out = python(script, {
        env: { JUPYTER_PATH: join(work2, "share/jupyter") },
        input: `${JSON.stringify(source("timer"))}\n${JSON.stringify(source("waiter"))}\n`,
      });
      const { timer, waiter, streams } = JSON.parse(out.trim().split("\n").at(-1)!) as {
        timer: string;
        waiter: string;
        streams: { parent: string; text: string }[];
      };
      const late = streams.filter((s) => s.text.includes(LATE_LINE));
      expect(late).toEqual([{ parent: timer, text: `${LATE_LINE}\n` }]);
      expect(streams.filter((s) => s.parent === waiter).map((s) => s.text).join("")).toBe("the timer has fired\n");
    } finally {
      rmSync(work2, { recursive: true, force: true });
    }
  });
});
