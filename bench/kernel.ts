/**
 * Kernel latency, forklab against vanilla `tslab kernel` (the tslab it is built on), both driven by
 * the reference client, jupyter_client (from the project's .venv/, or $FORKLAB_BENCH_PYTHON):
 *
 * - start to ready: from `KernelManager.start_kernel()` (the kernel process is launched) until the
 *   first kernel_info_reply arrives, sending kernel_info_request as `wait_for_ready()` does (it is
 *   `wait_for_ready()` itself, timed at the reply). `wait_for_ready()` returns some 200 ms later,
 *   for any kernel: it then waits for IOPub to fall silent for 0.2 s (not counted here).
 * - first cell: execute_request `1` sent right after `wait_for_ready()` until status idle on IOPub
 *   (a kernel that defers work to its first cell pays it here).
 * - start to first result: from `start_kernel()` until that first cell is idle, wall clock: what a
 *   client that waits for ready and then runs a cell sees (it includes wait_for_ready's 0.2 s, which
 *   a kernel may use to get ready for cells).
 * - cell: the same round trip on a warm kernel, median over `cells` cells per start.
 *
 * Each repeat starts each kernel once with NODE_EXTRA_CA_CERTS as the environment has it and once
 * without it (where it points at a certificate bundle, every Node start loads it); the order of
 * the four starts rotates from one repeat to the next. One unmeasured start of each kernel comes
 * first. Rows give medians; each forklab row is compared with the tslab row of the same measure and
 * environment.
 *
 * The timing is done by bench/kernel.py, which prints JSON.
 *
 * Run: npx tsc -p . && node dist/bench/kernel.js [repeats] [cells]
 */
import { venvDir, venvExecutable } from "../kernel/jupyter-env";
import { spawn } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import * as path from "node:path";
import { median, runAlone, type Row } from "./stats";

const ROOT = path.resolve(__dirname, "..", "..");

/** The jupyter_client side, a Python script kept beside this file. */
const DRIVER = path.join(ROOT, "bench", "kernel.py");

interface Start {
  ready: number;
  flush: number;
  first: number;
  first_result: number;
  warm: number[];
}

interface DriverOutput {
  jupyter_client: string;
  python: string;
  runs: Record<string, Start[]>;
  /** Starts that failed and were made again (the error, the kernel's exit code and output). */
  failed_starts: string[];
}

/** FORKLAB_BENCH_PYTHON, else the project's Jupyter environment (npx forklab setup). */
function python(): string {
  const chosen = process.env.FORKLAB_BENCH_PYTHON ?? venvExecutable("python", venvDir());
  return existsSync(chosen) ? chosen : "python3";
}

function runDriver(config: object, progress: boolean): Promise<DriverOutput> {
  return new Promise<DriverOutput>((resolve, reject) => {
    const child = spawn(python(), [DRIVER, JSON.stringify(config)], { stdio: ["ignore", "pipe", progress ? "inherit" : "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString("utf8")).slice(-8000)));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`the jupyter_client driver (${python()}) exited with ${code}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout));
      } catch (error) {
        reject(new Error(`the jupyter_client driver printed no result: ${(error as Error).message}\n${stdout}`));
      }
    });
  });
}

/** Run the benchmark; rows in the shape every benchmark of forklab returns. */
export async function benchKernel(options: { repeats?: number; cells?: number; progress?: boolean } = {}): Promise<Row[]> {
  const repeats = options.repeats ?? 10;
  const cells = options.cells ?? 20;
  const tslabVersion = require(path.join(ROOT, "node_modules/tslab/package.json")).version as string;
  const forklab = "forklab";
  const tslab = `tslab ${tslabVersion}`;
  const kernels: Record<string, string[]> = {
    [forklab]: [process.execPath, path.join(ROOT, "bin/forklab.js"), "kernel", "--connection-file", "{connection_file}"],
    [tslab]: [process.execPath, realpathSync(path.join(ROOT, "node_modules/.bin/tslab")), "kernel", "--config-path", "{connection_file}"],
  };
  const out = await runDriver({ repeats, cells, cwd: ROOT, kernels }, options.progress ?? false);
  for (const failure of out.failed_starts) console.error(`kernel bench: a start failed and was made again: ${failure}`);

  const measures: [string, (s: Start[]) => number[]][] = [
    ["start to ready (kernel_info_reply)", (s) => s.map((x) => x.ready)],
    ["first cell `1` (execute_request to idle)", (s) => s.map((x) => x.first)],
    ["start to first result (wait_for_ready, then first cell)", (s) => s.map((x) => x.first_result)],
    [`cell \`1\`, warm kernel (median of ${cells} per start)`, (s) => s.map((x) => median(x.warm))],
  ];
  const rows: Row[] = [];
  for (const [measure, pick] of measures) {
    for (const certs of ["set", "unset"]) {
      const anchorRuns = out.runs[`${tslab}|${certs}`];
      if (!anchorRuns) continue;
      const anchor = `${tslab}: ${measure}, NODE_EXTRA_CA_CERTS ${certs}`;
      const base = median(pick(anchorRuns));
      for (const kernel of [tslab, forklab]) {
        const m = median(pick(out.runs[`${kernel}|${certs}`]!));
        rows.push({
          name: `${kernel}: ${measure}, NODE_EXTRA_CA_CERTS ${certs}`,
          anchor,
          median_ms: Number(m.toFixed(2)),
          ratio: Number((m / base).toFixed(3)),
        });
      }
    }
  }
  return rows;
}

if (require.main === module) {
  const repeats = Number(process.argv[2] ?? 10);
  const cells = Number(process.argv[3] ?? 20);
  runAlone(`kernel start and cell round trip through jupyter_client, median of ${repeats} starts; ratio vs tslab`, () =>
    benchKernel({ repeats, cells, progress: true }),
  );
}
