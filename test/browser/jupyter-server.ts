/**
 * A real Jupyter server (JupyterLab 4 or Notebook 7 from the project's environment) and a real
 * Chromium driving it, for the browser test and the screenshots script.
 *
 * Everything they write goes to one temporary folder (the copy of the notebooks to a temporary
 * folder .browser-test-* in the checkout): the kernelspec prefix, Jupyter's data,
 * runtime and config folders, JupyterLab's settings and workspaces, HOME and the browser profile.
 * The server listens on 127.0.0.1 with a random token. It runs in its own process group; its
 * kernels lead sessions of their own, so `stop()` takes the server's descendants before signalling
 * it, waits for every one of them to exit, and kills by pid whatever is left.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { packageRoot } from "../../kernel/kernelspec";
import { freePort } from "../../kernel/runner/launch";
import { jupyterExecutable } from "../support/jupyter";
import { processTable, waitFor } from "../support/processes";

export const CHROMIUM = "/usr/bin/chromium";
/** The flags Chromium needs here: no sandbox as root, and nothing that reaches the network. */
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export type JupyterApp = "jupyter-lab" | "jupyter-notebook";

/** What is missing to run the browser test, or an empty list. */
export function browserTestMissing(): string[] {
  const missing: string[] = [];
  if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (Debian's chromium)`);
  for (const app of ["jupyter-lab", "jupyter-notebook"] as const) {
    if (!jupyterExecutable(app)) missing.push(`${app} in the project's environment (npx forklab setup)`);
  }
  return missing;
}

/** Every live descendant of `pid`, with its command line. */
export function descendants(pid: number): Map<number, string> {
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
export function stillAlive(processes: Map<number, string>): Map<number, string> {
  const table = processTable();
  return new Map([...processes].filter(([pid, cmdline]) => table.get(pid)?.cmdline === cmdline));
}

/** User settings for JupyterLab: a theme, and no news or update checks (there is no network). */
function writeSettings(dir: string, theme: string, app: JupyterApp): void {
  const write = (plugin: string, settings: object) => {
    const file = join(dir, `${plugin}.jupyterlab-settings`);
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, JSON.stringify(settings));
  };
  write("@jupyterlab/apputils-extension/themes", { theme });
  // Notebook 7 has no news (and fails on settings of a plugin it lacks).
  if (app === "jupyter-lab") write("@jupyterlab/apputils-extension/notification", { fetchNews: "false", checkForUpdates: false });
  // Every cell in the DOM, laid out: outputs can be measured and the screenshots show them all.
  write("@jupyterlab/notebook-extension/tracker", { windowingMode: "none" });
}

export interface ServerOptions {
  app: JupyterApp;
  /** Copied into the server's root folder (the notebooks run and are saved there, not here). */
  notebooks: string;
  theme?: "JupyterLab Light" | "JupyterLab Dark";
}

export class JupyterServer {
  readonly work: string;
  readonly root: string;
  readonly baseUrl: string;
  readonly token: string;
  readonly env: NodeJS.ProcessEnv;
  #server: ChildProcess;
  #exited: Promise<void>;
  #log = "";
  /** Every process the server started that the test has seen, for the teardown. */
  #seen = new Map<number, string>();

  private constructor(work: string, root: string, port: number, token: string, env: NodeJS.ProcessEnv, server: ChildProcess) {
    this.work = work;
    this.root = root;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.token = token;
    this.env = env;
    this.#server = server;
    server.stdout!.on("data", (chunk) => (this.#log += chunk));
    server.stderr!.on("data", (chunk) => (this.#log += chunk));
    this.#exited = new Promise((done) => server.once("exit", () => done()));
  }

  get pid(): number {
    return this.#server.pid!;
  }

  get log(): string {
    return this.#log;
  }

  get running(): boolean {
    return this.#server.exitCode === null && this.#server.signalCode === null;
  }

  static async start(options: ServerOptions): Promise<JupyterServer> {
    const work = mkdtempSync(join(tmpdir(), "forklab-browser-"));
    const dirs = Object.fromEntries(
      ["prefix", "data", "runtime", "config", "settings", "workspaces", "home"].map((name) => {
        const dir = join(work, name);
        mkdirSync(dir, { recursive: true });
        return [name, dir];
      }),
    ) as Record<string, string>;
    const root = packageRoot();
    // The notebooks' copy stays inside the checkout, as the course does: a notebook may resolve
    // "forklab/package.json" by the package's self-reference, which works only within it.
    dirs.root = mkdtempSync(join(root, ".browser-test-"));
    const install = spawnSync(process.execPath, [join(root, "bin/forklab.js"), "install", "--prefix", dirs.prefix], { encoding: "utf8" });
    if (install.status !== 0) throw new Error(`forklab install failed: ${install.stderr}`);
    cpSync(options.notebooks, dirs.root, {
      recursive: true,
      filter: (source) => !/(^|\/)(executed|\.ipynb_checkpoints)(\/|$)|\.nbconvert\.ipynb$/.test(source.slice(options.notebooks.length)),
    });
    writeSettings(dirs.settings, options.theme ?? "JupyterLab Light", options.app);

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: dirs.home,
      JUPYTER_PATH: join(dirs.prefix, "share/jupyter"),
      JUPYTER_DATA_DIR: dirs.data,
      JUPYTER_RUNTIME_DIR: dirs.runtime,
      JUPYTER_CONFIG_DIR: dirs.config,
      JUPYTERLAB_SETTINGS_DIR: dirs.settings,
      JUPYTERLAB_WORKSPACES_DIR: dirs.workspaces,
      IPYTHONDIR: join(dirs.home, ".ipython"),
      XDG_CONFIG_HOME: join(dirs.home, ".config"),
      XDG_CACHE_HOME: join(dirs.home, ".cache"),
      XDG_DATA_HOME: join(dirs.home, ".local/share"),
      BROWSER: "true",
    };
    const port = await freePort("127.0.0.1");
    const token = randomBytes(24).toString("hex");
    const appClass = options.app === "jupyter-lab" ? "LabApp" : "JupyterNotebookApp";
    const args = [
      "--no-browser",
      "--ip=127.0.0.1",
      `--port=${port}`,
      "--port-retries=0",
      `--IdentityProvider.token=${token}`,
      `--ServerApp.root_dir=${dirs.root}`,
      // window.jupyterapp: the test drives the page through JupyterLab's own commands and models.
      `--${appClass}.expose_app_in_browser=True`,
      ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
    ];
    // Its own process group, so that stop() can signal the server and whatever it left behind.
    const child = spawn(jupyterExecutable(options.app)!, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const server = new JupyterServer(work, dirs.root, port, token, env, child);
    let exited = false;
    void server.#exited.then(() => (exited = true));
    try {
      await waitFor(
        `the Jupyter server at ${server.baseUrl}/api`,
        async () => {
          if (exited) throw new Error(`${options.app} exited early:\n${server.log}`);
          try {
            const response = await fetch(`${server.baseUrl}/api/status`, { headers: { Authorization: `token ${token}` } });
            return response.ok;
          } catch {
            return false; // not listening yet
          }
        },
        90_000,
      );
    } catch (error) {
      // Nothing of a server that never came up stays behind.
      await server.stop().catch(() => {});
      throw error;
    }
    return server;
  }

  /** The server's kernels (forklab's), by pid; remembered for the teardown. */
  kernels(): Map<number, string> {
    const all = descendants(this.pid);
    for (const [pid, cmdline] of all) this.#seen.set(pid, cmdline);
    return new Map([...all].filter(([, cmdline]) => /forklab\.js kernel/.test(cmdline)));
  }

  /** Remember every process below the server now (children of kernels included). */
  remember(): void {
    this.kernels();
  }

  url(path: string): string {
    return `${this.baseUrl}${path}${path.includes("?") ? "&" : "?"}token=${this.token}`;
  }

  /**
   * Stop the server with SIGTERM (it shuts its kernels down first), wait for it and for every
   * process it started to exit; kill by pid what is still there after the deadline, and report it.
   */
  async stop(): Promise<void> {
    if (this.running) this.remember();
    const started = new Map(this.#seen);
    if (this.running) {
      try {
        process.kill(-this.pid, "SIGTERM");
      } catch {
        // the group is gone
      }
      const killLater = setTimeout(() => {
        try {
          process.kill(-this.pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }, 20_000);
      await this.#exited;
      clearTimeout(killLater);
    }
    try {
      await waitFor("the server's kernels and their children to exit", () => stillAlive(started).size === 0, 20_000);
    } catch (error) {
      const left = stillAlive(started);
      for (const pid of left.keys()) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // exited meanwhile
        }
      }
      throw new Error(`${(error as Error).message}; left behind: ${JSON.stringify([...left])}`);
    } finally {
      rmSync(this.work, { recursive: true, force: true });
      rmSync(this.root, { recursive: true, force: true });
    }
  }
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Uncaught exceptions and console errors of the page, as text. */
  errors: string[];
  close(): Promise<void>;
}

/** Chromium with a fresh profile, light or dark colour scheme, recording the page's errors. */
export async function launchBrowser(server: JupyterServer, viewport = { width: 1200, height: 900 }): Promise<Browser> {
  const profile = mkdtempSync(join(server.work, "profile-"));
  const env = Object.fromEntries(Object.entries(server.env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[0] !== "BROWSER"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    env,
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.stack ?? error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console.error: ${message.text()} (${message.location().url})`);
  });
  return { context, page, errors, close: () => context.close() };
}
