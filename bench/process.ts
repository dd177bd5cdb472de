/**
 * Start-to-result latency of a process: from `spawn()` to the target's (trivial) result, for
 * forklab cold ("spawn": a fresh Node each time) and warm (a booted spare, Python's forkserver
 * idea), next to Python's multiprocessing.Process with the spawn, forkserver and fork start methods
 * (time from start() to receiving the result over a Pipe, in bench/process.py). Medians over repeats,
 * made in rounds in which Python and each forklab variant take turns.
 *
 * Where NODE_EXTRA_CA_CERTS points at a certificate bundle, every Node start loads it; forklab
 * children are measured with it set (as the environment has it) and unset.
 *
 * Run: npx tsc -p . && node dist/bench/process.js [repeats]
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { Process, setStartMethod } from "../src/parent/process";
import { spareBooted } from "../src/parent/process/child-handle";
import { median, runAlone, type Row } from "./stats";

const ROOT = path.resolve(__dirname, "..", "..");
const trivial = (x: number) => x + 1;
const PYTHON_METHODS = ["spawn", "forkserver", "fork"] as const;
/** Python and forklab take turns this many times; each turn runs repeats / ROUNDS of each. */
const ROUNDS = 5;

async function nodeRuns(method: "spawn" | "warm", env: NodeJS.ProcessEnv, repeats: number): Promise<number[]> {
  setStartMethod("spawn");
  const options = { output: "none" as const, env, startMethod: method };
  // One run first: loads the target checker (TypeScript) once per parent.
  await new Process({ target: trivial, args: [0], ...options }).start().join();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    if (method === "warm") {
      const { prepareSpare } = await import("../src/parent/process/child-handle");
      prepareSpare({ cwd: process.cwd(), env, execArgv: [] });
      await spareBooted({ cwd: process.cwd(), env, execArgv: [] });
    }
    const t0 = performance.now();
    const p = new Process({ target: trivial, args: [i], ...options }).start();
    await p.result;
    times.push(performance.now() - t0);
    await p.join();
  }
  return times;
}

/** bench/process.py: Python's Process with each start method; undefined where python3 fails. */
function pythonRuns(repeats: number): { version: string; runs: Record<string, number[]> } | undefined {
  const out = spawnSync("python3", [path.join(ROOT, "bench", "process.py"), String(repeats)], { encoding: "utf8" });
  if (out.status === 0) return JSON.parse(out.stdout);
  // The forklab rows are still worth having; they are shown without their anchors.
  console.error(`process bench: bench/process.py failed (${out.error?.message ?? `exit ${out.status}`}), no Python rows:\n${out.stderr.slice(-2000)}`);
  return undefined;
}

export async function benchProcess(options: { repeats?: number } = {}): Promise<Row[]> {
  const repeats = options.repeats ?? 30;
  const withCerts = { ...process.env };
  const withoutCerts = { ...process.env };
  delete withoutCerts.NODE_EXTRA_CA_CERTS;
  const envs: [string, NodeJS.ProcessEnv][] = process.env.NODE_EXTRA_CA_CERTS
    ? [["NODE_EXTRA_CA_CERTS set", withCerts], ["NODE_EXTRA_CA_CERTS unset", withoutCerts]]
    : [["NODE_EXTRA_CA_CERTS unset", withoutCerts]];
  const variants = envs.flatMap(([certs, env]) =>
    ([["forklab spawn (cold)", "spawn", "spawn"], ["forklab warm spare", "warm", "forkserver"]] as const).map(([label, method, anchor]) => ({
      name: `${label}, ${certs}`,
      method,
      anchor,
      env,
    })),
  );
  // In rounds, Python's start methods and forklab's variants in turn: a slow patch of a shared
  // machine then lands on all of them, not on whichever ran during it.
  const rounds = Math.min(ROUNDS, repeats);
  const runs = new Map<string, number[]>();
  const add = (name: string, times: number[]) => runs.set(name, [...(runs.get(name) ?? []), ...times]);
  let version: string | undefined;
  for (let round = 0; round < rounds; round++) {
    const n = Math.floor(repeats / rounds) + (round < repeats % rounds ? 1 : 0);
    const python = pythonRuns(n);
    if (python) {
      version = python.version;
      for (const m of PYTHON_METHODS) add(`python ${version} Process (${m})`, python.runs[m]!);
    }
    for (const v of variants) add(v.name, await nodeRuns(v.method, v.env, n));
  }
  const medians = new Map<string, { anchor: string; median: number }>();
  const py = (m: string) => `python ${version} Process (${m})`;
  if (version) for (const m of PYTHON_METHODS) medians.set(py(m), { anchor: py(m), median: median(runs.get(py(m))!) });
  for (const v of variants) medians.set(v.name, { anchor: version ? py(v.anchor) : v.name, median: median(runs.get(v.name)!) });
  setStartMethod("spawn");
  const rows: Row[] = [];
  for (const [name, { anchor, median: m }] of medians) {
    const base = medians.get(anchor)?.median ?? m;
    rows.push({ name, anchor, median_ms: Number(m.toFixed(2)), ratio: Number((m / base).toFixed(3)) });
  }
  return rows;
}

if (require.main === module) {
  const repeats = Number(process.argv[2] ?? 30);
  runAlone(`start-to-result of a trivial target, median of ${repeats} runs`, () => benchProcess({ repeats }));
}
