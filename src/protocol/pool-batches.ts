/**
 * Many pool batches as one message, both ways: the `tasks` a parent sends a worker in one tick for
 * the same target, and the `done` answers a worker sends back in one turn. One message of 500 tiny
 * tasks costs one small serialize and one record instead of 500 objects in an envelope; its fields
 * are flat arrays (ids, item ends, start/end times), the cheapest shape for V8's serializer.
 *
 * Pure functions: no I/O, no handles (a payload with handles is sent alone, unpacked).
 */
import type { DoneMessage, ErrorRecord, Message, TasksMessage } from "./messages";
import { argumentColumn, columnValues, numberColumn } from "./number-column";

/** One batch inside a (possibly packed) message: its id and its items' range. */
export interface BatchPart {
  id: number;
  from: number;
  to: number;
}

/** The batches a `tasks` or `done` message carries, in order. */
export function batchParts(message: Pick<TasksMessage, "id" | "ids" | "ends" | "nums"> & { items?: unknown[]; values?: unknown[] }): BatchPart[] {
  const total = (message.nums ?? message.items ?? message.values ?? []).length;
  if (!message.ids) return [{ id: message.id, from: 0, to: total }];
  const parts: BatchPart[] = new Array(message.ids.length);
  let from = 0;
  for (let k = 0; k < message.ids.length; k++) {
    const to = message.ends ? message.ends[k]! : k + 1;
    parts[k] = { id: message.ids[k]!, from, to };
    from = to;
  }
  return parts;
}

/** `ends` for batches of these sizes, or undefined when each holds one item (the usual apply). */
function endsOf(sizes: number[]): number[] | undefined {
  if (sizes.every((n) => n === 1)) return undefined;
  let end = 0;
  return sizes.map((n) => (end += n));
}

/** Batches for one target (same `fid` and `star`, no handles), as one message. */
export function packTasks(batches: TasksMessage[]): TasksMessage {
  if (batches.length === 1) return batches[0]!;
  const first = batches[0]!;
  const items: unknown[] = [];
  for (const batch of batches) for (const item of batch.items) items.push(item);
  const ends = endsOf(batches.map((b) => b.items.length));
  const packed: TasksMessage = { t: "tasks", id: first.id, fid: first.fid, items, star: first.star, ids: batches.map((b) => b.id) };
  if (ends) packed.ends = ends;
  return packed;
}

/** Answers of one turn (no handles), as one message. */
export function packDone(answers: DoneMessage[]): DoneMessage {
  if (answers.length === 1) return answers[0]!;
  const values: unknown[] = [];
  const errors: [number, ErrorRecord][] = [];
  const at: number[] = [];
  for (const answer of answers) {
    const offset = values.length;
    for (const [position, record] of answer.errors ?? []) errors.push([offset + position, record]);
    for (const value of answer.values) values.push(value);
    at.push(answer.at[0]!, answer.at[1]!);
  }
  const packed: DoneMessage = { t: "done", id: answers[0]!.id, values, at, ids: answers.map((a) => a.id) };
  const ends = endsOf(answers.map((a) => a.values.length));
  if (ends) packed.ends = ends;
  if (errors.length) packed.errors = errors;
  return packed;
}

/** Numbers the protocol itself writes (ids, ends, times) as a column when there are enough. */
function column(numbers: number[] | undefined) {
  return numbers && (numberColumn(numbers) ?? numbers);
}

/**
 * The message as it goes on the wire: items that are all numbers (or, with `star`, all argument
 * lists of one number) as a column in `nums`, and ids and ends as columns. The message given is
 * not changed (a sender that must fall back still has it as it was).
 */
export function compactTasks(message: TasksMessage): TasksMessage {
  const nums = message.star ? argumentColumn(message.items) : numberColumn(message.items);
  if (!nums && !message.ids) return message;
  const out: TasksMessage = { ...message, ids: column(message.ids as number[] | undefined), ends: column(message.ends as number[] | undefined) };
  if (!out.ids) delete out.ids;
  if (!out.ends) delete out.ends;
  if (nums) (out.items = []), (out.nums = nums);
  return out;
}

/** As compactTasks, for an answer: values that are all numbers in `nums`; ids, ends and times as columns. */
export function compactDone(message: DoneMessage): DoneMessage {
  const nums = message.errors ? undefined : numberColumn(message.values);
  if (!nums && !message.ids) return message;
  const out: DoneMessage = { ...message, at: column(message.at as number[])!, ids: column(message.ids as number[] | undefined), ends: column(message.ends as number[] | undefined) };
  if (!out.ids) delete out.ids;
  if (!out.ends) delete out.ends;
  if (nums) (out.values = []), (out.nums = nums);
  return out;
}

/**
 * The answers a `done` message holds (one, or several packed), each with its values, its errors
 * (positions counted within it) and its times, read in place: no message object per answer.
 */
export function eachAnswer(
  message: DoneMessage,
  visit: (id: number, values: unknown[], errors: [number, ErrorRecord][] | undefined, startedAt: number, endedAt: number) => void,
): void {
  const nums = message.nums;
  if (!message.ids) return visit(message.id, nums ? columnValues(nums) : message.values, message.errors, message.at[0]!, message.at[1]!);
  const errors = message.errors ?? [];
  let e = 0;
  let from = 0;
  for (let k = 0; k < message.ids.length; k++) {
    const to = message.ends ? message.ends[k]! : k + 1;
    let mine: [number, ErrorRecord][] | undefined;
    for (; e < errors.length && errors[e]![0] < to; e++) (mine ??= []).push([errors[e]![0] - from, errors[e]![1]]);
    const values = nums ? (to - from === 1 ? [nums[from]] : columnValues(nums, from, to)) : to - from === 1 ? [message.values[from]] : message.values.slice(from, to);
    visit(message.ids[k]!, values, mine, message.at[2 * k]!, message.at[2 * k + 1]!);
    from = to;
  }
}

/**
 * An outbox with each run of neighbouring messages that `key` says belong together (same
 * non-undefined key) merged by `pack`; everything else, and the order, as it was.
 */
export function packRuns<M extends Message>(messages: Message[], key: (message: Message) => string | undefined, pack: (run: M[]) => M): Message[] {
  const out: Message[] = [];
  let run: M[] = [];
  let runKey: string | undefined;
  const close = () => {
    if (run.length) out.push(run.length === 1 ? run[0]! : pack(run));
    run = [];
    runKey = undefined;
  };
  for (const message of messages) {
    const k = key(message);
    if (k === undefined) {
      close();
      out.push(message);
      continue;
    }
    if (k !== runKey) close();
    run.push(message as M);
    runKey = k;
  }
  close();
  return out;
}
