/**
 * The course in a real browser: JupyterLab 4 (and once more Notebook 7) from the project's
 * environment, on the forklab kernel, driven in Debian's Chromium through playwright-core.
 *
 * Every notebook in notebooks/ (whatever is there) is opened, run from the top on the forklab
 * kernel, and checked: no cell shows an error, every picture the kernel sent (an HTML output marked
 * data-forklab: process card, terminal block, pool timeline, queue flow) is rendered as HTML, and
 * the page logged no error. The notebooks are then saved with their outputs and reopened untrusted,
 * as a notebook from someone else opens: the pictures must still render, with their inline styles,
 * through JupyterLab's sanitizer. Also: the stop button interrupts a spinning cell and the kernel
 * lives on; Restart ends a child a cell started; late child output reaches the cell that started
 * it; one notebook in the dark theme stays readable. Server, kernels and browser are stopped by
 * pid, and nothing is left behind.
 *
 * FORKLAB_SCREENSHOTS=DIR writes a PNG of each run notebook into DIR (npm run screenshots).
 * Skipped loudly without Chromium or the project's Jupyter; FORKLAB_REQUIRE_JUPYTER=1 fails instead.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../kernel/kernelspec";
import { courseNotebooks } from "../../kernel/start";
import { isGone, processTable, waitFor } from "../support/processes";
import { browserTestMissing, launchBrowser, JupyterServer, type Browser } from "./jupyter-server";
import { cellsSeen, closeNotebook, command, kernelId, kernelState, lowestContrast, openNotebook, saveNotebook, waitForApp, waitForKernel, waitForRunToEnd, type CellSeen } from "./notebook-page";

const root = packageRoot();
const NOTEBOOKS = courseNotebooks(join(root, "notebooks")).map((file) => basename(file));
/** How long a whole notebook may take to run before the test gives up (not a measurement). */
const RUN_DEADLINE_MS = 300_000;
const SCREENSHOTS = process.env.FORKLAB_SCREENSHOTS;
/** The notebooks whose run in JupyterLab showed forklab pictures, in order. */
const withPictures: string[] = [];

function available(): boolean {
  const missing = browserTestMissing();
  if (missing.length === 0) return true;
  const message = `${missing.join(" and ")} not found: the browser test of the course needs them. Install Debian's chromium; create the environment with "npx forklab setup".`;
  if (process.env.FORKLAB_REQUIRE_JUPYTER === "1") throw new Error(`${message} (FORKLAB_REQUIRE_JUPYTER=1)`);
  console.warn(`\n!!! SKIPPED: ${message}\n`);
  return false;
}

/** A failure message that shows what the page held. */
function report(name: string, cells: CellSeen[], errors: string[]): string {
  return `${name}:\n${JSON.stringify({ errors, cells }, null, 1).slice(0, 20_000)}`;
}

/** The cells' error outputs, as "cell N: Name: message". */
function cellErrors(cells: CellSeen[]): string[] {
  return cells.flatMap((cell) =>
    cell.outputs.filter((o) => o.outputType === "error").map((o) => `cell ${cell.index + 1}: ${o.ename}: ${o.evalue}\n${o.traceback ?? ""}\n${cell.source}`),
  );
}

/** Every output the kernel sent is on the page; each picture it sent is rendered as HTML. */
function expectRendered(name: string, cells: CellSeen[], errors: string[], markers: "kept" | "stripped"): void {
  const why = report(name, cells, errors);
  for (const cell of cells.filter((c) => c.type === "code")) {
    expect(cell.rendered.length, `${name} cell ${cell.index + 1}: outputs in the model and on the page\n${why}`).toBe(cell.outputs.length);
    cell.outputs.forEach((output, i) => {
      if (output.forklab.length === 0) return;
      const shown = cell.rendered[i]!;
      expect(shown.className, `${name} cell ${cell.index + 1} output ${i + 1} is rendered as HTML\n${why}`).toContain("jp-RenderedHTMLCommon");
      expect(shown.height, `${name} cell ${cell.index + 1} output ${i + 1} takes room on the page`).toBeGreaterThan(0);
      expect(shown.styled, `${name} cell ${cell.index + 1} output ${i + 1} keeps its inline styles\n${why}`).toBeGreaterThan(0);
      // JupyterLab's sanitizer removes data-* attributes from untrusted HTML; the picture stays.
      expect(shown.forklab, `${name} cell ${cell.index + 1} output ${i + 1}\n${why}`).toEqual(markers === "kept" ? output.forklab : []);
    });
  }
}

/** Open a notebook that is in the server's root and run it from the top; resolves with its cells. */
async function runNotebook(page: Page, path: string, inPlace: boolean): Promise<CellSeen[]> {
  await openNotebook(page, path, inPlace);
  await waitForKernel(page, "forklab");
  expect(await kernelState(page)).toMatchObject({ name: "forklab", displayName: "TypeScript (forklab)" });
  await command(page, "notebook:run-all-cells", { wait: false });
  await waitForRunToEnd(page, RUN_DEADLINE_MS);
  return cellsSeen(page);
}

/**
 * What a notebook's screenshot shows, where that is not its first forklab picture: an output
 * matching `selector`, else the first output containing `text`.
 */
const PICTURE_OF: Record<string, { selector?: string; text?: string }> = {
  "03-pool.ipynb": { selector: "[data-forklab='pool']" },
  "05-queue.ipynb": { selector: "[data-forklab='queue']" },
  "06-distributed.ipynb": { selector: "[data-forklab='distributed-pool']" },
};

/**
 * A picture of the notebook where it shows its picture (PICTURE_OF, else the first forklab
 * picture, else its top), with the side panel closed so that the notebook has the width.
 */
async function screenshot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  const pick = PICTURE_OF[name.replace(/^dark-/, "")] ?? {};
  const shown = await page.evaluate(async (pick) => {
    const app = (window as any).jupyterapp;
    if (app.shell.leftCollapsed === false) await app.commands.execute("application:toggle-left-area");
    const panel = (window as any).__forklabPanel;
    const node = panel.content.node as HTMLElement;
    const outputs = Array.from(node.querySelectorAll(".jp-OutputArea-output")) as HTMLElement[];
    const picture =
      (pick.selector ? (node.querySelector(pick.selector) as HTMLElement | null) : null) ??
      (pick.text ? outputs.find((o) => (o.textContent ?? "").includes(pick.text!)) : undefined) ??
      (node.querySelector("[data-forklab]") as HTMLElement | null);
    const cell = (picture?.closest(".jp-Cell") as HTMLElement | null) ?? (node.querySelector(".jp-Cell") as HTMLElement);
    // The active cell is where JupyterLab scrolls back to: make it the picture's.
    const index = panel.content.widgets.findIndex((w: any) => w.node === cell);
    if (index >= 0) panel.content.activeCellIndex = index;
    // From the top of the picture's cell (the code beside what it shows); where the cell is taller
    // than the view, as much of the code as fits above the whole picture.
    cell.scrollIntoView({ block: "start" });
    const view = panel.node.getBoundingClientRect();
    if (picture && picture.getBoundingClientRect().bottom > view.bottom) picture.scrollIntoView({ block: "end" });
    (window as any).__forklabShot = picture ?? cell;
    return { found: picture !== undefined && picture !== null, index };
  }, pick);
  expect(shown.found || !pick.selector && !pick.text, `${name}: the picture to show (${JSON.stringify(pick)})`).toBe(true);
  // Scrolled: what is shown is in the notebook's view.
  await page.waitForFunction(
    () => {
      const shown = ((window as any).__forklabShot as HTMLElement).getBoundingClientRect();
      const view = (window as any).__forklabPanel.node.getBoundingClientRect();
      return shown.top >= view.top && shown.top < view.bottom;
    },
    undefined,
    { timeout: 10_000, polling: 100 },
  );
  await page.screenshot({ path: join(SCREENSHOTS, name.replace(/\.ipynb$/, ".png")) });
}

/** A scratch notebook written into the server's root (not one of the course's). */
function writeScratch(server: JupyterServer, name: string, sources: string[]): void {
  const notebook = {
    cells: sources.map((source, i) => ({ cell_type: "code", execution_count: null, id: `cell-${i}`, metadata: {}, outputs: [], source })),
    metadata: {
      kernelspec: { name: "forklab", display_name: "TypeScript (forklab)", language: "typescript" },
      language_info: { name: "typescript" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
  writeFileSync(join(server.root, name), JSON.stringify(notebook, null, 1));
}

/** The pid of the server's kernel process with this kernel id (its connection file names it). */
function kernelPid(server: JupyterServer, id: string | undefined): number | undefined {
  if (!id) return undefined;
  return [...server.kernels()].find(([, cmdline]) => cmdline.includes(`kernel-${id}.json`))?.[0];
}

/** Run one cell of the current notebook (by index) and do not wait for it. */
async function runCell(page: Page, index: number): Promise<void> {
  await page.evaluate((index) => {
    (window as any).__forklabPanel.content.activeCellIndex = index;
  }, index);
  await command(page, "notebook:run-cell", { wait: false });
}

/** Wait until cell `index` of the current notebook has run and the kernel is idle; its cells. */
async function waitForCell(page: Page, index: number): Promise<CellSeen> {
  await page.waitForFunction(
    (index) => {
      const panel = (window as any).__forklabPanel;
      const cell = panel.content.widgets[index];
      return panel.sessionContext.session?.kernel?.status === "idle" && cell.model.executionCount !== null && !/\*/.test(cell.promptNode?.textContent ?? "");
    },
    index,
    { timeout: 120_000, polling: 100 },
  );
  return (await cellsSeen(page))[index]!;
}

describe.skipIf(!available())("the course in JupyterLab 4, in Chromium", () => {
  let server: JupyterServer;
  let browser: Browser;
  let page: Page;
  /** The pictures of each notebook's run, to compare with the untrusted reopening. */
  const trustedRuns = new Map<string, CellSeen[]>();

  beforeAll(async () => {
    server = await JupyterServer.start({ app: "jupyter-lab", notebooks: join(root, "notebooks") });
    browser = await launchBrowser(server);
    page = browser.page;
    await page.goto(server.url("/lab"));
    await waitForApp(page);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("finds the course's notebooks", () => {
    expect(NOTEBOOKS.length).toBeGreaterThan(0);
  });

  it.each(NOTEBOOKS)("runs %s on the forklab kernel, with every picture rendered and no error", async (name) => {
    const cells = await runNotebook(page, name, false);
    server.remember();
    const why = report(name, cells, browser.errors);
    expect(cellErrors(cells), why).toEqual([]);
    expect(cells.filter((c) => c.type === "code" && c.executionCount === null).map((c) => c.index + 1), `${name}: cells that did not run\n${why}`).toEqual([]);
    expectRendered(name, cells, browser.errors, "kept");
    expect(browser.errors, why).toEqual([]);
    await screenshot(page, name);
    await saveNotebook(page);
    // What was saved: a live picture may have been updated since the checks above.
    trustedRuns.set(name, await cellsSeen(page));
    await closeNotebook(page);
    if (cells.some((c) => c.outputs.some((o) => o.forklab.length))) withPictures.push(name);
  });

  it.each(NOTEBOOKS)("reopens %s saved with its outputs, untrusted, and its pictures still render", async (name) => {
    const run = trustedRuns.get(name);
    expect(run, `${name} ran and was saved by the test before`).toBeDefined();
    // As a notebook from someone else: its content no longer matches the signature the server
    // recorded when it saved it, so Jupyter opens it untrusted.
    const file = join(server.root, name);
    const saved = JSON.parse(readFileSync(file, "utf8"));
    saved.metadata.forklab_test = { reopened: "untrusted" };
    writeFileSync(file, JSON.stringify(saved, null, 1));

    await openNotebook(page, name, false);
    const cells = await cellsSeen(page);
    const why = report(name, cells, browser.errors);
    const withOutputs = cells.filter((c) => c.type === "code" && c.outputs.length > 0);
    expect(withOutputs.length, why).toBeGreaterThan(0);
    expect(withOutputs.filter((c) => c.trusted).map((c) => c.index + 1), `${name}: cells still trusted\n${why}`).toEqual([]);
    expectRendered(name, cells, browser.errors, "stripped");
    // The same pictures as in the session that made them: same text, same styled elements.
    for (const cell of run!) {
      cell.outputs.forEach((output, i) => {
        if (output.forklab.length === 0) return;
        const before = cell.rendered[i]!;
        const after = cells[cell.index]!.rendered[i]!;
        expect({ text: after.text, styles: after.styles }, `${name} cell ${cell.index + 1} output ${i + 1}`).toEqual({ text: before.text, styles: before.styles });
      });
    }
    expect(browser.errors, why).toEqual([]);
    await closeNotebook(page);
  });

  it("stops a spinning cell with the stop button; the kernel lives on", async () => {
    writeScratch(server, "spin.ipynb", ["let spins = 0;\nwhile (true) {\n  spins++;\n}", "1 + 1"]);
    await openNotebook(page, "spin.ipynb", false);
    await waitForKernel(page, "forklab");
    const kernel = kernelPid(server, await kernelId(page));
    expect(kernel).toBeDefined();
    await runCell(page, 0);
    await page.waitForFunction(() => (window as any).__forklabPanel.sessionContext.session?.kernel?.status === "busy", undefined, { timeout: 60_000 });
    // One press, wherever it lands: while the cell is still type-checked (then none of it runs and
    // spins stays unset) or while it spins.
    await page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar [data-command='notebook:interrupt-kernel']").click();
    const spun = await waitForCell(page, 0);
    expect(spun.outputs.map((o) => o.outputType), JSON.stringify(spun)).toContain("error");
    await runCell(page, 1);
    const after = await waitForCell(page, 1);
    expect(after.outputs.map((o) => o.outputType)).toEqual(["execute_result"]);
    expect(after.rendered[0]!.text.trim()).toBe("2");
    expect(kernelPid(server, await kernelId(page))).toBe(kernel);
    await closeNotebook(page);
  });

  it("ends a running child when the kernel is restarted", async () => {
    writeScratch(server, "restart.ipynb", [
      'import { spawn } from "forklab";\nconst child = spawn(() => new Promise(() => setInterval(() => {}, 1000)));\nchild.pid',
    ]);
    await openNotebook(page, "restart.ipynb", false);
    await waitForKernel(page, "forklab");
    await runCell(page, 0);
    const cell = await waitForCell(page, 0);
    const result = cell.outputs.findIndex((o) => o.outputType === "execute_result");
    const pid = Number(cell.rendered[result]?.text.trim());
    expect(Number.isInteger(pid) && pid > 0, JSON.stringify(cell)).toBe(true);
    expect(isGone(pid)).toBe(false);
    const kernel = kernelPid(server, await kernelId(page));
    expect(processTable().get(pid)?.ppid, "the child is the kernel's").toBe(kernel);

    await page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar [data-command='notebook:restart-kernel']").click();
    await page.locator(".jp-Dialog .jp-mod-accept").click();
    await waitFor(`child ${pid} to exit after the restart`, () => isGone(pid), 30_000);
    await waitForKernel(page, "forklab");
    // The same kernel id and connection file, a new process.
    const restarted = kernelPid(server, await kernelId(page));
    expect(restarted).toBeDefined();
    expect(restarted).not.toBe(kernel);
    expect(isGone(kernel!)).toBe(true);
    expect(browser.errors).toEqual([]);
    await closeNotebook(page);
  });

  it("shows late output, a child's line printed after its cell has finished, in that cell's process card", async () => {
    // The child prints its late line only once it has the word cell 2 sends, and cell 2 runs only
    // after cell 1 has finished: the line is late by construction, with no timer anywhere.
    writeScratch(server, "late-output.ipynb", [
      [
        'import { spawn, Pipe, Connection } from "forklab";',
        "const [here, there] = Pipe<string>();",
        "// Not awaited: this cell finishes while the child waits for the next cell's word.",
        "const late = spawn(async (conn: Connection<string>) => {",
        '  console.log("early line");',
        "  console.log(`late line: ${await conn.recv()}`);",
        "  conn.close();",
        "}, [there]);",
      ].join("\n"),
      'await here.send("sent by cell 2");\nawait late.join();\nlate.exitCode',
    ]);
    await openNotebook(page, "late-output.ipynb", false);
    await waitForKernel(page, "forklab");
    await runCell(page, 0);
    const first = await waitForCell(page, 0);
    expect(first.rendered.map((r) => r.text).join("\n"), JSON.stringify(first)).not.toContain("late line");
    await runCell(page, 1);
    await waitForCell(page, 1);
    await page.waitForFunction(
      () => {
        const card = (window as any).__forklabPanel.content.widgets[0].node.querySelector(".jp-OutputArea-output [data-forklab]");
        const text = card?.textContent ?? "";
        return text.includes("late line: sent by cell 2") && text.includes("exited with code 0");
      },
      undefined,
      { timeout: 60_000, polling: 100 },
    );
    const [cell1, cell2] = await cellsSeen(page);
    const why = JSON.stringify({ cell1, cell2, errors: browser.errors }, null, 1);
    // Cell 1 still holds its one card, updated in place; cell 2 shows only its result.
    expect(cell1!.outputs.filter((o) => o.forklab.length).length, why).toBe(1);
    expect(cell1!.rendered.map((r) => r.text).join("\n"), why).toContain("early line");
    expect(cell2!.outputs.map((o) => o.outputType), why).toEqual(["execute_result"]);
    expect(cell2!.rendered[0]!.text.trim(), why).toBe("0");
    expect(browser.errors, why).toEqual([]);
    await closeNotebook(page);
  });

  it("keeps the pictures readable in JupyterLab's dark theme", async () => {
    const name = [...trustedRuns].find(([, cells]) => cells.some((c) => c.outputs.some((o) => o.forklab.length)))?.[0];
    expect(name, "a notebook with forklab pictures ran before").toBeDefined();
    await command(page, "apputils:change-theme", { args: { theme: "JupyterLab Dark" } });
    await page.waitForFunction(() => document.body.dataset.jpThemeLight === "false", undefined, { timeout: 60_000 });
    await openNotebook(page, name!, false);
    const cells = await cellsSeen(page);
    // Untrusted when the reopening test ran before, trusted when only the runs did.
    expectRendered(name!, cells, browser.errors, cells.some((c) => c.trusted && c.outputs.length) ? "kept" : "stripped");
    const worst = await lowestContrast(page);
    expect(worst, "text in the pictures").toBeDefined();
    // 3:1, WCAG's minimum for large text and interface parts; body text in the light theme is ~15:1.
    expect(worst!.ratio, JSON.stringify(worst)).toBeGreaterThanOrEqual(3);
    await screenshot(page, `dark-${name}`);
    expect(browser.errors).toEqual([]);
    await closeNotebook(page);
    await command(page, "apputils:change-theme", { args: { theme: "JupyterLab Light" } });
  });
});

describe.skipIf(!available())("one notebook of the course in Notebook 7, in Chromium", () => {
  let server: JupyterServer;
  let browser: Browser;
  // One that showed pictures in JupyterLab (else one that starts processes).
  const fallback =
    NOTEBOOKS.find((n) =>
      JSON.parse(readFileSync(join(root, "notebooks", n), "utf8")).cells.some(
        (c: { cell_type: string; source: string[] | string }) => c.cell_type === "code" && [c.source].flat().join("").includes("spawn("),
      ),
    ) ?? NOTEBOOKS[0]!;

  beforeAll(async () => {
    server = await JupyterServer.start({ app: "jupyter-notebook", notebooks: join(root, "notebooks") });
    browser = await launchBrowser(server);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("runs a notebook of the course with its pictures rendered and no error", async () => {
    const name = withPictures[0] ?? fallback;
    const page = browser.page;
    await page.goto(server.url(`/notebooks/${name}`));
    await waitForApp(page);
    const cells = await runNotebook(page, name, true);
    server.remember();
    const why = report(name, cells, browser.errors);
    expect(cellErrors(cells), why).toEqual([]);
    expect(cells.filter((c) => c.type === "code" && c.executionCount === null).map((c) => c.index + 1), why).toEqual([]);
    expect(cells.flatMap((c) => c.outputs.flatMap((o) => o.forklab)).length, why).toBeGreaterThan(0);
    expectRendered(name, cells, browser.errors, "kept");
    // Notebook 7.6.5's shortcuts plugin reads the schema of a plugin its settings registry does
    // not have (notebook_core, pluginChanged handler), with or without user settings; that error
    // is Notebook's own. Any other is a failure.
    const notebookOwn = (error: string) => /reading 'schema'\)[\s\S]*\/static\/notebook\/notebook_core\./.test(error);
    expect(browser.errors.filter((error) => !notebookOwn(error)), why).toEqual([]);
    await closeNotebook(page);
  });
});
