/**
 * What a pool looks like now, as plain data: the input of its picture (src/render/pool-timeline.ts)
 * and of stats(). Times are ms since the pool started.
 */
import type { PoolBar, PoolFigures, PoolSnapshot } from "../../render/pool-timeline";
import type { LoggedBatch } from "./batch-log";
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

/** A finished or unfinished batch as one bar: its worker's row, its tasks' labels, its span. */
function bar(batch: { worker: number; firstIndex: number; tasks: number; startedAt: number; endedAt: number | undefined; state: PoolBar["state"]; failures: number }, origin: number): PoolBar {
  const { firstIndex: first, tasks: count } = batch;
  return {
    worker: batch.worker,
    label: count === 1 ? String(first) : `${first}-${first + count - 1}`,
    start: batch.startedAt - origin,
    end: batch.endedAt === undefined ? undefined : batch.endedAt - origin,
    state: batch.state,
    tasks: count,
    failures: batch.failures,
  };
}

/**
 * The picture's data: the last MAX_BARS finished batches from the log, the batches running now,
 * and counts from the workers' tables. Its cost is bounded by MAX_BARS and the batches in flight,
 * however many tasks the pool has run.
 */
export function poolSnapshot(scheduler: Scheduler, meta: Pick<PoolSnapshot, "name" | "processes" | "state">): PoolSnapshot {
  const origin = scheduler.startedAt;
  const now = performance.now() - origin;
  const unfinished = scheduler.unfinished;
  let running = 0;
  let waiting = 0;
  const live: PoolBar[] = [];
  for (const batch of unfinished) {
    const count = batch.spec.items.length;
    if (batch.state === "running" && batch.worker && batch.startedAt !== undefined) {
      running += count;
      live.push(bar({ worker: batch.worker.index, firstIndex: batch.spec.firstIndex, tasks: count, startedAt: batch.startedAt, endedAt: undefined, state: "running", failures: 0 }, origin));
    } else waiting += count;
  }
  for (const job of scheduler.jobs) waiting += job.pending ?? 0;
  const log = scheduler.log;
  const finished = log.last(Math.max(0, MAX_BARS - live.length)).filter((b) => b.startedAt !== undefined && b.worker !== undefined);
  const bars = finished.map((b) => bar({ ...b, worker: b.worker!, startedAt: b.startedAt! }, origin)).concat(live);
  const elapsed = scheduler.firstStartedAt === undefined ? 0 : performance.now() - scheduler.firstStartedAt;
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
    omittedBars: log.dropped + log.size - finished.length,
    done: scheduler.tasksDone,
    failed: scheduler.tasksFailed,
    cancelled: scheduler.tasksCancelled,
    running,
    waiting,
    throughput: elapsed > 0 ? (scheduler.tasksDone / elapsed) * 1000 : 0,
  };
}

/** stats(): the figures, and a row per task of the remembered batches and those not finished, in submission order. */
export function poolStats(snapshot: PoolSnapshot, scheduler: Scheduler): PoolStats {
  const tasks: TaskStats[] = [];
  const log = scheduler.log;
  const batches: LoggedBatch[] = [];
  for (let k = 0; k < log.size; k++) batches.push(log.at(k));
  for (const b of scheduler.unfinished) {
    batches.push({
      id: b.id,
      worker: b.worker?.index,
      pid: b.worker?.transport.pid,
      firstIndex: b.spec.firstIndex,
      tasks: b.spec.items.length,
      queuedAt: b.queuedAt,
      startedAt: b.startedAt,
      endedAt: NaN,
      state: b.state,
      failures: 0,
    });
  }
  batches.sort((a, b) => a.id - b.id);
  for (const batch of batches) {
    const count = batch.tasks;
    const ended = Number.isNaN(batch.endedAt) ? undefined : batch.endedAt;
    const run = batch.startedAt !== undefined && ended !== undefined ? (ended - batch.startedAt) / count : undefined;
    for (let i = 0; i < count; i++) {
      tasks.push({
        index: batch.firstIndex + i,
        pid: batch.pid,
        waitMs: batch.startedAt === undefined ? undefined : batch.startedAt - batch.queuedAt,
        runMs: run,
        batch: batch.id,
        outcome: batch.state,
      });
    }
  }
  const { name, processes, done, failed, cancelled, running, waiting, throughput } = snapshot;
  return { name, processes, done, failed, cancelled, running, waiting, throughput, tasks, forgottenChunks: log.dropped };
}
