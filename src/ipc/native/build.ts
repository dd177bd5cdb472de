/**
 * Compiles shm.c into shm.node beside this file's build (run by `npm run build`, after tsc), with
 * the machine's C compiler and the headers of the Node that runs this. Where either is missing
 * the build goes on without it: queues then carry their frames on their sockets (slower, the
 * same in every other way), and this says so once.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";

const source = path.resolve(__dirname, "..", "..", "..", "..", "src", "ipc", "native", "shm.c");
const output = path.join(__dirname, "shm.node");
const headers = path.resolve(path.dirname(process.execPath), "..", "include", "node");
const compiler = process.env.CC || "cc";

function skip(why: string): void {
  process.stdout.write(`forklab: queues will use their sockets alone (${why}); with a C compiler and Node's headers they use shared memory, which is faster\n`);
}

if (!existsSync(path.join(headers, "node_api.h"))) skip(`no Node headers in ${headers}`);
else {
  const run = spawnSync(compiler, ["-O2", "-Wall", "-shared", "-fPIC", `-I${headers}`, "-o", output, source], { encoding: "utf8" });
  if (run.error) skip(`${compiler}: ${run.error.message}`);
  else if (run.status !== 0) skip(`${compiler} failed: ${run.stderr.trim()}`);
}
