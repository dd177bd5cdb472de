/**
 * The orphan reaper: no program outlives the process that started it, even when that process is
 * SIGKILLed.
 *
 * Node cannot ask Linux to signal a child when its parent dies (PR_SET_PDEATHSIG), and a
 * `setpriv --pdeathsig` wrapper would reach only the program itself, not what it starts. So each
 * forklab process that starts programs or child runtimes keeps one tiny `/bin/sh` beside it (one
 * in all, started with the first program), which reads registrations from a pipe: `+-PID` for a
 * process group, `+PID` for a single process, and `-...` when that one has ended; `=DIR` for the
 * directory of this process's queue socket. When this process dies by any means, the system
 * closes the pipe; the reaper reads end-of-file, removes that directory (which an exit handler
 * removes only on a normal exit) and ends everything still registered: SIGTERM, then SIGKILL to
 * what is left after a grace of 2 s.
 *
 * The reaper leads its own session, so an interrupt sent to the kernel's process group or a
 * terminal's hangup does not reach it; it ignores SIGINT and SIGHUP anyway. It never keeps this
 * process alive. Not on Windows (no process groups, no /bin/sh).
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";

// Registrations are removed on exit so that a reused pid is never signalled; `[` and `kill` are
// shell built-ins, so the reaper forks nothing until the end.
const SCRIPT = `trap '' INT HUP
t=
d=
while IFS= read -r l; do
  case $l in
    =*) d=\${l#=} ;;
    +*) t="$t \${l#+}" ;;
    -*) k=; for p in $t; do [ "$p" = "\${l#-}" ] || k="$k $p"; done; t=$k ;;
  esac
done
case $d in */forklab-q-*) [ -d "$d" ] && rm -rf -- "$d" ;; esac
[ -z "$t" ] && exit 0
kill -TERM $t 2>/dev/null
i=0
while [ $i -lt 20 ]; do
  a=; for p in $t; do kill -0 "$p" 2>/dev/null && a=1; done
  [ -z "$a" ] && exit 0
  sleep 0.1; i=$((i+1))
done
kill -KILL $t 2>/dev/null
`;

export const REAPER_GRACE_SECONDS = 2;

let reaper: ChildProcess | undefined;

function pipeToReaper(): Socket | undefined {
  if (process.platform === "win32") return undefined;
  const stdin = reaper?.stdin as Socket | null | undefined;
  if (reaper && reaper.exitCode === null && reaper.signalCode === null && stdin?.writable) return stdin;
  const started = spawn("/bin/sh", ["-c", SCRIPT], { stdio: ["pipe", "ignore", "ignore"], detached: true });
  // A reaper that cannot start (no processes left) must not crash this process; nothing is
  // registered then, and the next start tries again.
  started.on("error", () => {});
  if (started.pid === undefined) return undefined;
  const pipe = started.stdin as Socket;
  pipe.on("error", () => {});
  started.unref();
  pipe.unref();
  reaper = started;
  return pipe;
}

/**
 * Have the reaper end `pid` (its whole process group when `group`) if this process dies first.
 * Returns the function to call once it has ended.
 */
export function reapWithParent(pid: number, group: boolean): () => void {
  const target = group ? `-${pid}` : String(pid);
  const pipe = pipeToReaper();
  if (!pipe) return () => {};
  pipe.write(`+${target}\n`);
  return () => {
    if (reaper?.stdin === pipe && pipe.writable) pipe.write(`-${target}\n`);
  };
}

/**
 * Have the reaper remove `dir` (this process's queue socket directory, forklab-q-*) when this
 * process dies, by any means: a SIGKILL or SIGTERM runs no exit handler.
 */
export function removeWithParent(dir: string): void {
  if (dir.includes("\n")) return;
  pipeToReaper()?.write(`=${dir}\n`);
}

/** The reaper's pid, if one runs (for tests and benchmarks). */
export function reaperPid(): number | undefined {
  return reaper && reaper.exitCode === null ? reaper.pid : undefined;
}
