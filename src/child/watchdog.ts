/**
 * Notices a dead parent even while the child's main thread is busy (a synchronous loop never
 * reads the channel's end-of-stream). A tiny worker thread checks every 200 ms whether the child
 * has been re-parented (Linux: /proc/self/stat; elsewhere: signal 0 to the parent), and if so
 * sends the child SIGTERM, then SIGKILL a second later.
 */
import { Worker } from "node:worker_threads";

const SOURCE = `
const { workerData } = require("node:worker_threads");
const fs = require("node:fs");
const parent = workerData.parentPid;
function parentAlive() {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "latin1");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return ppid === parent;
  } catch {
    try { process.kill(parent, 0); return true; } catch (e) { return e.code === "EPERM"; }
  }
}
const timer = setInterval(() => {
  if (parentAlive()) return;
  clearInterval(timer);
  try { process.kill(workerData.pid, "SIGTERM"); } catch {}
  setTimeout(() => { try { process.kill(workerData.pid, "SIGKILL"); } catch {} }, 1000);
}, 200);
`;

export function startWatchdog(parentPid: number): Worker {
  const worker = new Worker(SOURCE, {
    eval: true,
    workerData: { parentPid, pid: process.pid },
    stdout: false,
    stderr: false,
  });
  worker.unref();
  worker.on("error", () => {});
  return worker;
}
