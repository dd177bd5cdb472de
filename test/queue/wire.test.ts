import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FrameDecoder, Op, Outbox, type Frame } from "../../src/ipc/wire";

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
    const out = new Outbox(client);
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

  it("resolves written() for a small batch the OS takes at once, and the frame arrives whole", async () => {
    const { client, frames, arrived } = await pair();
    const out = new Outbox(client);
    out.add(Op.Ack, 3, 0, 42);
    await out.written();
    await arrived(1);
    expect(frames[0]).toMatchObject({ op: Op.Ack, queue: 3, number: 42 });
  });
});
