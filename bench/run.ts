/**
 * Run forklab's benchmarks and print one markdown table (benchmark, variant, anchor, median, ratio),
 * with the machine and each benchmark's goal; a full run writes it to bench/RESULTS.md.
 *
 *     npm run bench                    # all: kernel, process, subprocess
 *     npm run bench -- kernel          # one (or several: -- kernel process)
 *     node dist/bench/run.js subprocess
 */
import { execSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { benchDistributed } from "./distributed";
import { benchKernel } from "./kernel";
import { benchPool } from "./pool";
import { benchProcess } from "./process";
import { benchQueue } from "./queue";
import { ms, type Row } from "./stats";
import { benchSubprocess } from "./subprocess";

/**
 * One entry per benchmark: what it measures, the goal its ratios are held to, and how to run it.
 * Each returns rows measured side by side with their anchors in the same run.
 */
const BENCHMARKS: Record<string, { what: string; goal: string; run: () => Promise<Row[]> }> = {
  kernel: {
    what: "kernel start to ready and cell `1` round trip through jupyter_client, forklab vs tslab; median of 10 starts",
    goal: "start to first result <= 1.0x tslab; warm cell <= 1.5x tslab",
    run: () => benchKernel({ progress: process.stderr.isTTY === true }),
  },
  process: {
    what: "Process start to result of a trivial target, vs Python multiprocessing; median of 30",
    goal: "cold spawn <= 1.3x Python's spawn; warm spare <= 1.0x Python's forkserver",
    run: () => benchProcess(),
  },
  distributed: {
    what: "tiny tasks per task through Redis (RedisQueue, DistributedPool) vs the tutorial's BaseManager master/worker; CPU tasks on 2 forklab workers vs 1; median of 3",
    goal: "DistributedPool.map tiny tasks <= 1.0x BaseManager per task; 2 workers <= 0.53x 1 worker (a speedup >= 1.9x)",
    run: () => benchDistributed(),
  },
  pool: {
    what: "Pool(2) on x => 2 * x (applyAsync x20k, map 100k, imap 20k chunksize 1) and 40 CPU-bound tasks on 1 and 2 workers, vs Python's Pool and ProcessPoolExecutor, workerpool and tinypool; median of 5",
    goal: "applyAsync >= 10x Python's apply_async; map >= Python's Pool.map; imap chunksize 1 >= 5x Python's; speedup >= 0.95x Python's; ahead of workerpool and tinypool",
    run: () => benchPool(),
  },
  queue: {
    what: "writer process to reader process, µs per small and 1 KiB item, and a ping-pong round trip, forklab Queue vs Python's Queue, SimpleQueue and Pipe; median of 3",
    goal: "small items <= 0.33x Python's Queue; 1 KiB <= 0.5x; ping-pong <= 1.0x",
    run: () => benchQueue(),
  },
  subprocess: {
    what: "run(/usr/bin/true), ms per call, vs Node spawn, execa and Python subprocess.run; median of 7 loops of 200",
    goal: "forklab run <= 1.2x Node's child_process.spawn, inherited and captured",
    run: () => benchSubprocess(),
  },
};

const USAGE = `usage: node dist/bench/run.js [${Object.keys(BENCHMARKS).join(" | ")}]...  (default: all)`;

function markdown(results: [string, Row[]][]): string {
  const lines = ["| benchmark | variant | anchor | median ms | ratio |", "|---|---|---|--:|--:|"];
  for (const [bench, rows] of results) {
    for (const r of rows) lines.push(`| ${bench} | ${r.name} | ${r.anchor} | ${ms(r.median_ms)} | ${r.ratio.toFixed(2)}x |`);
  }
  return lines.join("\n");
}

function machine(): string {
  let cpu = os.cpus()[0]?.model.trim() ?? "unknown CPU";
  try {
    cpu = execSync("nproc", { encoding: "utf8" }).trim() + " x " + cpu;
  } catch {
    cpu = `${os.cpus().length} x ${cpu}`;
  }
  return `${os.type()} ${os.release()}, ${cpu}, node ${process.version}`;
}

async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const unknown = args.filter((a) => !(a in BENCHMARKS));
  if (unknown.length) {
    console.error(`unknown benchmark ${unknown.map((u) => JSON.stringify(u)).join(", ")}\n${USAGE}`);
    return 2;
  }
  const chosen = args.length ? Object.keys(BENCHMARKS).filter((b) => args.includes(b)) : Object.keys(BENCHMARKS);
  const results: [string, Row[]][] = [];
  for (const name of chosen) {
    console.error(`${name}: ${BENCHMARKS[name]!.what} ...`);
    const t0 = performance.now();
    results.push([name, await BENCHMARKS[name]!.run()]);
    console.error(`${name}: done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  const started = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const header = [
    `# forklab benchmarks, ${started}`,
    "",
    `${machine()}; NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? "set" : "unset"} in the environment.`,
    `Command: node dist/bench/run.js${args.length ? " " + args.join(" ") : ""}`,
    "",
    ...chosen.map((name) => `- ${name}: ${BENCHMARKS[name]!.what}. Goal: ${BENCHMARKS[name]!.goal}.`),
    "",
    "ratio = median / the anchor's median, both measured in this run. Rows with NODE_EXTRA_CA_CERTS unset",
    "leave out the certificate bundle that, where it is set, every Node start loads.",
    "",
  ].join("\n");
  const text = `${header}\n${markdown(results)}\n`;
  console.log(text);
  // A full run is the table the README quotes; a partial one stays out of the repository.
  const file = args.length
    ? path.resolve(__dirname, "..", "..", "bench", "results", "partial.md")
    : path.resolve(__dirname, "..", "..", "bench", "RESULTS.md");
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.error(`written to ${path.relative(process.cwd(), file)}`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    // The process benchmark may leave a warm spare behind: exit rather than wait for it.
    (code) => process.exit(code),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
