/**
 * Decoding large records: a 100 MB result (a string) as the channel receives it (64 KiB socket
 * reads) through forklab's RecordDecoder, next to its anchor, one v8.deserialize of the same
 * payload already in one buffer (the least any decoder must do), and one copy of the reads into one
 * buffer plus that deserialize (what a linear decoder does). Then end to end: spawn() of a target returning 100 MB until the parent has
 * the value, next to serialize + deserialize of that value in one process, with
 * NODE_EXTRA_CA_CERTS as the environment has it and unset. Medians over repeats.
 *
 * Run: npx tsc -p . && node dist/bench/framing.js [repeats=5] [megabytes=100]
 */
import { deserialize, serialize } from "node:v8";
import { encodeRecord, RecordDecoder } from "../src/protocol/framing";
import { Process } from "../src/parent/process";
import { median, runAlone, type Row } from "./stats";

const CHUNK = 64 * 1024;

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

function decodeInChunks(reads: Buffer[]): void {
  const decoder = new RecordDecoder();
  let count = 0;
  for (const read of reads) count += decoder.push(read).length;
  if (count !== 1) throw new Error(`decoded ${count} records, expected 1`);
}

async function spawnResult(bytes: number, env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const p = new Process({ target: (n: number) => "x".repeat(n), args: [bytes], output: "none", env }).start();
  const value = (await p.result) as string;
  const elapsed = performance.now() - t0;
  if (value.length !== bytes) throw new Error("short result");
  await p.join();
  return elapsed;
}

export async function benchFraming(repeats = 5, megabytes = 100): Promise<Row[]> {
  const bytes = megabytes * 1e6;
  // A string: deserializing it builds a new 100 MB string (a typed array would come back as a view).
  const value = "x".repeat(bytes);
  const record = encodeRecord({ t: "result", id: 1, value });
  const payload = record.subarray(4);
  const unset = { ...process.env };
  delete unset.NODE_EXTRA_CA_CERTS;
  const reads: Buffer[] = [];
  for (let i = 0; i < record.length; i += CHUNK) reads.push(Buffer.from(record.subarray(i, i + CHUNK)));
  const times = { deserialize: [] as number[], concat: [] as number[], decoder: [] as number[], roundTrip: [] as number[], spawn: [] as number[], spawnUnset: [] as number[] };
  // One spawn first: loads the target checker once per parent.
  await spawnResult(1, process.env);
  for (let i = 0; i < repeats; i++) {
    times.deserialize.push(time(() => deserialize(payload)));
    times.concat.push(time(() => deserialize(Buffer.concat(reads).subarray(4))));
    times.decoder.push(time(() => decodeInChunks(reads)));
    times.roundTrip.push(time(() => deserialize(serialize({ t: "result", id: 1, value }))));
    times.spawn.push(await spawnResult(bytes, process.env));
    times.spawnUnset.push(await spawnResult(bytes, unset));
  }
  const row = (name: string, anchor: string, values: number[], anchorValues: number[]): Row => ({
    name,
    anchor,
    median_ms: median(values),
    ratio: median(values) / median(anchorValues),
  });
  const mb = `${megabytes} MB`;
  return [
    row(`v8.deserialize ${mb}`, `v8.deserialize ${mb}`, times.deserialize, times.deserialize),
    row(`one copy of the reads + v8.deserialize ${mb}`, `v8.deserialize ${mb}`, times.concat, times.deserialize),
    row(`RecordDecoder ${mb} in 64 KiB reads`, `v8.deserialize ${mb}`, times.decoder, times.deserialize),
    row(`serialize + deserialize ${mb}`, `serialize + deserialize ${mb}`, times.roundTrip, times.roundTrip),
    row(`spawn() to result ${mb}`, `serialize + deserialize ${mb}`, times.spawn, times.roundTrip),
    row(`spawn() to result ${mb}, NODE_EXTRA_CA_CERTS unset`, `serialize + deserialize ${mb}`, times.spawnUnset, times.roundTrip),
  ];
}

if (require.main === module) {
  const [repeats, megabytes] = process.argv.slice(2).map(Number);
  runAlone(`Large records, median of ${repeats || 5}`, () => benchFraming(repeats || 5, megabytes || 100));
}
