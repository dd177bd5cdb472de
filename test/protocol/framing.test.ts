import { PassThrough } from "node:stream";
import { serialize } from "node:v8";
import { describe, expect, it } from "vitest";
import {
  Channel,
  DEFAULT_MAX_RECORD_BYTES,
  encodeRecord,
  maxRecordBytes,
  RecordDecoder,
  RecordError,
  type Message,
} from "../../dist/src/protocol/index.js";

/** A record whose payload is `payload` as given (e.g. bytes that are not a V8 serialization). */
function rawRecord(payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32LE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

function splitInto(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

describe("record decoder", () => {
  it("copies each byte of a record at most once, however it is split", () => {
    // 8 MiB in 64 KiB chunks: the old decoder concatenated everything pending on every chunk
    // (about 128 times the record's size in copies); a linear one copies the record once.
    const value = Buffer.alloc(8 * 2 ** 20, 7);
    const record = encodeRecord({ t: "result", id: 1, value });
    const decoder = new RecordDecoder();
    const out: unknown[] = [];
    for (const chunk of splitInto(record, 64 * 1024)) out.push(...decoder.push(chunk));
    expect(out).toHaveLength(1);
    expect((out[0] as { value: Uint8Array }).value.length).toBe(value.length);
    expect(decoder.copiedBytes).toBeLessThanOrEqual(record.length);
    expect(decoder.pendingBytes).toBe(0);
  });

  it("copies nothing for records that lie within one chunk", () => {
    const messages: Message[] = Array.from({ length: 50 }, (_, id) => ({ t: "result", id, value: "v".repeat(id * 10) }));
    const decoder = new RecordDecoder();
    expect(decoder.push(Buffer.concat(messages.map((m) => encodeRecord(m))))).toEqual(messages);
    expect(decoder.copiedBytes).toBe(0);
  });

  it("decodes every split of a stream of mixed records", () => {
    const messages: Message[] = [
      { t: "ready", pid: 1 },
      { t: "result", id: 2, value: new Map([[1n, new Set(["a"])]]) },
      { t: "result", id: 3, value: new Float32Array([1, 2, 3]) },
      { t: "batch", msgs: [{ t: "result", id: 4, value: null }] },
    ];
    const bytes = Buffer.concat(messages.map((m) => encodeRecord(m)));
    for (let a = 1; a < bytes.length; a += 7) {
      for (const b of [a + 1, a + 3, a + 64, bytes.length]) {
        const decoder = new RecordDecoder();
        const out = [...decoder.push(bytes.subarray(0, a)), ...decoder.push(bytes.subarray(a, b)), ...decoder.push(bytes.subarray(b))];
        expect(out).toEqual(messages);
      }
    }
  });

  it("reports a record over the cap by its size and the cap, skips it, and keeps the stream in step", () => {
    const big = encodeRecord({ t: "result", id: 1, value: "x".repeat(5000) });
    const small = encodeRecord({ t: "result", id: 2, value: "ok" });
    const decoder = new RecordDecoder({ maxRecordBytes: 1000 });
    const out: unknown[] = [];
    for (const chunk of splitInto(Buffer.concat([small, big, small]), 300)) out.push(...decoder.push(chunk));
    expect(out).toHaveLength(3);
    expect(out[0]).toEqual({ t: "result", id: 2, value: "ok" });
    expect(out[1]).toBeInstanceOf(RecordError);
    const error = out[1] as RecordError;
    expect(error.code).toBe("ERR_FORKLAB_RECORD_TOO_LARGE");
    expect(error.size).toBe(big.length - 4);
    expect(error.message).toContain(`(${big.length - 4} bytes) is larger than the cap of 1000 bytes for one message between processes;`);
    expect(error.message).toContain("FORKLAB_MAX_RECORD_BYTES");
    expect(out[2]).toEqual({ t: "result", id: 2, value: "ok" });
    // The skipped record was discarded as it arrived, never held.
    expect(decoder.copiedBytes).toBeLessThan(1000);
  });

  it("reports a record that does not deserialize in its place, between the good ones of the same chunk", () => {
    const good = (id: number) => encodeRecord({ t: "result", id, value: id });
    const corrupt = serialize({ t: "result", id: 2, value: "a string that will be cut" }).subarray(0, 12);
    const decoder = new RecordDecoder();
    const out = decoder.push(Buffer.concat([good(1), rawRecord(corrupt), good(3)]));
    expect(out).toHaveLength(3);
    expect(out[0]).toEqual({ t: "result", id: 1, value: 1 });
    expect(out[1]).toBeInstanceOf(RecordError);
    expect((out[1] as RecordError).code).toBe("ERR_FORKLAB_RECORD_UNREADABLE");
    expect((out[1] as RecordError).message).toMatch(/A message of 12 bytes arrived but could not be deserialized \(.+\)/);
    expect(out[2]).toEqual({ t: "result", id: 3, value: 3 });
  });

  it("refuses to encode a message over the cap, naming its size and the cap", () => {
    expect(() => encodeRecord({ t: "result", id: 1, value: "y".repeat(2000) }, { maxRecordBytes: 1000 })).toThrow(
      /A message of 2\.0 KiB \(20\d\d bytes\) is larger than the cap of 1000 bytes for one message between processes;/,
    );
  });

  it("takes the cap from FORKLAB_MAX_RECORD_BYTES, 1 GiB by default, and rejects a bad setting by name", () => {
    expect(DEFAULT_MAX_RECORD_BYTES).toBe(2 ** 30);
    expect(maxRecordBytes({})).toBe(2 ** 30);
    expect(maxRecordBytes({ FORKLAB_MAX_RECORD_BYTES: "4096" })).toBe(4096);
    expect(() => maxRecordBytes({ FORKLAB_MAX_RECORD_BYTES: "lots" })).toThrow(
      /FORKLAB_MAX_RECORD_BYTES is "lots": it must be a positive whole number of bytes/,
    );
  });
});

describe("channel", () => {
  it("hands an unreadable record to onError as a decode failure and delivers the rest of the chunk", async () => {
    const wire = new PassThrough();
    const received: number[] = [];
    const failures: [string, unknown, string][] = [];
    new Channel(wire, {
      onMessage: (m) => {
        if (m.t === "result") received.push(m.id);
      },
      onClose: () => {},
      onError: (error, message, during) => failures.push([(error as Error).name, message, during]),
    });
    wire.write(
      Buffer.concat([
        encodeRecord({ t: "result", id: 1, value: 1 }),
        rawRecord(Buffer.from([0xff, 0x0f, 0x6f, 0x22])),
        encodeRecord({ t: "batch", msgs: [{ t: "result", id: 2, value: 2 }, { t: "result", id: 3, value: 3 }] }),
      ]),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(received).toEqual([1, 2, 3]);
    expect(failures).toEqual([["RecordError", undefined, "decode"]]);
  });
});
