/**
 * The course notebooks, executed through the forklab kernel as `forklab run` does. For every
 * notebook of the table in course-table.ts: the tutorial's Python and what it printed are quoted,
 * its lines come out of the run in the tutorial's order, the notebook ends with a summary and
 * exercises with hidden answers, no cell fails, and no process of the run is left behind. Then,
 * notebook by notebook: children report the kernel as their parent, process cards and terminal
 * blocks render, errors say what they should.
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runNotebook, type RunResult } from "../../kernel/runner/execute";
import { readNotebook, type Cell, type CodeCell, type Output } from "../../kernel/runner/notebook";
import { environmentOf, isGone, processTable, waitFor } from "../support/processes";
import { COURSE, type CourseNotebook } from "./course-table";
import { SEED_PYTHON } from "./seed-python";

const NOTEBOOKS = resolve(__dirname, "../../notebooks");

interface ProcessEntry {
  pid: number;
  cmdline: string;
}

/** Processes whose environment carries `marker` (children inherit it, whatever their title). */
function processesWith(marker: string): ProcessEntry[] {
  return [...processTable()].filter(([pid]) => environmentOf(pid).includes(marker)).map(([pid, { cmdline }]) => ({ pid, cmdline }));
}

interface CourseRun {
  result: RunResult;
  kernelPid: number;
  /** Processes of the run seen while it ran (at each cell start), and those left after it. */
  during: ProcessEntry[];
  after: ProcessEntry[];
}

const runs = new Map<string, Promise<CourseRun>>();

/** The notebook's run: the first call starts it, later ones share it. */
function runCourse(name: string): Promise<CourseRun> {
  if (!runs.has(name)) runs.set(name, startRun(name));
  return runs.get(name)!;
}

/** Run a notebook in a fresh forklab kernel whose environment is marked, watching its processes. */
async function startRun(name: string): Promise<CourseRun> {
  const marker = `FORKLAB_COURSE_RUN=${randomUUID()}`;
  const [key, value] = marker.split("=");
  const before = processesWith(marker);
  expect(before).toEqual([]);
  const during: ProcessEntry[] = [];
  const result = await runNotebook(join(NOTEBOOKS, name), {
    env: { ...process.env, [key]: value },
    onProgress: (event) => {
      if (event.type === "cell") during.push(...processesWith(marker));
    },
  });
  // The kernel's shutdown ends its children; the reaper of their process groups ends right
  // after them. Wait for the run's processes to end, up to a deadline: `after` is what is left.
  let after: ProcessEntry[] = [];
  await waitFor("the run's processes to end", () => (after = processesWith(marker)).length === 0, 10_000).catch(() => {});
  const kernels = [...new Set(during.filter((p) => / kernel --connection-file /.test(p.cmdline)).map((p) => p.pid))];
  expect(kernels, "exactly one kernel process carried the marker").toHaveLength(1);
  return { result, kernelPid: kernels[0], during, after };
}

const cell = (run: CourseRun, id: string): CodeCell => {
  const found = run.result.notebook.cells.find((c) => c.id === id);
  if (found?.cell_type !== "code") throw new Error(`no code cell ${JSON.stringify(id)}`);
  return found;
};

/** An output as the lines a reader sees: stream text, or a bundle's text/plain. */
function outputText(output: Output): string {
  if (output.output_type === "stream") return output.text;
  if (output.output_type === "error") return `${output.ename}: ${output.evalue}`;
  return String(output.data["text/plain"] ?? "");
}

const cellText = (c: CodeCell) => c.outputs.map(outputText).join("\n");

/** Every line of every output of the notebook, in order. */
function transcript(run: CourseRun): string[] {
  return run.result.notebook.cells.flatMap((c) => (c.cell_type === "code" ? c.outputs.flatMap((o) => outputText(o).split("\n")) : []));
}

/** Checks that each pattern matches a line, later than the line the one before it matched; returns the matches. */
function inOrder(lines: string[], patterns: RegExp[]): RegExpMatchArray[] {
  const matches: RegExpMatchArray[] = [];
  let from = 0;
  for (const pattern of patterns) {
    const index = lines.findIndex((line, i) => i >= from && pattern.test(line));
    expect(index, `${pattern} after line ${from} of:\n${lines.join("\n")}`).toBeGreaterThanOrEqual(0);
    matches.push(lines[index].match(pattern)!);
    from = index + 1;
  }
  return matches;
}

/** Whether `lines` has each pattern in order, and each of `anywhere` somewhere. */
function printsSection(lines: string[], row: CourseNotebook): boolean {
  let from = 0;
  for (const pattern of row.lines ?? []) {
    const index = lines.findIndex((line, i) => i >= from && pattern.test(line));
    if (index < 0) return false;
    from = index + 1;
  }
  return (row.anywhere ?? []).every((pattern) => lines.some((line) => pattern.test(line)));
}

/** The fenced blocks of a markdown cell with the given info string (```python, ```text). */
function fenced(cell: Cell, info: string): string[] {
  if (cell.cell_type !== "markdown") return [];
  return [...cell.source.matchAll(/^```(\S*)\n([\s\S]*?)^```$/gm)].filter(([, lang]) => lang === info).map(([, , body]) => body);
}

/** Code as quoted: no trailing spaces, no blank lines around it. */
const normalize = (code: string) => code.replace(/[ \t]+$/gm, "").trim();

const headingIndex = (cells: Cell[], word: string) =>
  cells.findIndex((c) => c.cell_type === "markdown" && c.source.split("\n").some((line) => /^#{1,6} /.test(line) && line.includes(word)));

const isHidden = (c: Cell) => (c.metadata.jupyter as { source_hidden?: boolean } | undefined)?.source_hidden === true;

type Bundle = Extract<Output, { data: unknown }>;
const bundles = (c: CodeCell, type?: "display_data" | "execute_result") =>
  c.outputs.filter((o): o is Bundle => (o.output_type === "display_data" || o.output_type === "execute_result") && (!type || o.output_type === type));

/** A process card: text and HTML, naming the child's pid and the kernel as its parent. */
function expectCard(output: Bundle | undefined, childPid: number, kernelPid: number, state: RegExp) {
  expect(output, "a process card").toBeDefined();
  const text = String(output!.data["text/plain"]);
  const html = String(output!.data["text/html"] ?? "");
  expect(text).toContain(`pid=${childPid} ppid=${kernelPid}`);
  expect(text).toMatch(state);
  expect(html).toMatch(/^<div data-forklab="process" style=/);
  expect(html).toContain(`<b>${childPid}</b>`);
  expect(html).toContain(`<b>${kernelPid}</b>`);
  expect(html).not.toMatch(/<script/i);
}

for (const row of COURSE) {
  const file = join(NOTEBOOKS, row.notebook);
  if (!existsSync(file) || row.pending) {
    it.todo(`${row.notebook}: ${row.pending ?? "not in notebooks/ yet"}`);
    continue;
  }

  describe(`${row.notebook} (the course's rules)`, () => {
    const cells = readNotebook(file).cells;

    if (row.section) {
      const section = row.section;
      it(`quotes the tutorial's ${section} verbatim, and what its Python printed`, () => {
        const seed = SEED_PYTHON[section];
        expect(seed, `test/notebooks/seed-python.ts has the section ${section}`).toBeDefined();
        const quoted = cells.flatMap((c) => fenced(c, "python")).map(normalize);
        expect(quoted, "a ```python block with the tutorial's code").toContain(normalize(seed));
        const printed = cells.flatMap((c) => fenced(c, "text")).map((block) => block.split("\n"));
        expect(
          printed.some((lines) => printsSection(lines, row)),
          `a \`\`\`text block with what Python printed: ${[...(row.lines ?? []), ...(row.anywhere ?? [])].join(" ")}`,
        ).toBe(true);
      });

      it("prints the tutorial's lines in the tutorial's order when it runs", async () => {
        const lines = transcript(await runCourse(row.notebook));
        inOrder(lines, row.lines ?? []);
        for (const pattern of row.anywhere ?? []) expect(lines.some((line) => pattern.test(line)), `${pattern} in:\n${lines.join("\n")}`).toBe(true);
      });
    }

    it("ends with a summary (小结) and two or three exercises whose answers are collapsed", () => {
      const summary = headingIndex(cells, "小结");
      const exercises = headingIndex(cells, "练习");
      expect(summary, "a heading with 小结").toBeGreaterThan(0);
      expect(exercises, "a heading with 练习, after the summary").toBeGreaterThan(summary);
      const tail = cells.slice(exercises);
      expect(tail.filter((c) => c.cell_type === "code"), "no code after the exercises").toEqual([]);
      const answers = tail.filter(isHidden);
      expect(answers.length).toBeGreaterThanOrEqual(2);
      expect(answers.length).toBeLessThanOrEqual(3);
      // Each answer follows its exercise (a visible cell), and the notebook ends with an answer.
      tail.forEach((c, i) => {
        if (isHidden(c)) expect(i > 0 && !isHidden(tail[i - 1]), `answer ${c.id} follows an exercise`).toBe(true);
      });
      expect(isHidden(tail[tail.length - 1]), "the last cell is an answer").toBe(true);
      for (const answer of answers) expect(answer.source.trim(), `answer ${answer.id}`).not.toBe("");
      expect(cells.filter((c) => !tail.includes(c)).some(isHidden), "only answers are collapsed").toBe(false);
    });

    it("names the cells its prose points to by what a reader sees, not by their ids (JupyterLab shows none)", () => {
      const ids = new Set(cells.filter((c) => c.cell_type === "code").map((c) => c.id));
      const code = cells.filter((c) => c.cell_type === "code").map((c) => c.source).join("\n");
      const byId: string[] = [];
      for (const c of cells) {
        if (c.cell_type !== "markdown") continue;
        for (const [quoted, name] of c.source.matchAll(/`([^`\n]+)`( cell\b)?/g)) {
          if (!ids.has(name!)) continue;
          // `call` or `communicate` in prose is the function, unless the prose calls it a cell.
          const isCode = new RegExp(`\\b${name!.replace(/[-]/g, "\\-")}\\b`).test(code);
          if (quoted!.endsWith(" cell") || !isCode) byId.push(`${c.id}: ${quoted}`);
        }
      }
      expect(byId).toEqual([]);
    });

    it("runs every code cell without an error and without stderr", async () => {
      const run = await runCourse(row.notebook);
      expect(run.result.errors).toEqual([]);
      for (const c of run.result.notebook.cells) {
        if (c.cell_type !== "code") continue;
        expect(c.execution_count, `cell ${c.id} ran`).toEqual(expect.any(Number));
        for (const o of c.outputs) {
          expect(o.output_type, `cell ${c.id}: ${outputText(o)}`).not.toBe("error");
          if (o.output_type === "stream") expect(o.name, `cell ${c.id}: ${o.text}`).toBe("stdout");
        }
      }
    });

    it("leaves no process behind: kernel, children and programs are gone", async () => {
      const run = await runCourse(row.notebook);
      // The scan does find the run's processes while it runs (the kernel at least) ...
      expect(run.during.some((p) => p.pid === run.kernelPid)).toBe(true);
      // ... and none of them once it is over.
      expect(run.after).toEqual([]);
      const pids = new Set<number>();
      for (const line of transcript(run)) for (const m of line.matchAll(/\bpid[= ](\d+)/g)) pids.add(Number(m[1]));
      for (const p of run.during) pids.add(p.pid);
      expect([...pids].filter((pid) => !isGone(pid))).toEqual([]);
    });
  });
}

describe("00-start-here", () => {
  let run: CourseRun;
  beforeAll(async () => {
    run = await runCourse("00-start-here.ipynb");
  });

  it("measures I/O-bound and CPU-bound work in its cells, and prints what it measured", () => {
    expect(cellText(cell(run, "io-bound"))).toMatch(/^4 waits of 0\.3 s: \d+\.\d\d s one by one, \d+\.\d\d s together on one thread$/m);
    expect(cellText(cell(run, "cpu-bound"))).toMatch(
      /^\d+ cores; two computations: \d+\.\d\d s one after the other in the kernel, \d+\.\d\d s in two child processes at once$/m,
    );
  });
});

describe("01-fork", () => {
  let run: CourseRun;
  beforeAll(async () => {
    run = await runCourse("01-fork.ipynb");
  });

  it("prints the fork section's lines, from the parent and from the child", () => {
    const [[, started]] = inOrder(transcript(run), [/^Process \((\d+)\) start\.\.\.$/]);
    expect(Number(started)).toBe(run.kernelPid);
    expect(run.kernelPid).not.toBe(process.pid);

    const spawned = cell(run, "spawn-child");
    const text = cellText(spawned);
    const child = Number(text.match(/^I \(\d+\) just created a child process \((\d+)\)\.$/m)?.[1]);
    expect(text).toContain(`I (${run.kernelPid}) just created a child process (${child}).`);
    // The child's own line, in its card: its parent is the kernel.
    expect(text).toContain(`I am child process (${child}) and my parent is ${run.kernelPid}.`);
    expect(child).not.toBe(run.kernelPid);
    expectCard(bundles(spawned, "display_data")[0], child, run.kernelPid, /exited with code 0/);
    expect(String(bundles(spawned)[0].data["text/html"])).toContain(`I am child process (${child}) and my parent is ${run.kernelPid}.`);

    // `child` as the last expression of a later cell shows the same card (live: the kernel sends it
    // as a display with the card's id, once per cell).
    expectCard(bundles(cell(run, "show-child"))[0], child, run.kernelPid, /exited with code 0/);
  });

  it("refuses a closure over a notebook variable, and passes it as an argument instead", () => {
    expect(cellText(cell(run, "closure-error"))).toMatch(/greeting: a variable from another notebook cell/);
    const greeter = cell(run, "with-args");
    const pid = Number(cellText(greeter).match(/hello from the parent, says (\d+)/)?.[1]);
    expectCard(bundles(greeter, "display_data")[0], pid, run.kernelPid, /exited with code 0/);
  });

  it("shows copy-on-write's lesson: the child's change stays in the child", () => {
    inOrder(cellText(cell(run, "copy-args")).split("\n"), [/child sees 100$/, /^parent sees 0 and the child returned 100$/]);
  });

  it("shows a child reaped by Node: its exit code, and no zombie left", () => {
    expect(bundles(cell(run, "reaped"), "execute_result")[0].data["text/plain"]).toBe("{ exitCode: 7, stillInProcessTable: false }");
  });

  it("measures the start methods in the cell: Python's three beside forklab's two", () => {
    const lines = cellText(cell(run, "startup-costs")).split("\n");
    inOrder(lines, [/^Python fork +\d+ ms$/, /^Python forkserver +\d+ ms$/, /^Python spawn +\d+ ms$/, /^forklab spawn +\d+ ms$/, /^forklab warm +\d+ ms$/]);
  });
});

describe("02-process", () => {
  let run: CourseRun;
  beforeAll(async () => {
    run = await runCourse("02-process.ipynb");
  });

  it("prints the tutorial's lines in order, the child's from its card", () => {
    const [[, parent], , [, child]] = inOrder(transcript(run), [
      /^Parent process (\d+)\.$/,
      /^Child process will start\.$/,
      /Run child process test \((\d+)\)\.\.\.$/,
      /^Child process end\.$/,
    ]);
    expect(Number(parent)).toBe(run.kernelPid);
    const card = bundles(cell(run, "run-proc"), "display_data")[0];
    expectCard(card, Number(child), run.kernelPid, /exited with code 0/);
    expect(String(card.data["text/html"])).toContain(`Run child process test (${child})...`);
    expectCard(bundles(cell(run, "show-p"))[0], Number(child), run.kernelPid, /exited with code 0/);
    const fields = cellText(cell(run, "fields"));
    expect(fields).toContain(`pid: ${child}`);
    expect(fields).toContain("exitCode: 0");
    expect(fields).toContain("alive: false");
    expect(fields).toContain(`stdout: 'Run child process test (${child})...\\n'`);
  });

  it("brings results back by structured clone and refuses what cannot cross", () => {
    expect(bundles(cell(run, "spawn-result"), "execute_result")[0].data["text/plain"]).toBe("[\n   0,  1,  4,  9,\n  16, 25, 36, 49\n]");
    const cloned = String(bundles(cell(run, "clone-types"), "execute_result")[0].data["text/plain"]);
    expect(cloned).toMatch(/^Map\(3\) \{/);
    expect(cloned).toContain("big: 3486784401n");
    expect(cellText(cell(run, "clone-error"))).toMatch(/^args\[0\]\.onDone is a function: it cannot be sent to Process-\d+/);
    expect(cellText(cell(run, "closure-error"))).toMatch(/limit: a variable from another notebook cell/);
    inOrder(cellText(cell(run, "module-target")).split("\n"), [
      /^task ran \d+\.\d\d s$/,
      /^start-up: -?\d+ ms for a \.ts module child, \d+ ms for a function child$/,
    ]);
  });

  it("reports a child's error, its exit code, and a terminated child", () => {
    const failing = cell(run, "child-error");
    const text = cellText(failing);
    expect(text).toMatch(/^SyntaxError: .*JSON/m);
    expect(text).toMatch(/^RemoteTraceback: in child process \d+:/m);
    expect(bundles(failing, "execute_result")[0].data["text/plain"]).toBe("1");
    expect(String(bundles(failing, "display_data")[0].data["text/plain"])).toMatch(/exited with code 1/);
    const terminated = cell(run, "terminate-cell");
    expect(bundles(terminated, "execute_result")[0].data["text/plain"]).toBe("-15");
    expect(String(bundles(terminated, "display_data")[0].data["text/plain"])).toMatch(/killed by SIGTERM \(exitCode -15\)/);
  });

  it("tells each process who it is and who its parent is", () => {
    expect(bundles(cell(run, "who-main"), "execute_result")[0].data["text/plain"]).toMatch(/^\[ 'MainProcess', null, \d+ \]$/);
    expect(bundles(cell(run, "who-child"), "execute_result")[0].data["text/plain"]).toBe(`{ me: 'curious', parent: ${run.kernelPid} }`);
    expect(bundles(cell(run, "daemon-cell"), "execute_result")[0].data["text/plain"]).toBe("[ 'in the background', true ]");
    for (const id of ["spawn-result", "clone-types", "module-target", "who-child", "daemon-cell"]) {
      const card = bundles(cell(run, id), "display_data")[0];
      const text = String(card?.data["text/plain"]);
      expect(text, `card of ${id}`).toContain(`ppid=${run.kernelPid}`);
      expect(String(card?.data["text/html"]), `card of ${id}`).toMatch(/^<div data-forklab="process" style=/);
      // These cells await only the result: the card's last update arrives after the cell ended
      // (for the last cell, while the kernel shuts down), and still replaces "running".
      expect(text, `card of ${id}`).not.toMatch(/ running /);
    }
    // The cell joins its daemon child: it ends on its own, not terminated by the kernel's shutdown.
    expect(String(bundles(cell(run, "daemon-cell"), "display_data")[0].data["text/plain"])).toMatch(
      /daemon exited with code 0 .*\n  result: 'in the background'/,
    );
  });
});

describe("05-queue", () => {
  /** The queue's flow picture, as text: shown live from the cell's spawn on, the cell's last expression updates it. */
  const queueFlow = (c: CodeCell) => String(bundles(c).find((b) => /^(Joinable)?Queue \(owner pid/.test(String(b.data["text/plain"])))!.data["text/plain"]);
  let run: CourseRun;
  beforeAll(async () => {
    run = await runCourse("05-queue.ipynb");
  });

  it("the writer and the reader: the reader ends by itself at the sentinel, and the flow shows every put and get", () => {
    expect(cellText(cell(run, "queue-cell"))).toMatch(/^reader exit code: 0$/m);
    const flow = queueFlow(cell(run, "queue-cell"));
    expect(flow).toMatch(/^Queue \(owner pid \d+\): 0 queued, 4 put, 4 got/);
    inOrder(flow.split("\n"), [/put  'A'$/, /put  'B'$/, /put  'C'$/, /put  null$/]);
    inOrder(flow.split("\n"), [/get  'A'$/, /get  'B'$/, /get  'C'$/, /get  null$/]);
  });

  it("the tutorial's ending: terminate() kills the slow reader before it prints, and what it held goes back to the queue", () => {
    const race = cell(run, "race");
    const text = cellText(race);
    const [, left] = text.match(/^reader exit code: -15; items still in the queue: (\d+)$/m)!;
    const reader = bundles(race, "display_data").find((b) => /target=slowRead\(\)/.test(String(b.data["text/plain"])))!;
    expect(String(reader.data["text/plain"])).toMatch(/killed by SIGTERM/);
    expect(String(reader.data["text/plain"])).not.toMatch(/Get . from queue/);
    const flow = queueFlow(race);
    // Killed before it took anything, all three are left; else it got A, and B and C, sent one
    // per get() to a reader that works between its gets, never left the queue.
    if (left === "2") inOrder(flow.split("\n"), [/get  'A'$/]);
    else expect(left).toBe("3");
    expect(flow).not.toMatch(/ back /);
  });

  it("Pipe: the child echoes each word; once it has closed its end, send() here is a BrokenPipeError", () => {
    const text = cellText(cell(run, "pipe"));
    inOrder(text.split("\n"), [/^sent ping, got back PING$/, /^sent queue, got back QUEUE$/]);
    expect(text).toMatch(/^BrokenPipeError: Connection\.send\(\): the other end of the pipe was closed, .* so it was not sent; create a new Pipe\(\)$/m);
  });
});

describe("04-subprocess", () => {
  let run: CourseRun;
  beforeAll(async () => {
    run = await runCourse("04-subprocess.ipynb");
  });

  it("call: the command line, the program's output in a terminal block, then the exit code", () => {
    const called = cell(run, "call");
    // The command line is the terminal block's first line: the cell does not print it again.
    expect(called.outputs.filter((o) => o.output_type === "stream" && o.text.startsWith("$ "))).toEqual([]);
    const [, [, pid]] = inOrder(transcript(run), [/^\$ \S*node -e "console\.log\('pong from pid', process\.pid\)"$/, /^pong from pid (\d+)$/, /^Exit code: 0$/]);
    const block = bundles(called, "display_data")[0];
    expect(String(block.data["text/plain"])).toMatch(new RegExp(`^\\[exit 0 · .* · pid ${pid}\\]$`, "m"));
    expect(String(block.data["text/html"])).toMatch(/^<pre data-forklab="terminal" style=/);
    expect(String(block.data["text/html"])).toContain(`pong from pid ${pid}`);
  });

  it("communicate: feeds the input and reads the answer", () => {
    // As nslookup does with stdin from a pipe: answers, no prompts; stdout and stderr apart.
    inOrder(cellText(cell(run, "communicate")).split("\n"), [
      /^\$ node scripts\/lookup\.js$/,
      /^Server:\t\tforklab-offline-table$/,
      /^python\.org\tmail exchanger = 50 mail\.python\.org\.$/,
      /^stderr: ""$/,
      /^Exit code: 0$/,
    ]);
  });

  it("run: a CompletedProcess shown as a terminal block; errors name the command", () => {
    const result = bundles(cell(run, "run"), "execute_result")[0];
    expect(String(result.data["text/plain"])).toMatch(/\nto stdout\nto stderr\n\[exit 0 · /);
    expect(String(result.data["text/html"])).toMatch(/^<pre data-forklab="terminal" style=/);
    const failed = cellText(cell(run, "check"));
    expect(failed).toMatch(/^Command failed with exit code 3: /);
    expect(failed).toContain("something went wrong");
    const timedOut = cell(run, "timeout");
    expect(cellText(timedOut)).toMatch(/^TimeoutExpired: Command timed out after 0\.5 seconds: /m);
    expect(String(bundles(timedOut, "display_data")[0].data["text/plain"])).toMatch(/killed by SIGKILL · timed out after 0.5 s/);
    expect(String(bundles(cell(run, "sh"), "execute_result")[0].data["text/plain"])).toContain("\nit's a $(name) with spaces\n");
    expect(String(bundles(cell(run, "shell-true"), "execute_result")[0].data["text/plain"])).toMatch(
      /^\$ echo 'it'"'"'s a \$\(name\) with spaces'\nit's a \$\(name\) with spaces\n\[exit 0 · /,
    );
  });

  it("pipeline: the first program's output is the second one's input", () => {
    expect(cellText(cell(run, "pipeline"))).toMatch(/^apple\nfig\npear\nExit codes: 0 0$/m);
  });
});
