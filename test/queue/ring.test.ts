import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as lib from "../../dist/src/index.js";
import { putOneAndStay, setEnv, waitFor } from "../support/processes";
const { spawn, Queue, activeChildren } = lib;
type Q<T> = InstanceType<typeof Queue<T>>;

// The module instances the library itself uses (Node's require, as index.js requires them).
const { sharedMemory } = require("../../dist/src/ipc/native/index.js") as typeof import("../../dist/src/ipc/native/index.js");
const { ByteRing } = require("../../dist/src/ipc/ring.js") as typeof import("../../dist/src/ipc/ring.js");
const { createRingFile, openRingFile, RING_FILE_BYTES } = require("../../dist/src/ipc/ring-link.js") as typeof import("../../dist/src/ipc/ring-link.js");
const { ownerSocketPath, connectionTransports } = require("../../dist/src/ipc/server.js") as typeof import("../../dist/src/ipc/server.js");
const { encodeFrame } = require("../../dist/src/ipc/wire.js") as typeof import("../../dist/src/ipc/wire.js");

const quiet = { output: "none" as const };
const built = sharedMemory() !== undefined;

afterAll(() => {
  for (const p of activeChildren()) p.kill();
});

/** All that `ring` holds, read as the reader would. */
function drain(ring: InstanceType<typeof ByteRing>): Buffer {
  const parts: Buffer[] = [];
  ring.read((bytes) => parts.push(Buffer.from(bytes)));
  return Buffer.concat(parts);
}

describe.skipIf(!built)("ByteRing, in a mapped file", () => {
  let dir = "";
  beforeAll(() => void (dir = mkdtempSync(path.join("/dev/shm", "forklab-ring-test-"))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Two views of one mapping, as the two processes have: the writer's ring and the reader's. */
  function pair(capacity: number) {
    const made = createRingFile(dir)!;
    const theirs = openRingFile(dir, made.name);
    return { writer: new ByteRing(made.memory, 0, capacity), reader: new ByteRing(theirs, 0, capacity) };
  }

  it("takes only what there is room for, and gives it back in order across the wrap", () => {
    const { writer, reader } = pair(16);
    expect(writer.write(Buffer.from("0123456789"))).toBe(10);
    expect(drain(reader).toString()).toBe("0123456789");
    // 16 bytes of room again; these wrap past the end.
    expect(writer.write(Buffer.from("abcdefghijklmnopqrst"))).toBe(16);
    expect(writer.write(Buffer.from("x"))).toBe(0);
    expect(reader.unread).toBe(16);
    expect(drain(reader).toString()).toBe("abcdefghijklmnop");
    expect(reader.read(() => {})).toBe(0);
  });

  it("reserves room in one piece only: a frame that would wrap is refused, and goes as bytes instead", () => {
    const { writer, reader } = pair(16);
    expect(writer.reserve(10)).toBe(0);
    writer.data.write("0123456789", 0);
    writer.commit(10);
    expect(drain(reader).toString()).toBe("0123456789");
    // 16 bytes free, but only 6 before the end: a 10-byte frame is not reserved there.
    expect(writer.reserve(10)).toBe(-1);
    expect(writer.reserve(6)).toBe(10);
    expect(writer.write(Buffer.from("abcdefghij"))).toBe(10);
    expect(drain(reader).toString()).toBe("abcdefghij");
    expect(writer.reserve(17)).toBe(-1);
  });

  it("a reader that says it sleeps is woken once, and one that finds bytes need not sleep", () => {
    const { writer, reader } = pair(64);
    expect(reader.armReader()).toBe(false);
    writer.write(Buffer.from("a"));
    expect(writer.takeReaderWaiting()).toBe(true);
    expect(writer.takeReaderWaiting()).toBe(false);
    // Bytes came before it said it sleeps: it reads them instead, and nobody needs to wake it.
    expect(reader.armReader()).toBe(true);
    writer.write(Buffer.from("b"));
    expect(writer.takeReaderWaiting()).toBe(false);
    expect(drain(reader).toString()).toBe("ab");
  });

  it("a writer that waits for room is woken once the reader has read", () => {
    const { writer, reader } = pair(8);
    expect(writer.write(Buffer.from("12345678"))).toBe(8);
    expect(writer.armWriter()).toBe(false);
    expect(reader.takeWriterWaiting()).toBe(true);
    drain(reader);
    expect(reader.takeWriterWaiting()).toBe(false);
    expect(writer.armWriter()).toBe(true);
  });

  it("refuses a capacity that is not a power of two, and a file that is not a ring file", () => {
    const made = createRingFile(dir)!;
    expect(() => new ByteRing(made.memory, 0, 100)).toThrow(/power of two, got 100/);
    expect(() => openRingFile(dir, "../s")).toThrow(/not a ring file's name: "..\/s"/);
  });
});

describe.skipIf(!built)("the owner and its rings", () => {
  it("maps each child's ring file and removes it: only the socket is left in its directory", async () => {
    const q = new Queue<string>();
    const child = spawn(async (q: Q<string>) => {
      await q.put("hello");
      await new Promise(() => setInterval(() => {}, 1000));
    }, [q], quiet);
    expect(await q.get()).toBe("hello");
    expect(connectionTransports().find((c) => c.pid === child.pid)?.transport).toBe("rings");
    const socket = ownerSocketPath();
    expect(path.dirname(socket).startsWith("/dev/shm/forklab-q-")).toBe(true);
    expect(readdirSync(path.dirname(socket))).toEqual([path.basename(socket)]);
    child.kill();
    await child.join();
  });

  it("drops a connection whose Hello names a file outside its directory, touching nothing, and goes on serving the others", async () => {
    const q = new Queue<number>();
    const dir = path.dirname(ownerSocketPath());
    // A file the owner could map, beside its directory: named, it must be neither mapped nor removed.
    const decoy = `${dir}-decoy`;
    writeFileSync(decoy, Buffer.alloc(RING_FILE_BYTES));
    try {
      const bad = connect(ownerSocketPath());
      const closed = new Promise<void>((resolve) => bad.on("close", () => resolve()));
      bad.on("error", () => {});
      const hello = { pid: 1, name: "bad", ring: `../${path.basename(decoy)}` };
      bad.write(encodeFrame(1 /* Hello */, 0, 0, 0, Buffer.from(JSON.stringify(hello))));
      await closed;
      expect(existsSync(decoy)).toBe(true);
      const child = spawn(async (q: Q<number>) => q.put(7), [q], quiet);
      expect(await q.get()).toBe(7);
      await child.join();
    } finally {
      rmSync(decoy, { force: true });
    }
  });

  it("maps the rings of a child that chose them even when the owner itself keeps to sockets; a put the child made just before it was killed is there", async () => {
    const restore = setEnv("FORKLAB_QUEUE_TRANSPORT", "socket");
    try {
      const q = new Queue<string>();
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.FORKLAB_QUEUE_TRANSPORT;
      const child = spawn(async (q: Q<string>) => {
        await q.put("put, then killed");
        process.kill(process.pid, "SIGKILL");
      }, [q], { ...quiet, env });
      await child.join();
      expect(await q.get({ timeout: 30 })).toBe("put, then killed");
    } finally {
      restore();
    }
  });

  it("unmaps a connection's rings once its process has ended, without waiting for the collector", async () => {
    const q = new Queue<number>();
    const child = spawn(putOneAndStay, [q], quiet);
    expect(await q.get()).toBe(1);
    const mapped = () => readFileSync("/proc/self/maps", "utf8").includes(`/r${child.pid}-`);
    expect(mapped()).toBe(true);
    child.kill();
    await child.join();
    await waitFor("the owner to let the ended child's connection go", () => !connectionTransports().some((c) => c.pid === child.pid), 30_000);
    expect(mapped()).toBe(false);
  });
});
