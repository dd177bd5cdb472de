/**
 * The floor under forklab's writer -> reader figures: the same three processes and the same
 * syscalls, with no queue around them. A writer process writes each item to the owner's Unix
 * socket with one write(2) and goes on once it returns (a put done once its bytes are with the
 * OS); the owner (this process) forwards what each read brings to the reader in one write; the
 * reader writes one ack per item with one write(2) before it counts the item (a get done once its
 * ack is with the OS). No framing, no store, no promises: what the syscalls and wake-ups alone
 * cost per item on this machine. Timed in the reader over the last n items of warm + n, as
 * bench/queue.ts times a queue (with no warm-up, from the first item to the last).
 *
 * The ping-pong floor is the same for a round trip: this process and a child echo one frame's
 * bytes over a Unix socket, one write(2) each way, nothing else: what two wake-ups of Node's
 * event loop cost, under any queue or pipe between two Node processes.
 *
 * Run alone: npx tsc -p . && node dist/bench/queue-floor.js [items=20000] [bytes=30] [warm_items=0]
 *       or: node dist/bench/queue-floor.js ping-pong [round_trips=5000] [warm_trips=0]
 */
import { fork } from "node:child_process";
import { mkdtempSync, rmSync, writeSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";

/** The socket's descriptor (the same write(2) the Outbox makes). */
const fdOf = (socket: Socket) => (socket as unknown as { _handle: { fd: number } })._handle.fd;

/** All of `bytes` to the socket: write(2) at once, what the OS did not take through the stream. */
function writeAll(socket: Socket, bytes: Buffer, done: () => void): void {
  let at = 0;
  while (at < bytes.length) {
    try {
      at += writeSync(fdOf(socket), bytes, at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
      socket.write(bytes.subarray(at), () => done());
      return;
    }
  }
  done();
}

function writer(file: string, n: number, size: number): void {
  const socket: Socket = connect(file, () => {
    const item = Buffer.alloc(size, 1);
    let i = 0;
    const next = (): void => {
      if (i++ === n) return void socket.end();
      writeAll(socket, item, () => process.nextTick(next));
    };
    next();
  });
}

function reader(file: string, n: number, size: number, warm: number): void {
  // The clock's two readings, at these item indexes (as bench/queue.ts's window()).
  const [start, last] = warm > 0 ? [warm - 1, warm + n - 1] : [0, n - 1];
  const socket: Socket = connect(file, () => socket.write("R"));
  // An ack's size on the wire: a frame's header, no payload.
  const ack = Buffer.alloc(22);
  let got = 0;
  let bytes = 0;
  let t0 = 0;
  socket.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    for (let whole = Math.floor(bytes / size); got < whole; ) {
      writeAll(socket, ack, () => {});
      if (got++ === start) t0 = performance.now();
    }
    if (got <= last) return;
    process.send!(((performance.now() - t0) * 1000) / (last - start));
    socket.destroy();
  });
}

/** µs per item of `size` bytes from a writer process to a reader process through this one, over the last n of warm + n. */
export function floorStream(n: number, size: number, warm = 0): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), "forklab-floor-"));
  const file = path.join(dir, "s");
  return new Promise<number>((resolve, reject) => {
    const args = (role: string, items: number) => [role, file, String(items), String(size), String(warm)];
    let toReader: Socket | undefined;
    const server = createServer((socket) => {
      socket.on("error", () => {});
      if (!toReader) {
        // The reader connects first (it says so with one byte; its acks are read and dropped),
        // then the writer starts.
        toReader = socket;
        socket.on("data", () => {});
        socket.once("data", () => fork(__filename, args("writer", warm + n), { stdio: "ignore" }).once("error", reject));
        return;
      }
      const to = toReader;
      socket.on("data", (chunk: Buffer) => writeAll(to, chunk, () => {}));
    });
    server.listen(file, () => {
      const read = fork(__filename, args("reader", n), { stdio: "ignore" });
      read.once("message", (us) => {
        server.close();
        rmSync(dir, { recursive: true, force: true });
        resolve(us as number);
      });
      read.once("error", reject);
    });
  });
}

/** The child's side of floorPingPong: each read's bytes written straight back. */
function echo(file: string): void {
  const socket: Socket = connect(file);
  socket.on("error", () => {});
  socket.on("data", (chunk: Buffer) => writeAll(socket, chunk, () => {}));
}

/**
 * µs per round trip of a `size`-byte message between this process and a child over a Unix
 * socket, over the last n of warm + n: one write each way, the next sent once the echo is read.
 */
export function floorPingPong(n: number, size: number, warm = 0): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), "forklab-floor-"));
  const file = path.join(dir, "s");
  return new Promise<number>((resolve, reject) => {
    const message = Buffer.alloc(size, 1);
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      server.close();
      rmSync(dir, { recursive: true, force: true });
      outcome();
    };
    const server = createServer((socket) => {
      socket.on("error", (error) => settle(() => reject(error)));
      let trips = 0;
      let bytes = 0;
      let t0 = performance.now();
      socket.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes < size) return;
        bytes -= size;
        if (++trips === warm) t0 = performance.now();
        if (trips < warm + n) return writeAll(socket, message, () => {});
        const us = ((performance.now() - t0) * 1000) / n;
        socket.destroy();
        settle(() => resolve(us));
      });
      writeAll(socket, message, () => {});
    });
    server.listen(file, () => {
      const child = fork(__filename, ["echo", file], { stdio: "ignore" });
      child.once("error", (error) => settle(() => reject(error)));
      // An echo that ends before the last round trip (it could not connect, or crashed) ends the run.
      child.once("exit", (code, signal) => settle(() => reject(new Error(`the echo process ended (${signal ?? `exit code ${code}`}) after ${n + warm} round trips were asked`))));
    });
  });
}

if (require.main === module) {
  const [role, file, n, size, warm] = process.argv.slice(2);
  if (role === "writer") writer(file!, Number(n), Number(size));
  else if (role === "reader") reader(file!, Number(n), Number(size), Number(warm));
  else if (role === "echo") echo(file!);
  else if (role === "ping-pong") {
    const trips = Number(file) || 5000;
    void floorPingPong(trips, 30, Number(n) || 0).then((us) => {
      console.log(`30 B round trips: ${us.toFixed(2)} µs per round trip`);
      process.exit(0);
    });
  }
  else {
    const items = Number(role) || 20000;
    const bytes = Number(file) || 30;
    void floorStream(items, bytes, Number(n) || 0).then((us) => {
      console.log(`${bytes} B items: ${us.toFixed(2)} µs per item`);
      process.exit(0);
    });
  }
}
