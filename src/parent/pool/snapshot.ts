/**
 * What a pool looks like now, as plain data: the input of its picture (src/render/pool-timeline.ts)
 * and of stats(). Times are ms since the pool started.
 */
import type { PoolBar, PoolFigures, PoolSnapshot } from "../../render/pool-timeline";
import type { Scheduler } from "./scheduler";
import { workerEndText } from "./errors";

/** Bars drawn at most; older ones are counted, not drawn. */
const MAX_BARS = 400;

export interface TaskStats {
  /** The item's position for map and imap; for apply, the pool's count of applies (0, 1, ...). */
  index: number;
  pid: number | undefined;
  /** From submission to start, ms. */
  waitMs: number | undefined;
  /** Run time, ms; for a task that ran in a chunk, the chunk's run time shared evenly. */
  runMs: number | undefined;
  /** The chunk it ran in (several tasks share one when map cuts its input in chunks). */
  batch: number;
  outcome: PoolBar["state"];
}

export interface PoolStats extends PoolFigures {
  /** Per task, for the tasks still remembered (the most recent chunks). */
  tasks: TaskStats[];
  /** Older chunks no longer listed (the most recent 20 000 are kept). */
  forgottenChunks: number;
}

export function poolSnapshot(scheduler: Scheduler, meta: Pick<PoolSnapshot, "name" | "processes" | "state">): PoolSnapshot {
  const origin = scheduler.startedAt;
  const now = performance.now() - origin;
  const { batches, dropped } = scheduler.history;
  const shown = batches.slice(-MAX_BARS);
  const bars: PoolBar[] = [];
  let running = 0;
  let inPipes = 0;
  for (const batch of batches) {
    if (batch.state === "running") running += batch.spec.items.length;
    else if (batch.state === "waiting" && batch.worker) inPipes += batch.spec.items.length;
  }
  for (const batch of shown) {
    if (batch.startedAt === undefined || !batch.worker) continue;
    const first = batch.spec.firstIndex;
    const count = batch.spec.items.length;
    bars.push({
      worker: batch.worker.index,
      label: count === 1 ? String(first) : `${first}-${first + count - 1}`,
      start: batch.startedAt - origin,
      end: batch.endedAt === undefined ? undefined : batch.endedAt - origin,
      state: batch.state,
      tasks: count,
      failures: batch.failures ?? 0,
    });
  }
  let waiting = 0;
  for (const job of scheduler.jobs) waiting += job.pending ?? 0;
  for (const batch of batches) if (batch.state === "waiting" && !batch.worker) waiting += batch.spec.items.length;
  const firstStart = batches.find((b) => b.startedAt !== undefined)?.startedAt;
  const elapsed = firstStart === undefined ? 0 : performance.now() - firstStart;
  return {
    ...meta,
    now,
    workers: scheduler.workers.map((w) => ({
      index: w.index,
      pid: w.transport.pid,
      start: w.startedAt - origin,
      end: w.endedAt === undefined ? undefined : w.endedAt - origin,
      ended: w.end ? (w.killedFor && w.killedFor !== "closed" ? `ended (${w.killedFor})` : w.killedFor === "closed" ? "exited" : workerEndText(w.end)) : undefined,
    })),
    bars,
    omittedBars: dropped + batches.length - shown.length,
    done: scheduler.tasksDone,
    failed: scheduler.tasksFailed,
    cancelled: scheduler.tasksCancelled,
    running,
    waiting: waiting + inPipes,
    throughput: elapsed > 0 ? (scheduler.tasksDone / elapsed) * 1000 : 0,
  };
}

export function poolStats(snapshot: PoolSnapshot, scheduler: Scheduler): PoolStats {
  const tasks: TaskStats[] = [];
  const { batches, dropped } = scheduler.history;
  for (const batch of batches) {
    const count = batch.spec.items.length;
    const run = batch.startedAt !== undefined && batch.endedAt !== undefined ? (batch.endedAt - batch.startedAt) / count : undefined;
    for (let i = 0; i < count; i++) {
      tasks.push({
        index: batch.spec.firstIndex + i,
        pid: batch.worker?.transport.pid,
        waitMs: batch.startedAt === undefined ? undefined : batch.startedAt - batch.queuedAt,
        runMs: run,
        batch: batch.id,
        outcome: batch.state,
      });
    }
  }
  const { name, processes, done, failed, cancelled, running, waiting, throughput } = snapshot;
  return { name, processes, done, failed, cancelled, running, waiting, throughput, tasks, forgottenChunks: dropped };
}
