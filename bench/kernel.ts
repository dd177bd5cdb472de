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
 * Run: npx tsc -p . && node dist/bench/kernel.js [repeats] [cells]
 */
import { venvDir, venvExecutable } from "../kernel/jupyter-env";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { median, runAlone, type Row } from "./stats";

const ROOT = path.resolve(__dirname, "..", "..");

const DRIVER = `
import atexit, inspect, json, os, shutil, subprocess, sys, tempfile, time
from queue import Empty
import jupyter_client
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

config = json.loads(sys.argv[1])
repeats, cells, cwd = config["repeats"], config["cells"], config["cwd"]
kernels = config["kernels"]  # name -> argv with {connection_file}

spec_root = tempfile.mkdtemp(prefix="forklab-bench-kernelspecs-")
atexit.register(shutil.rmtree, spec_root, True)
for name, argv in kernels.items():
    os.makedirs(os.path.join(spec_root, name))
    with open(os.path.join(spec_root, name, "kernel.json"), "w") as f:
        json.dump({"argv": argv, "display_name": name, "language": "typescript"}, f)
ksm = KernelSpecManager(kernel_dirs=[spec_root])

env_with = dict(os.environ)
env_without = {k: v for k, v in os.environ.items() if k != "NODE_EXTRA_CA_CERTS"}
envs = [("set", env_with), ("unset", env_without)] if "NODE_EXTRA_CA_CERTS" in os.environ else [("unset", env_without)]


def round_trip(kc, code="1"):
    t0 = time.perf_counter()
    msg_id = kc.execute(code)
    result = None
    while True:
        msg = kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "execute_result":
            result = msg["content"]["data"].get("text/plain")
        elif kind == "stream" and msg["content"]["text"].strip():
            result = msg["content"]["text"].strip()  # tslab shows the value on stdout
        elif kind == "error":
            raise RuntimeError("cell failed: %s" % msg["content"].get("evalue"))
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            elapsed = (time.perf_counter() - t0) * 1000
            break
    reply = kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:  # e.g. a second kernel_info_reply
        reply = kc.get_shell_msg(timeout=60)
    if reply["content"]["status"] != "ok" or result != "1":
        raise RuntimeError("unexpected cell result %r (%s)" % (result, reply["content"]["status"]))
    return elapsed


def one_start(name, env):
    km = KernelManager(kernel_name=name, kernel_spec_manager=ksm)
    log = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    km.start_kernel(env=env, cwd=cwd, stdout=log, stderr=log)
    try:
        kc = km.client()
        kc.start_channels()
        shell = kc.shell_channel
        plain_get = shell.get_msg
        reply_at = []

        def note(msg):
            if msg["msg_type"] == "kernel_info_reply" and not reply_at:
                reply_at.append(time.perf_counter())
            return msg

        # jupyter_client 7's channels return a coroutine here, 8's blocking client a message.
        def timed_get(timeout=None):
            got = plain_get(timeout)
            if inspect.isawaitable(got):
                async def later():
                    return note(await got)
                return later()
            return note(got)

        shell.get_msg = timed_get
        kc.wait_for_ready(timeout=60)
        ready_returned = time.perf_counter()
        shell.get_msg = plain_get
        ready = (reply_at[0] - t0) * 1000
        flush = (ready_returned - reply_at[0]) * 1000
        first = round_trip(kc)
        first_result = (time.perf_counter() - t0) * 1000
        warm = [round_trip(kc) for _ in range(cells)]
        kc.stop_channels()
        return {"ready": ready, "flush": flush, "first": first, "first_result": first_result, "warm": warm}
    except Exception as error:
        process = getattr(getattr(km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        log.seek(0)
        tail = log.read()[-2000:].decode("utf8", "replace")
        raise RuntimeError("%s (%s, exit code %s); its output:\\n%s" % (error, name, code, tail)) from error
    finally:
        km.shutdown_kernel(now=False)
        log.close()


out = {"jupyter_client": jupyter_client.__version__, "python": sys.version.split()[0], "runs": {}, "failed_starts": []}
for name in kernels:
    one_start(name, envs[0][1])  # unmeasured: fills the file cache
combos = [(name, label, env) for label, env in envs for name in kernels]
for r in range(repeats):
    k = r % len(combos)
    for name, label, env in combos[k:] + combos[:k]:
        for attempt in range(3):
            try:
                res = one_start(name, env)
                break
            except Exception as error:
                if attempt == 2:
                    raise
                out["failed_starts"].append(str(error))
                sys.stderr.write("\\nstart failed, once more: %s\\n" % error)
        out["runs"].setdefault("%s|%s" % (name, label), []).append(res)
        sys.stderr.write("\\rrepeat %d/%d  %-8s certs %-5s  ready %6.0f ms  first cell %6.1f ms   " % (r + 1, repeats, name, label, res["ready"], res["first"]))
        sys.stderr.flush()
sys.stderr.write("\\n")
print(json.dumps(out))
`;

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
  const dir = mkdtempSync(path.join(tmpdir(), "forklab-bench-"));
  const script = path.join(dir, "bench_kernel.py");
  writeFileSync(script, DRIVER);
  return new Promise<DriverOutput>((resolve, reject) => {
    const child = spawn(python(), [script, JSON.stringify(config)], { stdio: ["ignore", "pipe", progress ? "inherit" : "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString("utf8")).slice(-8000)));
    child.on("error", reject);
    child.on("close", (code) => {
      rmSync(dir, { recursive: true, force: true });
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
