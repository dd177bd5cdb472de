/**
 * Benchmark: `run` of a program that does nothing (`/usr/bin/true`), side by side with Node's own
 * `child_process.spawn`, execa 9 and Python's `subprocess.run`.
 *
 *     npx tsc -p . && node dist/bench/subprocess.js
 *
 * Two groups: output inherited (Python's default) and output captured. "node spawn + own group +
 * reaper" is Node's spawn with what forklab adds so that no program outlives its parent. Each variant runs
 * `CALLS` calls in a loop, `REPEATS` times, interleaved with the other variants; the row gives the
 * median of the per-loop milliseconds per call, and its ratio to Node's spawn in the same group.
 * Python times its own loop in bench/subprocess_run.py (the time to start Python itself is not counted).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { reapWithParent } from "../src/parent/reaper";
import { run } from "../src/parent/subprocess";
import { median, runAlone, type Row } from "./stats";

const CALLS = 200;
const REPEATS = 7;
const PROGRAM = existsSync("/usr/bin/true") ? "/usr/bin/true" : process.execPath;
const PROGRAM_ARGS = PROGRAM === process.execPath ? ["-e", ""] : [];

type Variant = { name: string; group: "inherit" | "capture"; call: () => Promise<unknown> };

/**
 * Node's spawn, plainly or with what forklab adds for "no orphans" (`guarded`): its own process
 * group and a registration with the reaper, withdrawn on exit. The ratio of the two is the cost
 * of that guard per start, measured in the same run.
 */
function nodeSpawn(capture: boolean, guarded = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROGRAM, PROGRAM_ARGS, { stdio: capture ? "pipe" : "inherit", detached: guarded });
    if (guarded) child.once("exit", reapWithParent(child.pid!, true));
    child.on("error", reject);
    if (capture) {
      const chunks: Buffer[] = [];
      child.stdout!.on("data", (c: Buffer) => chunks.push(c));
      child.stderr!.on("data", (c: Buffer) => chunks.push(c));
      child.on("close", () => resolve());
    } else {
      child.on("exit", () => resolve());
    }
  });
}

type Execa = (file: string, args: string[], options?: Record<string, unknown>) => Promise<unknown>;

async function loadExeca(): Promise<Execa | undefined> {
  // execa is ESM-only: a real import(), which tsc would otherwise turn into require().
  const importESM = new Function("specifier", "return import(specifier)") as (s: string) => Promise<{ execa: Execa }>;
  for (const specifier of ["execa", pathToFileURL(join(process.cwd(), "node_modules/execa/index.js")).href]) {
    try {
      return (await importESM(specifier)).execa;
    } catch {
      // try the next way to find it
    }
  }
  return undefined;
}


/** bench/subprocess_run.py: Python's subprocess.run in the same loops; undefined where python3 fails. */
function pythonTimes(calls: number, repeats: number): { inherit: number[]; capture: number[]; version: string } | undefined {
  const script = join(__dirname, "..", "..", "bench", "subprocess_run.py");
  const result = spawnSync("python3", [script, String(calls), String(repeats), PROGRAM, ...PROGRAM_ARGS], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (result.status !== 0) return undefined;
  return JSON.parse(result.stdout);
}

async function loop(call: () => Promise<unknown>, calls: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < calls; i++) await call();
  return (performance.now() - start) / calls;
}

/** Run the benchmark; rows in the shape every benchmark of forklab returns. */
export async function benchSubprocess(options: { calls?: number; repeats?: number } = {}): Promise<Row[]> {
  const calls = options.calls ?? CALLS;
  const repeats = options.repeats ?? REPEATS;
  const execa = await loadExeca();
  const program = [PROGRAM, ...PROGRAM_ARGS];
  const variants: Variant[] = [
    { name: "node child_process.spawn (inherit)", group: "inherit", call: () => nodeSpawn(false) },
    { name: "node spawn + own group + reaper (inherit)", group: "inherit", call: () => nodeSpawn(false, true) },
    { name: "forklab run (inherit)", group: "inherit", call: () => run(program, { live: false }) },
    { name: "node child_process.spawn (pipe)", group: "capture", call: () => nodeSpawn(true) },
    { name: "forklab run (captureOutput)", group: "capture", call: () => run(program, { captureOutput: true }) },
  ];
  if (execa) {
    variants.push(
      { name: "execa 9 (stdio inherit)", group: "inherit", call: () => execa(PROGRAM, PROGRAM_ARGS, { stdio: "inherit" }) },
      { name: "execa 9 (default: captured)", group: "capture", call: () => execa(PROGRAM, PROGRAM_ARGS) },
    );
  }
  const times = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  for (const v of variants) await loop(v.call, 20); // warm-up
  for (let r = 0; r < repeats; r++) {
    for (const v of variants) times.get(v)!.push(await loop(v.call, calls));
  }

  const medians = new Map<string, { group: string; median: number }>();
  for (const [v, t] of times) medians.set(v.name, { group: v.group, median: median(t) });
  const python = pythonTimes(calls, repeats);
  if (python) {
    medians.set(`python ${python.version} subprocess.run`, { group: "inherit", median: median(python.inherit) });
    medians.set(`python ${python.version} subprocess.run(capture_output=True)`, { group: "capture", median: median(python.capture) });
  }
  const anchors = { inherit: "node child_process.spawn (inherit)", capture: "node child_process.spawn (pipe)" } as const;
  const rows: Row[] = [];
  for (const [name, { group, median: m }] of medians) {
    const anchor = anchors[group as keyof typeof anchors];
    rows.push({ name, anchor, median_ms: Number(m.toFixed(4)), ratio: Number((m / medians.get(anchor)!.median).toFixed(3)) });
  }
  rows.sort((a, b) => a.anchor.localeCompare(b.anchor) || a.median_ms - b.median_ms);
  return rows;
}

if (require.main === module) {
  runAlone(
    `run ${PROGRAM} ${CALLS} times x ${REPEATS} repeats; node ${process.version}; ` +
      `NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? "set" : "unset"}`,
    () => benchSubprocess(),
  );
}
