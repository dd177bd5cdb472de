/**
 * Driving a notebook in JupyterLab 4 or Notebook 7 through the page's own application object
 * (`window.jupyterapp`, exposed by the server's expose_app_in_browser): open a notebook, wait for
 * its kernel, run all cells, and read back what the cells hold and what the page shows.
 *
 * The functions passed to page.evaluate run in the browser, so they reach JupyterLab's objects
 * untyped.
 */
import type { Page } from "playwright-core";

/** One output of a cell: what the kernel sent (model) and what the page rendered (dom). */
export interface OutputSeen {
  outputType: string;
  mimes: string[];
  /** data-forklab markers in the output's text/html, as the kernel sent it. */
  forklab: string[];
  ename?: string;
  evalue?: string;
  traceback?: string;
}

export interface RenderedOutput {
  /** The renderer's classes (jp-RenderedHTMLCommon, jp-RenderedText, ...). */
  className: string;
  /** data-forklab markers found in the rendered DOM (gone when the sanitizer strips them). */
  forklab: string[];
  text: string;
  /** Elements that kept a style attribute: the picture's inline styles survived. */
  styled: number;
  styles: string[];
  /** Elements in the output: a picture, not a line of fallback text. */
  elements: number;
  height: number;
}

export interface CellSeen {
  index: number;
  type: string;
  executionCount: number | null;
  trusted: boolean;
  source: string;
  outputs: OutputSeen[];
  rendered: RenderedOutput[];
}

/** Wait until the page's application has started and restored its layout. */
export async function waitForApp(page: Page): Promise<void> {
  await page.waitForFunction(() => (window as any).jupyterapp?.shell !== undefined, undefined, { timeout: 120_000 });
  await page.evaluate(async () => {
    await (window as any).jupyterapp.restored;
  });
}

/**
 * Open `path` in JupyterLab (in a tab of this page) or take the page's notebook in Notebook 7 (one
 * notebook per page), make it the current one, and wait for its session.
 */
export async function openNotebook(page: Page, path: string, inPlace: boolean): Promise<void> {
  await page.evaluate(
    async ({ path, inPlace }) => {
      const app = (window as any).jupyterapp;
      const w = window as any;
      let panel: any;
      if (inPlace) {
        panel = app.shell.currentWidget;
        for (let i = 0; !panel?.context && i < 600; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          panel = app.shell.currentWidget;
        }
      } else {
        panel = await app.commands.execute("docmanager:open", { path, factory: "Notebook" });
      }
      if (!panel?.context || panel.context.path !== path) throw new Error(`no notebook panel for ${path}`);
      await panel.context.ready;
      await panel.sessionContext.ready;
      app.shell.activateById(panel.id);
      w.__forklabPanel = panel;
    },
    { path, inPlace },
  );
}

/** The current notebook's kernel: its name, status and connection, as the page sees them. */
export async function kernelState(page: Page): Promise<{ name?: string; status?: string; connection?: string; displayName?: string }> {
  return page.evaluate(() => {
    const panel = (window as any).__forklabPanel;
    const kernel = panel?.sessionContext?.session?.kernel;
    return { name: kernel?.name, status: kernel?.status, connection: kernel?.connectionStatus, displayName: panel?.sessionContext?.kernelDisplayName };
  });
}

/** Wait until the current notebook's kernel is `name`, connected and idle. */
export async function waitForKernel(page: Page, name: string, timeout = 120_000): Promise<void> {
  await page.waitForFunction(
    (name) => {
      const kernel = (window as any).__forklabPanel?.sessionContext?.session?.kernel;
      return kernel?.name === name && kernel.connectionStatus === "connected" && kernel.status === "idle";
    },
    name,
    { timeout },
  );
}

/**
 * Run a notebook command (`notebook:run-all-cells`, ...) on the current notebook. With `wait`
 * false it returns once the command has started: a run command's promise settles only when its
 * cells finish, and a spinning cell never does.
 */
export async function command(page: Page, id: string, { wait = true, args = {} }: { wait?: boolean; args?: object } = {}): Promise<void> {
  await page.evaluate(
    async ({ id, args, wait }) => {
      const app = (window as any).jupyterapp;
      const panel = (window as any).__forklabPanel;
      if (panel) app.shell.activateById(panel.id);
      const done = app.commands.execute(id, args);
      if (wait) await done;
      else done.catch((error: unknown) => console.error(`${id} failed: ${error}`));
    },
    { id, args, wait },
  );
}

/**
 * Wait until the current notebook has finished running: the kernel is idle, no cell waits or runs
 * (no `*` prompt), and either every code cell has run or one stopped the run with an error.
 */
export async function waitForRunToEnd(page: Page, timeout: number): Promise<void> {
  await page.waitForFunction(
    () => {
      const panel = (window as any).__forklabPanel;
      const kernel = panel?.sessionContext?.session?.kernel;
      if (kernel?.status !== "idle") return false;
      const cells = panel.content.widgets.filter((cell: any) => cell.model.type === "code");
      if (cells.some((cell: any) => cell.model.executionState === "running" || /\*/.test(cell.promptNode?.textContent ?? ""))) return false;
      const failed = cells.some((cell: any) => cell.model.outputs.toJSON().some((o: any) => o.output_type === "error"));
      return failed || cells.every((cell: any) => cell.model.executionCount !== null);
    },
    undefined,
    { timeout, polling: 250 },
  );
}

/** Everything the current notebook's cells hold and show. */
export async function cellsSeen(page: Page): Promise<CellSeen[]> {
  return page.evaluate(() => {
    const panel = (window as any).__forklabPanel;
    const markers = (html: unknown) => [...String(html ?? "").matchAll(/data-forklab="([^"]+)"/g)].map((m) => m[1]!);
    return panel.content.widgets.map((cell: any, index: number) => {
      const outputs = cell.model.type === "code" ? cell.model.outputs.toJSON() : [];
      const nodes: Element[] = cell.model.type === "code" ? Array.from(cell.node.querySelectorAll(".jp-OutputArea-output")) : [];
      return {
        index,
        type: cell.model.type,
        executionCount: cell.model.type === "code" ? cell.model.executionCount : null,
        trusted: cell.model.trusted,
        source: cell.model.sharedModel.getSource(),
        outputs: outputs.map((o: any) => ({
          outputType: o.output_type,
          mimes: Object.keys(o.data ?? {}),
          forklab: markers(o.data?.["text/html"]),
          ename: o.ename,
          evalue: o.evalue,
          traceback: o.traceback?.join("\n"),
        })),
        rendered: nodes.map((node) => ({
          className: node.className,
          forklab: Array.from(node.querySelectorAll("[data-forklab]")).map((e) => e.getAttribute("data-forklab")!),
          text: (node.textContent ?? "").slice(0, 2000),
          styled: Array.from(node.querySelectorAll("[style]")).filter((e) => e.getAttribute("style")!.trim()).length,
          // An empty style="" is dropped by the sanitizer and means nothing either way.
          // Normalized as the sanitizer writes them back (no empty declarations, no trailing ";").
          styles: Array.from(node.querySelectorAll("[style]"))
            .map((e) => e.getAttribute("style")!.split(";").map((d) => d.trim()).filter(Boolean).join(";"))
            .filter(Boolean),
          elements: node.querySelectorAll("*").length,
          height: node.getBoundingClientRect().height,
        })),
      };
    });
  });
}

/** Save the current notebook with its outputs. */
export async function saveNotebook(page: Page): Promise<void> {
  await page.evaluate(async () => {
    await (window as any).__forklabPanel.context.save();
  });
}

/** Shut the current notebook's kernel down and close it without asking. */
export async function closeNotebook(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const panel = (window as any).__forklabPanel;
    await panel.sessionContext.shutdown();
    panel.context.model.dirty = false;
    panel.dispose();
    (window as any).__forklabPanel = undefined;
  });
}

/** The current notebook's kernel's id as the server knows it. */
export async function kernelId(page: Page): Promise<string | undefined> {
  return page.evaluate(() => (window as any).__forklabPanel?.sessionContext?.session?.kernel?.id);
}

/**
 * The lowest contrast ratio (WCAG) between a text's colour and the background behind it, over the
 * text of the current notebook's HTML outputs; with the element that has it.
 */
export async function lowestContrast(page: Page): Promise<{ ratio: number; text: string; color: string; background: string } | undefined> {
  return page.evaluate(() => {
    const parse = (css: string) => {
      const m = /rgba?\(([^)]+)\)/.exec(css);
      if (!m) return undefined;
      const [r, g, b, a = 1] = m[1]!.split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r: r!, g: g!, b: b!, a };
    };
    const luminance = ({ r, g, b }: { r: number; g: number; b: number }) => {
      const f = (c: number) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    /** The first mostly opaque background at or above `el`. */
    const background = (el: Element | null) => {
      for (; el; el = el.parentElement) {
        const c = parse(getComputedStyle(el).backgroundColor);
        if (c && c.a >= 0.5) return c;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const panel = (window as any).__forklabPanel;
    let worst: { ratio: number; text: string; color: string; background: string } | undefined;
    // Untrusted HTML has lost its data-forklab markers: every HTML output counts.
    for (const picture of Array.from(panel.node.querySelectorAll(".jp-OutputArea-output.jp-RenderedHTMLCommon")) as Element[]) {
      for (const el of [picture, ...Array.from(picture.querySelectorAll("*"))]) {
        const text = Array.from(el.childNodes)
          .filter((n) => n.nodeType === Node.TEXT_NODE)
          .map((n) => n.textContent ?? "")
          .join("")
          .trim();
        if (!text) continue;
        const fg = parse(getComputedStyle(el).color)!;
        const bg = background(el);
        const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
        const ratio = (hi! + 0.05) / (lo! + 0.05);
        if (!worst || ratio < worst.ratio) worst = { ratio, text: text.slice(0, 80), color: getComputedStyle(el).color, background: `rgb(${bg.r}, ${bg.g}, ${bg.b})` };
      }
    }
    return worst;
  });
}
