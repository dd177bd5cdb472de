/**
 * Run forklab's benchmarks and print one markdown table (benchmark, variant, anchor, median, ratio),
 * with the machine, the run time, and each row's goal (met or not); a full run writes it to
 * bench/RESULTS.md.
 *
 *     npm run bench                    # all: kernel, process, distributed, pool, queue, subprocess
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
 * A goal one row's ratio is held to: at most `max` (or at least `min`) times its anchor, or, with
 * `of`, times the ratio of the row named there (for goals between two ratios, like speedups).
 */
interface Goal {
  row: RegExp;
  max?: number;
  min?: number;
  of?: string;
  /** How the goal reads in the table, e.g. "<= 1.30x" or "speedup >= 0.95x Python's". */
  text: string;
}

/**
 * One entry per benchmark: what it measures, the goal its ratios are held to (in words, and per
 * row in `goals`), and how to run it with the repeats that keep a full run within 10 minutes on
 * 2 cores. Each returns rows measured side by side with their anchors in the same run.
 */
const BENCHMARKS: Record<string, { what: string; goal: string; goals: Goal[]; run: () => Promise<Row[]> }> = {
  kernel: {
    what: "kernel start to ready and cell `1` round trip through jupyter_client, forklab vs tslab; median of 10 starts",
    goal: "start to first result <= 1.0x tslab; warm cell <= 1.5x tslab",
    goals: [
      { row: /^forklab: start to first result/, max: 1.0, text: "<= 1.00x" },
      { row: /^forklab: cell `1`, warm kernel/, max: 1.5, text: "<= 1.50x" },
    ],
    run: () => benchKernel({ repeats: 10, progress: process.stderr.isTTY === true }),
  },
  process: {
    what: "Process start to result of a trivial target, vs Python multiprocessing; median of 30",
    goal: "cold spawn <= 1.3x Python's spawn; warm spare <= 1.0x Python's forkserver",
    goals: [
      { row: /^forklab spawn \(cold\)/, max: 1.3, text: "<= 1.30x" },
      { row: /^forklab warm spare/, max: 1.0, text: "<= 1.00x" },
    ],
    run: () => benchProcess({ repeats: 30 }),
  },
  distributed: {
    what: "tiny tasks per task through Redis (Queue({ redis }), Pool({ redis })) vs the tutorial's BaseManager master/worker and vs the local Pool(1); CPU tasks on 2 forklab workers vs 1; median of 3",
    goal: "the tutorial's program on Queue({ redis }) and DistributedPool.map tiny tasks <= 1.0x BaseManager per task; 2 workers <= 0.53x 1 worker (a speedup >= 1.9x)",
    goals: [
      { row: /^Queue\(\{ redis \}\) master\/worker/, max: 1.0, text: "<= 1.00x" },
      { row: /^DistributedPool\.map, .*tiny tasks/, max: 1.0, text: "<= 1.00x" },
      { row: /^DistributedPool, .* 2 workers/, max: 0.53, text: "<= 0.53x" },
    ],
    run: () => benchDistributed(3),
  },
  pool: {
    what: "Pool(2) on x => 2 * x (applyAsync x20k, map 100k, imap 20k chunksize 1) and 40 CPU-bound tasks on 1 and 2 workers, vs Python's Pool and ProcessPoolExecutor, workerpool and tinypool; median of 5",
    goal: "applyAsync >= 10x Python's apply_async; map >= Python's Pool.map; imap chunksize 1 >= 5x Python's; speedup >= 0.95x Python's; ahead of workerpool and tinypool",
    goals: [
      { row: /^forklab applyAsync/, max: 0.1, text: "<= 0.10x" },
      { row: /^forklab map/, max: 1.0, text: "<= 1.00x" },
      { row: /^forklab imap .*chunksize 1/, max: 0.2, text: "<= 0.20x" },
      { row: /^forklab .* on 2 workers/, max: 1 / 0.95, of: "Python 40 x 50 ms on 2 workers", text: "speedup >= 0.95x Python's" },
      { row: /^(workerpool|tinypool) /, min: 1.0, text: ">= 1.00x (forklab ahead)" },
    ],
    run: () => benchPool(5),
  },
  queue: {
    what: "writer process to reader process, µs per small and 1 KiB item over 20 000 items after 150 000, and a ping-pong round trip over 5 000 after 10 000; forklab's Queue, SimpleQueue and Pipe each vs its Python namesake; Queue also cold (the first items of fresh processes, no warm-up, on both sides), and with its frames on sockets instead of rings in shared memory (FORKLAB_QUEUE_TRANSPORT=socket); the floor of the socket transport (the same processes making only a write per put and a write per ack) vs Python's Queue, and of a round trip (one write each way between two Node processes) vs Python's Pipe; median of 5",
    goal: "small items <= 0.33x Python's Queue; 1 KiB <= 0.5x; ping-pong <= 1.0x",
    goals: [
      { row: /^forklab Queue small \(.*, frames on /, max: 0.33, text: "<= 0.33x" },
      { row: /^forklab Queue 1KiB \(.*, frames on /, max: 0.5, text: "<= 0.50x" },
      { row: /^forklab Queue ping-pong \(.*, frames on /, max: 1.0, text: "<= 1.00x" },
    ],
    run: () => benchQueue(20000, 5),
  },
  subprocess: {
    what: "run(/usr/bin/true), ms per call, vs Node spawn, execa and Python subprocess.run; median of 7 loops of 200",
    goal: "forklab run <= 1.2x Node's child_process.spawn, inherited and captured",
    goals: [{ row: /^forklab run /, max: 1.2, text: "<= 1.20x" }],
    run: () => benchSubprocess(),
  },
};

const USAGE = `usage: node dist/bench/run.js [${Object.keys(BENCHMARKS).join(" | ")}]...  (default: all)`;

/** "<= 1.30x: met", or "not met" in bold; the ratio as the table shows it (two decimals) is checked. */
function verdict(goal: Goal, row: Row, rows: Row[]): string {
  const scale = goal.of === undefined ? 1 : rows.find((r) => r.name === goal.of)?.ratio;
  if (scale === undefined) return `${goal.text}: no row "${goal.of}" to compare with`;
  const ratio = Number(row.ratio.toFixed(2));
  const met = (goal.max === undefined || ratio <= goal.max * scale) && (goal.min === undefined || ratio >= goal.min * scale);
  return `${goal.text}: ${met ? "met" : "**not met**"}`;
}

function markdown(results: Result[]): string {
  const lines = ["| benchmark | variant | anchor | median ms | ratio | goal |", "|---|---|---|--:|--:|---|"];
  for (const { bench, rows } of results) {
    for (const r of rows) {
      const goal = BENCHMARKS[bench]!.goals.find((g) => g.row.test(r.name));
      lines.push(`| ${bench} | ${r.name} | ${r.anchor} | ${ms(r.median_ms)} | ${r.ratio.toFixed(2)}x | ${goal ? verdict(goal, r, rows) : ""} |`);
    }
  }
  return lines.join("\n");
}

/** One line per goal: how many of its rows met it; goals that matched no row say so. */
function goalSummary(results: Result[]): string[] {
  const lines: string[] = [];
  for (const { bench, rows, error } of results) {
    if (error) continue;
    for (const goal of BENCHMARKS[bench]!.goals) {
      const checked = rows.filter((r) => goal.row.test(r.name)).map((r) => verdict(goal, r, rows));
      const met = checked.filter((v) => v.endsWith(": met")).length;
      lines.push(`- ${bench}, ${goal.text} (rows matching ${goal.row}): ${checked.length ? `${met} of ${checked.length} met` : "**no row to check**"}`);
    }
  }
  return lines;
}

/** "7 min 42 s", "38 s". */
function duration(seconds: number): string {
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
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

/**
 * The commit measured, "+ changes" when the working tree differs from it (the table a previous run
 * wrote aside); unknown outside git.
 */
function checkout(): string {
  const root = path.resolve(__dirname, "..", "..");
  try {
    const commit = execSync("git rev-parse --short HEAD", { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const changed = execSync("git status --porcelain --untracked-files=no -- . :!bench/RESULTS.md", { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    return changed ? `${commit} + changes` : commit;
  } catch {
    return "unknown (not a git checkout)";
  }
}

interface Result {
  bench: string;
  rows: Row[];
  seconds: number;
  error?: string;
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
  const started = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const loadBefore = os.loadavg()[0]!;
  const runStart = performance.now();
  const results: Result[] = [];
  for (const name of chosen) {
    console.error(`${name}: ${BENCHMARKS[name]!.what} ...`);
    const t0 = performance.now();
    // One benchmark that fails (no redis-server, no Python) does not lose the others' rows.
    try {
      results.push({ bench: name, rows: await BENCHMARKS[name]!.run(), seconds: (performance.now() - t0) / 1000 });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      results.push({ bench: name, rows: [], seconds: (performance.now() - t0) / 1000, error: message.split("\n")[0]! });
      console.error(`${name}: failed: ${message}`);
    }
    console.error(`${name}: done in ${duration(results.at(-1)!.seconds)}`);
  }
  const total = (performance.now() - runStart) / 1000;
  const failed = results.filter((r) => r.error);
  const header = [
    `# forklab benchmarks, ${started}`,
    "",
    `${machine()}; NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? "set" : "unset"} in the environment.`,
    `Command: node dist/bench/run.js${args.length ? " " + args.join(" ") : ""}, on the checkout at ${checkout()}.`,
    `Run time: ${duration(total)} (${results.map((r) => `${r.bench} ${duration(r.seconds)}`).join(", ")}); ` +
      `load average ${loadBefore.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end.`,
    "",
    ...chosen.map((name) => `- ${name}: ${BENCHMARKS[name]!.what}. Goal: ${BENCHMARKS[name]!.goal}.`),
    "",
    "ratio = median / the anchor's median, both measured in this run. Rows with NODE_EXTRA_CA_CERTS unset",
    "leave out the certificate bundle that, where it is set, every Node start loads. The goal column",
    "checks the ratio as shown against the benchmark's goal for that row.",
    "",
  ].join("\n");
  const footer = [
    "",
    "Goals:",
    "",
    ...goalSummary(results),
    ...failed.map((r) => `- ${r.bench}: **failed**, no rows: ${r.error}`),
    "",
  ].join("\n");
  const text = `${header}\n${markdown(results)}\n${footer}`;
  console.log(text);
  console.error(`total: ${duration(total)}`);
  // A full run is the table the README quotes; a partial or failed one stays out of the repository.
  const file =
    args.length || failed.length
      ? path.resolve(__dirname, "..", "..", "bench", "results", "partial.md")
      : path.resolve(__dirname, "..", "..", "bench", "RESULTS.md");
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.error(`written to ${path.relative(process.cwd(), file)}`);
  return failed.length ? 1 : 0;
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
