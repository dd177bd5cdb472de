import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Form, packItem, receivedItem, unpackItem } from "../../src/ipc/items";
import { FrameDecoder, Op, Outbox, SocketConduit, encodeFrame, type Frame } from "../../src/ipc/wire";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A connected pair of Unix sockets: [the writing side, frames the other side decodes]. */
async function pair(): Promise<{ client: Socket; frames: Frame[]; arrived: (count: number) => Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), "forklab-wire-"));
  const file = path.join(dir, "s");
  const frames: Frame[] = [];
  let wake: () => void = () => {};
  const server = createServer((socket) => {
    const decoder = new FrameDecoder();
    socket.on("data", (chunk: Buffer) =>
      decoder.push(chunk, (frame) => {
        frames.push({ ...frame, payload: Buffer.from(frame.payload) });
        wake();
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(file, resolve));
  const client = connect(file);
  await new Promise<void>((resolve) => client.once("connect", resolve));
  cleanups.push(() => {
    client.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const arrived = (count: number) =>
    new Promise<void>((resolve) => {
      wake = () => frames.length >= count && resolve();
      wake();
    });
  return { client, frames, arrived };
}

describe("Outbox", () => {
  it("gets every frame across, in order, when a batch is larger than the OS takes at once", async () => {
    const { client, frames, arrived } = await pair();
    const out = new Outbox(new SocketConduit(client));
    const big = Buffer.alloc(8 << 20, 7);
    out.add(Op.Item, 1, 0, 1, big);
    out.flush();
    // The socket now holds the rest of the large batch: later frames must queue behind it.
    const later = out.written();
    for (let i = 2; i <= 50; i++) out.add(Op.Item, 1, 0, i, Buffer.from(`item ${i}`));
    out.flush();
    await later;
    await arrived(50);
    expect(frames.map((f) => f.number)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(frames[0]!.payload.equals(big)).toBe(true);
    expect(frames[49]!.payload.toString()).toBe("item 50");
  });

  it("holds the batches flushed while a write waits for room, and sends them once it is done, each resolving", async () => {
    const { client, frames, arrived } = await pair();
    const out = new Outbox(new SocketConduit(client));
    const writes: number[] = [];
    const write = client.write.bind(client) as (chunk: Buffer, callback: (error?: Error | null) => void) => boolean;
    (client as unknown as { write: typeof write }).write = (chunk, callback) => (writes.push(chunk.length), write(chunk, callback));
    const big = Buffer.alloc(8 << 20, 7);
    out.add(Op.Item, 1, 0, 1, big);
    out.flush();
    // Each put of a producer that awaits nothing: a batch of its own, flushed at once.
    const done: Promise<void>[] = [];
    for (let i = 2; i <= 50; i++) {
      out.add(Op.Item, 1, 0, i, Buffer.from(`item ${i}`));
      done.push(out.flush() ?? Promise.resolve());
    }
    await Promise.all(done);
    await arrived(50);
    expect(frames.map((f) => f.number)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // Only the rest of the large batch waited in the socket: the 49 small batches did not each
    // queue a write of their own behind it (they went together, once it was done).
    expect(writes).toHaveLength(1);
  });

  it("keeps every frame whole when small batches meet a full OS buffer and the outbox goes on encoding", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "forklab-wire-"));
    const file = path.join(dir, "s");
    const frames: Frame[] = [];
    let other!: Socket;
    let wake: () => void = () => {};
    const accepted = new Promise<void>((resolve) => {
      const server = createServer((socket) => {
        other = socket;
        // Reads nothing until told: the OS buffer between the two fills up.
        socket.pause();
        const decoder = new FrameDecoder();
        socket.on("data", (chunk: Buffer) => decoder.push(chunk, (frame) => (frames.push({ ...frame, payload: Buffer.from(frame.payload) }), wake())));
        resolve();
      });
      server.listen(file);
      cleanups.push(() => server.close());
    });
    const client = connect(file);
    cleanups.push(() => (client.destroy(), rmSync(dir, { recursive: true, force: true })));
    await new Promise<void>((resolve) => client.once("connect", resolve));
    await accepted;
    const out = new Outbox(new SocketConduit(client));
    let pending = false;
    out.onPending = (waiting) => (pending = waiting);
    const done: Promise<void>[] = [];
    let n = 0;
    // Small batches, one by one, until one waits for room; then more while it waits.
    while (!pending) {
      out.add(Op.Item, 1, 0, ++n, Buffer.alloc(100, n % 251));
      done.push(out.flush() ?? Promise.resolve());
    }
    for (let more = 0; more < 200; more++) {
      out.add(Op.Item, 1, 0, ++n, Buffer.alloc(100, n % 251));
      done.push(out.flush() ?? Promise.resolve());
    }
    const all = new Promise<void>((resolve) => (wake = () => frames.length === n && resolve()));
    other.resume();
    await Promise.all(done);
    await all;
    expect(frames.map((f) => f.number)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    for (const frame of frames) expect(frame.payload.equals(Buffer.alloc(100, frame.number % 251)), `frame ${frame.number}`).toBe(true);
  });

  it("resolves written() for a small batch the OS takes at once, and the frame arrives whole", async () => {
    const { client, frames, arrived } = await pair();
    const out = new Outbox(new SocketConduit(client));
    out.add(Op.Ack, 3, 0, 42);
    await out.written();
    await arrived(1);
    expect(frames[0]).toMatchObject({ op: Op.Ack, queue: 3, number: 42 });
  });

  it("send() writes at once when nothing else went in this run of promise jobs; more sends in the same run share one later write", async () => {
    const { client, frames, arrived } = await pair();
    const out = new Outbox(new SocketConduit(client));
    const settled: number[] = [];
    const send = (n: number) => out.send(Op.Put, 1, 0, n).then(() => void settled.push(n));
    // A loop that awaits each send: every one is with the OS by the next promise job.
    for (let n = 1; n <= 3; n++) {
      const sent = send(n);
      await Promise.resolve();
      await Promise.resolve();
      expect(settled).toContain(n);
      await sent;
    }
    // Three sends in one synchronous run: the first goes at once, the other two wait for the batch.
    const burst = [send(4), send(5), send(6)];
    await Promise.resolve();
    await Promise.resolve();
    expect(settled).toEqual([1, 2, 3, 4]);
    await Promise.all(burst);
    await arrived(6);
    expect(frames.map((f) => f.number)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe("Outbox failures", () => {
  it("a queued write that fails while nobody awaits its batch is no unhandled rejection; a later written() rejects", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "forklab-wire-"));
    const file = path.join(dir, "s");
    // The other side reads nothing, so that most of a large batch waits in the socket.
    let other!: Socket;
    const accepted = new Promise<void>((resolve) => {
      const server = createServer((socket) => ((other = socket), resolve()));
      server.listen(file);
      cleanups.push(() => server.close());
    });
    const client = connect(file);
    client.on("error", () => {});
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    cleanups.push(() => {
      process.off("unhandledRejection", onUnhandled);
      client.destroy();
      rmSync(dir, { recursive: true, force: true });
    });
    await accepted;
    const out = new Outbox(new SocketConduit(client));
    const pending = new Promise<void>((resolve) => (out.onPending = (waiting) => waiting && resolve()));
    // Flushed at the end of this tick; the promise of its batch is taken by no one.
    out.add(Op.Item, 1, 0, 1, Buffer.alloc(8 << 20, 1));
    await pending;
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    other.destroy();
    await closed;
    out.fail(new Error("the connection closed"));
    // A rejection nobody handled is reported once the microtasks after it have run.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    await expect(out.written()).rejects.toThrow(/the connection closed/);
  });
});

describe("FrameDecoder", () => {
  const stream = Buffer.concat([
    encodeFrame(Op.Item, 1, 0, 1, Buffer.from("first")),
    encodeFrame(Op.Ack, 2, 0, 7),
    encodeFrame(Op.Item, 3, 9, 2.5, Buffer.alloc(300, 5), 6),
  ]);
  const expected = [
    { op: Op.Item, queue: 1, request: 0, number: 1, flags: 0, payload: "first" },
    { op: Op.Ack, queue: 2, request: 0, number: 7, flags: 0, payload: "" },
    { op: Op.Item, queue: 3, request: 9, number: 2.5, flags: 6, payload: Buffer.alloc(300, 5).toString() },
  ];
  const seen = (frames: Frame[]) => frames.map((f) => ({ op: f.op, queue: f.queue, request: f.request, number: f.number, flags: f.flags, payload: f.payload.toString() }));

  it("gives the same frames for every split of the stream into two reads, the length field included", () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const frames: Frame[] = [];
      const decoder = new FrameDecoder();
      decoder.push(Buffer.from(stream.subarray(0, cut)), (f) => frames.push({ ...f }));
      decoder.push(Buffer.from(stream.subarray(cut)), (f) => frames.push({ ...f }));
      expect(seen(frames), `cut at ${cut}`).toEqual(expected);
    }
  });

  it("gives the same frames when every byte arrives in a read of its own", () => {
    const frames: Frame[] = [];
    const decoder = new FrameDecoder();
    for (let at = 0; at < stream.length; at++) decoder.push(Buffer.from(stream.subarray(at, at + 1)), (f) => frames.push({ ...f }));
    expect(seen(frames)).toEqual(expected);
  });

  it("copies only a frame split across reads, into a buffer of its own size; the frames after it stay slices of their read", () => {
    const first = encodeFrame(Op.Item, 1, 0, 1, Buffer.alloc(1000, 1));
    const second = encodeFrame(Op.Item, 1, 0, 2, Buffer.alloc(1000, 2));
    const readA = Buffer.from(first.subarray(0, 600));
    const readB = Buffer.concat([first.subarray(600), second]);
    const frames: Frame[] = [];
    const decoder = new FrameDecoder();
    decoder.push(readA, (f) => frames.push({ ...f }));
    expect(frames).toHaveLength(0);
    decoder.push(readB, (f) => frames.push({ ...f }));
    expect(frames.map((f) => f.number)).toEqual([1, 2]);
    expect(frames[0]!.payload.equals(Buffer.alloc(1000, 1))).toBe(true);
    expect(frames[0]!.payload.buffer.byteLength).toBe(first.length);
    expect(frames[1]!.payload.buffer).toBe(readB.buffer);
    expect(frames[1]!.payload.equals(Buffer.alloc(1000, 2))).toBe(true);
  });

  it("with reusedReads, hands out frames that stay whole when every read lands in the same buffer, for every split", () => {
    const read = Buffer.alloc(stream.length);
    for (let cut = 1; cut < stream.length; cut++) {
      const frames: Frame[] = [];
      const decoder = new FrameDecoder({ reusedReads: true });
      for (const [from, to] of [[0, cut], [cut, stream.length]] as const) {
        const length = stream.copy(read, 0, from, to);
        decoder.push(read.subarray(0, length), (f) => frames.push({ ...f }));
        // The next read overwrites the buffer: what was handed out must not change with it.
        read.fill(0xee);
      }
      expect(seen(frames), `cut at ${cut}`).toEqual(expected);
    }
  });

  it("with lentPayloads, lends the payload of a frame whole in its read, not of one put together from several, and lets go of it once onFrame returns", () => {
    const frame = encodeFrame(Op.Item, 1, 0, 1, Buffer.alloc(1000, 7));
    const read = Buffer.alloc(frame.length);
    const decoder = new FrameDecoder({ reusedReads: true, lentPayloads: true });
    const seenThen: { lent: boolean | undefined; inRead: boolean; bytes: string }[] = [];
    let kept: Frame | undefined;
    const onFrame = (f: Frame) => {
      kept = f;
      seenThen.push({ lent: f.lent, inRead: f.payload.buffer === read.buffer, bytes: f.payload.subarray(0, 3).toString("hex") });
    };
    frame.copy(read);
    decoder.push(read, onFrame);
    // In two reads, 600 bytes and the rest.
    decoder.push(read.subarray(0, frame.copy(read, 0, 0, 600)), onFrame);
    decoder.push(read.subarray(0, frame.copy(read, 0, 600)), onFrame);
    expect(seenThen).toEqual([
      { lent: true, inRead: true, bytes: "070707" },
      { lent: false, inRead: false, bytes: "070707" },
    ]);
    expect(kept!.payload.length).toBe(0);
  });
});

describe("receivedItem", () => {
  it("copies lent bytes before the read is overwritten, and keeps bytes that are the receiver's as they are", () => {
    for (const value of [{ a: [1, 2] }, "text", new Uint8Array([1, 2, 3]), Buffer.from("buf"), 2.5, null]) {
      const packed = packItem(value, "in a test");
      const read = Buffer.from(packed.bytes);
      const lent = receivedItem(read, packed.form, packed.handles, true);
      read.fill(0);
      expect(unpackItem(lent), `lent ${String(value)}`).toEqual(value);
      const owned = Buffer.from(packed.bytes);
      const kept = receivedItem(owned, packed.form, packed.handles, false);
      expect(unpackItem(kept), `owned ${String(value)}`).toEqual(value);
    }
    const owned = Buffer.from(packItem({ big: "x".repeat(100) }, "in a test").bytes);
    expect(receivedItem(owned, Form.V8, false, false).bytes).toBe(owned);
    const binary = Buffer.from([9, 8, 7]);
    expect((unpackItem(receivedItem(binary, Form.Uint8Array, false, false)) as Uint8Array).buffer).toBe(binary.buffer);
  });
});
