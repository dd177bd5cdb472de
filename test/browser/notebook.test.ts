/**
 * End to end in a real browser: Debian's classic Jupyter Notebook 6.4 runs a notebook on the
 * forklab kernel, driven by Chromium through playwright-core.
 *
 * Cell 1 spawns a child that prints "first", waits a second (inside the child) and prints
 * "second"; the cell does not await it, so it finishes while the child still runs. Cell 2 awaits
 * the child. The process card in cell 1's output must end up showing "second" and exit code 0:
 * late output reaches the first cell's display, by display id, after that cell has finished.
 *
 * Everything Jupyter and Chromium write goes to one temporary folder (kernelspec prefix, data,
 * runtime, config, HOME, browser profile). Skipped loudly without /usr/bin/chromium or
 * /usr/bin/jupyter-notebook; FORKLAB_REQUIRE_JUPYTER=1 makes that a failure.
 *
 * FORKLAB_BROWSER_SCREENSHOT=FILE keeps the screenshot of the run notebook; FORKLAB_BROWSER_LOG=FILE
 * keeps the messages the page received and the cells' outputs, as JSON.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../kernel/kernelspec";
import { freePort } from "../../kernel/runner/launch";
import { processTable, waitFor } from "../support/processes";

const CHROMIUM = "/usr/bin/chromium";
const JUPYTER_NOTEBOOK = "/usr/bin/jupyter-notebook";
const NOTEBOOK = "late-output.ipynb";
const root = packageRoot();

function browserTestAvailable(): boolean {
  const missing = [CHROMIUM, JUPYTER_NOTEBOOK].filter((file) => !existsSync(file));
  if (missing.length === 0) return true;
  const message =
    `${missing.join(" and ")} not found: the browser test of the classic notebook needs them. ` +
    `Install Debian's chromium and jupyter-notebook.`;
  if (process.env.FORKLAB_REQUIRE_JUPYTER === "1") throw new Error(`${message} (FORKLAB_REQUIRE_JUPYTER=1)`);
  console.warn(`\n!!! SKIPPED: ${message}\n`);
  return false;
}

/** The notebook under test, nbformat 4.5 with the forklab kernelspec. */
function lateOutputNotebook() {
  const code = (id: string, source: string) => ({
    cell_type: "code",
    execution_count: null,
    id,
    metadata: {},
    outputs: [],
    source: source.split(/(?<=\n)/),
  });
  return {
    cells: [
      code(
        "spawn",
        [
          `import { spawn } from "forklab";`,
          ``,
          `// Not awaited: this cell finishes while the child still runs.`,
          `const p = spawn(async () => {`,
          `  console.log("first");`,
          `  await new Promise((resolve) => setTimeout(resolve, 1000));`,
          `  console.log("second");`,
          `});`,
        ].join("\n"),
      ),
      code("join", `await p.join();\np.exitCode`),
    ],
    metadata: {
      kernelspec: { name: "forklab", display_name: "TypeScript (forklab)", language: "typescript" },
      language_info: { name: "typescript" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

/** Whether `promise` settles within `ms` (a deadline: resolves as soon as it settles). */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<boolean>((done) => (timer = setTimeout(done, ms, false)));
  return Promise.race([promise.then(() => true), deadline]).finally(() => clearTimeout(timer));
}

/** Every live descendant of `pid`, with its command line. */
function descendants(pid: number): Map<number, string> {
  const table = processTable();
  const found = new Map<number, string>();
  let frontier = [pid];
  while (frontier.length) {
    const next: number[] = [];
    for (const [child, info] of table) {
      if (frontier.includes(info.ppid) && !found.has(child)) {
        found.set(child, info.cmdline);
        next.push(child);
      }
    }
    frontier = next;
  }
  return found;
}

/** Those of `processes` still alive with the same command line (so not a reused pid). */
function stillAlive(processes: Map<number, string>): Map<number, string> {
  const table = processTable();
  return new Map([...processes].filter(([pid, cmdline]) => table.get(pid)?.cmdline === cmdline));
}

interface Seen {
  channel: string;
  type: string;
  parent: string | undefined;
  state?: string;
  displayId?: string;
  html?: string;
}

describe.skipIf(!browserTestAvailable())("classic Jupyter Notebook in Chromium", () => {
  let work: string;
  let server: ChildProcess;
  let serverExited: Promise<void>;
  let serverLog = "";
  let baseUrl: string;
  let token: string;
  let context: BrowserContext | undefined;
  let page: Page;
  let kernelProcesses = new Map<number, string>();
  const pageErrors: string[] = [];
  const serverRunning = () => server?.pid !== undefined && server.exitCode === null && server.signalCode === null;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-server.pid!, signal);
    } catch {
      // the group is gone
    }
  };
  const kernelsOfServer = () => new Map([...descendants(server.pid!)].filter(([, cmdline]) => /forklab\.js kernel/.test(cmdline)));

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "forklab-browser-"));
    const dirs = Object.fromEntries(
      ["prefix", "notebooks", "data", "runtime", "config", "home", "profile", "screenshots"].map((name) => {
        const dir = join(work, name);
        mkdirSync(dir, { recursive: true });
        return [name, dir];
      }),
    ) as Record<string, string>;

    const install = spawnSync(process.execPath, [join(root, "bin/forklab.js"), "install", "--prefix", dirs.prefix], { encoding: "utf8" });
    expect(install.status, install.stderr).toBe(0);
    writeFileSync(join(dirs.notebooks, NOTEBOOK), JSON.stringify(lateOutputNotebook(), null, 1) + "\n");

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: dirs.home,
      JUPYTER_PATH: join(dirs.prefix, "share/jupyter"),
      JUPYTER_DATA_DIR: dirs.data,
      JUPYTER_RUNTIME_DIR: dirs.runtime,
      JUPYTER_CONFIG_DIR: dirs.config,
      IPYTHONDIR: join(dirs.home, ".ipython"),
      XDG_CONFIG_HOME: join(dirs.home, ".config"),
      XDG_CACHE_HOME: join(dirs.home, ".cache"),
      XDG_DATA_HOME: join(dirs.home, ".local/share"),
      BROWSER: "true",
    };
    const port = await freePort("127.0.0.1");
    token = randomBytes(24).toString("hex");
    baseUrl = `http://127.0.0.1:${port}`;
    const args = [
      "--no-browser",
      "--ip=127.0.0.1",
      `--port=${port}`,
      "--port-retries=0",
      `--NotebookApp.token=${token}`,
      `--notebook-dir=${dirs.notebooks}`,
      ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
    ];
    // Its own process group, so the teardown can signal the server and whatever it left behind.
    server = spawn(JUPYTER_NOTEBOOK, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    server.stdout!.on("data", (chunk) => (serverLog += chunk));
    server.stderr!.on("data", (chunk) => (serverLog += chunk));
    serverExited = new Promise((done) => server.once("exit", () => done()));
    let exited = false;
    void serverExited.then(() => (exited = true));

    await waitFor(
      `the notebook server at ${baseUrl}/api`,
      async () => {
        if (exited) throw new Error(`jupyter-notebook exited early:\n${serverLog}`);
        try {
          const response = await fetch(`${baseUrl}/api`, { headers: { Authorization: `token ${token}` } });
          return response.ok && typeof ((await response.json()) as { version?: string }).version === "string";
        } catch {
          return false; // not listening yet
        }
      },
      60_000,
    );
    const specs = (await (await fetch(`${baseUrl}/api/kernelspecs`, { headers: { Authorization: `token ${token}` } })).json()) as {
      kernelspecs: Record<string, unknown>;
    };
    expect(Object.keys(specs.kernelspecs)).toContain("forklab");

    context = await chromium.launchPersistentContext(dirs.profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      env: Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[0] !== "BROWSER")),
      viewport: { width: 1100, height: 800 },
      colorScheme: "light",
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (error) => pageErrors.push(String(error)));
  });

  afterAll(async () => {
    await context?.close();
    // Whatever the server started (its kernels have sessions of their own, so the process group
    // does not reach them), taken before the server goes and they are re-parented.
    const started = new Map([...kernelProcesses, ...(serverRunning() ? descendants(server.pid!) : [])]);
    if (serverRunning()) {
      signalGroup("SIGTERM");
      if (!(await settlesWithin(serverExited, 20_000))) signalGroup("SIGKILL");
      await serverExited;
    }
    await waitFor("leftover processes to exit", () => stillAlive(started).size === 0, 10_000).catch(() => {
      for (const pid of stillAlive(started).keys()) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // exited meanwhile
        }
      }
    });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("shows late child output in the first cell's process card, after that cell has finished", async () => {
    await page.goto(`${baseUrl}/notebooks/${NOTEBOOK}?token=${token}`);
    await page.waitForFunction(
      () => {
        const w = window as any;
        const kernel = w.Jupyter?.notebook?.kernel;
        return (
          kernel?.is_connected?.() &&
          kernel.name === "forklab" &&
          document.querySelector("#kernel_indicator_icon")?.classList.contains("kernel_idle_icon")
        );
      },
      undefined,
      { timeout: 90_000 },
    );
    kernelProcesses = kernelsOfServer();
    expect(kernelProcesses.size, JSON.stringify([...descendants(server.pid!)])).toBe(1);

    // Record what the kernel sends, in arrival order, before running anything.
    await page.evaluate(() => {
      const w = window as any;
      const kernel = w.Jupyter.notebook.kernel;
      const seen: unknown[] = (w.__forklabSeen = []);
      const record = (channel: string, msg: any) =>
        seen.push({
          channel,
          type: msg.header.msg_type,
          parent: msg.parent_header?.msg_id,
          state: msg.content?.execution_state ?? msg.content?.status,
          displayId: msg.content?.transient?.display_id,
          html: msg.content?.data?.["text/html"],
        });
      const iopub = kernel._handle_iopub_message.bind(kernel);
      kernel._handle_iopub_message = (msg: any) => (record("iopub", msg), iopub(msg));
      const shell = kernel._handle_shell_reply.bind(kernel);
      kernel._handle_shell_reply = (msg: any) => (record("shell", msg), shell(msg));
      w.Jupyter.notebook.execute_all_cells();
    });

    // The card in cell 1 (not a new output anywhere else) reaches its final state.
    await page.waitForFunction(
      () => {
        const cells = document.querySelectorAll("#notebook-container .cell.code_cell");
        const card = cells[0]?.querySelector(".output_area .output_html");
        const text = card?.textContent ?? "";
        return text.includes("second") && text.includes("exited with code 0");
      },
      undefined,
      { timeout: 60_000 },
    );
    // Cell 2 has finished: its prompt shows an execution count, not "*".
    await page.waitForFunction(
      () => {
        const cells = (window as any).Jupyter.notebook.get_cells();
        return cells[1].input_prompt_number !== undefined && cells[1].input_prompt_number !== "*" && cells[1].input_prompt_number !== null;
      },
      undefined,
      { timeout: 60_000 },
    );

    const state = await page.evaluate(() => {
      const w = window as any;
      const cells = w.Jupyter.notebook.get_cells();
      const dom = Array.from(document.querySelectorAll("#notebook-container .cell.code_cell"));
      return {
        seen: w.__forklabSeen as Seen[],
        msgIds: cells.map((cell: any) => cell.last_msg_id as string),
        prompts: cells.map((cell: any) => cell.input_prompt_number),
        outputs: cells.map((cell: any) => cell.output_area.outputs.map((o: any) => ({ type: o.output_type, data: o.data, text: o.text }))),
        areas: dom.map((cell) =>
          Array.from(cell.querySelectorAll(".output_area .output_subarea")).map((area) => ({
            className: area.className,
            text: area.textContent ?? "",
            elements: area.querySelectorAll("div, table, span, b").length,
          })),
        ),
      };
    });
    const report = JSON.stringify(state, null, 1);

    // Cell 1: one output, the card, rendered as HTML with its own elements.
    expect(state.areas[0], report).toHaveLength(1);
    const card = state.areas[0]![0]!;
    expect(card.className, report).toContain("output_html");
    expect(card.elements, report).toBeGreaterThan(3);
    expect(card.text, report).toContain("first");
    expect(card.text, report).toContain("second");
    expect(card.text, report).toContain("exited with code 0");
    expect(card.text, report).toMatch(/exit code\s*0/);
    // Cell 2: no second card; its result is the exit code.
    expect(state.outputs[1], report).toEqual([{ type: "execute_result", data: { "text/plain": "0" }, text: undefined }]);
    expect(state.prompts, report).toEqual([1, 2]);

    // On the wire: cell 1 replied and went idle before the update carrying "second" arrived, and
    // that update was an update_display_data for the display cell 1 created.
    const [cell1, cell2] = state.msgIds;
    const seen = state.seen;
    const reply1 = seen.findIndex((m) => m.channel === "shell" && m.type === "execute_reply" && m.parent === cell1);
    const idle1 = seen.findIndex((m) => m.type === "status" && m.state === "idle" && m.parent === cell1);
    const created = seen.find((m) => m.type === "display_data" && m.parent === cell1 && m.displayId);
    expect(reply1, report).toBeGreaterThanOrEqual(0);
    expect(idle1, report).toBeGreaterThanOrEqual(0);
    expect(created, report).toBeDefined();
    const late = seen.findIndex((m) => m.type === "update_display_data" && m.displayId === created!.displayId && m.html?.includes("second"));
    expect(late, report).toBeGreaterThan(Math.max(reply1, idle1));
    // The kernel sends it under cell 1's request, the cell that started the process.
    expect(seen[late]!.parent, report).toBe(cell1);
    if (process.env.FORKLAB_BROWSER_LOG) writeFileSync(process.env.FORKLAB_BROWSER_LOG, report);
    expect(seen.filter((m) => m.type === "display_data" && m.parent === cell2), report).toEqual([]);
    expect(pageErrors, report).toEqual([]);

    // A picture of the notebook, for people and for the record.
    const shot = join(work, "screenshots", "late-output.png");
    await page.screenshot({ path: shot, fullPage: true });
    const png = readFileSync(shot);
    expect(statSync(shot).size).toBeGreaterThan(1000);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    if (process.env.FORKLAB_BROWSER_SCREENSHOT) writeFileSync(process.env.FORKLAB_BROWSER_SCREENSHOT, png);
    expect(kernelsOfServer()).toEqual(kernelProcesses);
  });

  it("leaves no kernel or child process behind when the server stops", async () => {
    expect(kernelProcesses.size).toBe(1);
    const everything = new Map([...descendants(server.pid!), ...kernelProcesses]);
    await context!.close();
    context = undefined;
    // SIGTERM: the server shuts its kernels down, then exits.
    signalGroup("SIGTERM");
    await serverExited;
    await waitFor("the kernel and its children to exit", () => stillAlive(everything).size === 0, 30_000).catch((error: Error) => {
      throw new Error(`${error.message}; still running: ${JSON.stringify([...stillAlive(everything)])}\n${serverLog}`);
    });
  });
});
