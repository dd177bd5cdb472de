import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as lib from "../../dist/src/index.js";
import { afterHeardFrom } from "../../dist/src/ipc/server.js";
const { spawn, Queue, Pipe, Pool, EOFError, activeChildren } = lib;
type Q<T> = InstanceType<typeof Queue<T>>;
type Conn<T> = InstanceType<typeof lib.Connection<T>>;

const quiet = { output: "none" as const };
const libPath = require.resolve("../../dist/src/index.js");
const dir = mkdtempSync(path.join(tmpdir(), "forklab-pipe-holders-"));

afterAll(() => {
  for (const p of activeChildren()) p.kill();
  rmSync(dir, { recursive: true, force: true });
});

async function eof(conn: Conn<unknown>): Promise<Error> {
  const error = await conn.recv().then(
    (value) => new Error(`recv() gave ${JSON.stringify(value)}, not EOFError`),
    (e: unknown) => e as Error,
  );
  expect(error).toBeInstanceOf(EOFError);
  return error;
}

/** Whether `pid` has exited and waits to be reaped (read from /proc, without the event loop). */
function isZombie(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  return stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z";
}

describe("who holds a pipe's writing end", () => {
  it("an end sent to a child killed before it read its arguments reads EOF once that child has ended", async () => {
    const [here, there] = Pipe<string>();
    const child = spawn(async (_conn: Conn<string>) => {}, [there], quiet);
    // Killed in the tick that started it: its runtime has not even booted.
    child.kill();
    await child.join();
    expect(child.exitCode).not.toBe(0);
    expect((await eof(here)).message).toContain(`(pid ${child.pid}) ended`);
  }, 60_000);

  it("an end sent to a child that could not run its target reads EOF once that child has ended", async () => {
    const [here, there] = Pipe<string>();
    const broken = path.join(dir, "broken.js");
    writeFileSync(broken, 'throw new Error("this module fails to load");\n');
    const child = spawn({ module: broken }, [there], quiet);
    await child.join();
    expect(child.exitCode).not.toBe(0);
    await eof(here);
  }, 60_000);

  it("an end in a pool task is held by the worker it went to: killed before it read the task, the worker lets it go", async () => {
    const [here, there] = Pipe<string>();
    const pool = new Pool(1);
    try {
      const pid = await pool.apply(() => process.pid);
      // The idle worker gets the task at once, and is killed in the same tick, before it can read it.
      const result = pool.applyAsync(async (conn: Conn<string>) => conn.send("ran"), [there]);
      process.kill(pid, "SIGKILL");
      await expect(result.get()).rejects.toThrow(String(pid));
      pool.terminate();
      await pool.join();
      expect((await eof(here)).message).toContain(`(pid ${pid}) ended`);
    } finally {
      pool.terminate();
    }
  }, 60_000);

  it("an end in a pool task stays held after the task's result, until the worker ends", async () => {
    const [here, there] = Pipe<string>();
    const pool = new Pool(1);
    try {
      const pid = await pool.apply(async (conn: Conn<string>) => (await conn.send("from the worker"), process.pid), [there]);
      expect(await here.recv()).toBe("from the worker");
      // The worker may keep the end past the task (a task can store it for the next one).
      expect(await here.poll(0)).toBe(false);
      pool.close();
      await pool.join();
      expect((await eof(here)).message).toContain(`(pid ${pid}) ended`);
    } finally {
      pool.terminate();
    }
  }, 60_000);

  it("an end a child puts in a queue counts as held after that child ended, until the process that gets it has it", async () => {
    const [here, there] = Pipe<string>();
    const carrier = new Queue<Conn<string>>();
    const first = spawn(async (conn: Conn<string>, carrier: Q<Conn<string>>) => {
      await carrier.put(conn);
    }, [there, carrier], quiet);
    await first.join();
    expect(first.exitCode).toBe(0);
    // The first holder has ended; the end now sits in the queue.
    expect(await here.poll(0)).toBe(false);
    const second = spawn(async (carrier: Q<Conn<string>>) => {
      const conn = await carrier.get();
      await conn.send("from the second");
    }, [carrier], quiet);
    expect(await here.recv()).toBe("from the second");
    await second.join();
    expect((await eof(here)).message).toContain(`(pid ${second.pid}) ended`);
  }, 60_000);

  it("an end a child sends to its own child reads EOF when both die before the grandchild has it", async () => {
    const [here, there] = Pipe<string>();
    const middle = spawn(async (conn: Conn<string>, lib: string) => {
      const { spawn } = require(lib);
      spawn(async (_conn: unknown) => {}, [conn], { output: "none" });
      // Dies in the tick that started the grandchild, which ends with it.
      process.kill(process.pid, "SIGKILL");
    }, [there, libPath], quiet);
    await middle.join();
    expect(middle.exitCode).toBe(-9);
    await eof(here);
  }, 60_000);

  it("an end a child gives back as its result is open in the owner, as a received copy is in Python: EOF once it is closed", async () => {
    const [here, there] = Pipe<string>();
    const child = spawn(async (conn: Conn<string>) => {
      await conn.send("before it went home");
      return conn;
    }, [there], quiet);
    // Its lending and its return cross on two links (the queue socket, the child's channel).
    const home = await child.result;
    expect(home.writable).toBe(true);
    expect(await here.recv()).toBe("before it went home");
    await child.join();
    // Once the owner has seen the child's connection close, the copy at home still holds the end.
    await new Promise<void>((resolve) => afterHeardFrom(child.pid, resolve));
    await home.send("from home");
    expect(await here.recv()).toBe("from home");
    home.close();
    expect((await eof(here)).message).toBe("Connection.recv(): the other end of the pipe was closed and nothing is left to receive");
  }, 60_000);

  it.runIf(process.platform === "linux")("a child that attached, sent and ended while the owner was busy: its items all come before EOF", async () => {
    const [here, there] = Pipe<number>();
    const child = spawn(async (conn: Conn<number>) => {
      for (let i = 0; i < 20; i++) await conn.send(i);
    }, [there], quiet);
    // Its arguments are written by now; then the owner reads nothing until the child has exited,
    // so that its exit and its connection (attach, items) wait to be read together.
    await new Promise((resolve) => setImmediate(resolve));
    const givingUp = Date.now() + 60_000;
    while (!isZombie(child.pid!)) if (Date.now() > givingUp) throw new Error(`${child.name} did not end`);
    const got: number[] = [];
    const error = await (async () => {
      for (;;) got.push(await here.recv());
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EOFError);
    expect(got).toEqual([...Array(20).keys()]);
    await child.join();
  }, 90_000);

  it("children that send and end at once: every item comes before EOF", async () => {
    const [here, there] = Pipe<number>();
    const children = Array.from({ length: 6 }, (_, c) =>
      spawn(async (conn: Conn<number>, c: number) => {
        for (let i = 0; i < 50; i++) await conn.send(c * 1000 + i);
      }, [there, c], quiet),
    );
    const got: number[] = [];
    const error = await (async () => {
      for (;;) got.push(await here.recv());
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EOFError);
    for (const child of children) await child.join();
    expect(got.sort((a, b) => a - b)).toEqual(children.flatMap((_, c) => Array.from({ length: 50 }, (_, i) => c * 1000 + i)));
  }, 60_000);
});

describe("a pipe that ended", () => {
  it("its writing end cannot be sent to another child or send here: nothing can come after the EOF its reader saw", async () => {
    const [here, there] = Pipe<string>();
    const first = spawn(async (conn: Conn<string>) => void (await conn.send("from the first child")), [there], quiet);
    await first.join();
    expect(await here.recv()).toBe("from the first child");
    expect((await eof(here)).message).toContain(`(pid ${first.pid}) ended`);
    const ended = new RegExp(`pipe has ended \\(the process that held the other end of the pipe \\(pid ${first.pid}\\) ended\\) and its other end reads EOF`);
    expect(() => spawn(async (_conn: Conn<string>) => {}, [there], quiet)).toThrow(ended);
    await expect(there.send("after the end")).rejects.toThrow(/create a new Pipe\(\)/);
    expect((await eof(here)).message).toContain(`(pid ${first.pid}) ended`);
  }, 60_000);
});

describe("send() once no copy of the other end is open: BrokenPipeError", () => {
  const brokenPipe = async (send: Promise<void>) => {
    const error = await send.then(
      () => new Error("send() resolved, not BrokenPipeError"),
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(lib.BrokenPipeError);
    expect(error.name).toBe("BrokenPipeError");
    return error.message;
  };

  it("closed in this process, never sent: at once, for a duplex pipe and a one-way one", async () => {
    const [a, b] = Pipe<string>();
    b.close();
    expect(await brokenPipe(a.send("lost"))).toMatch(/^Connection\.send\(\): the other end of the pipe was closed, .*nothing can receive 'lost', so it was not sent; create a new Pipe\(\)/);
    const [reader, writer] = Pipe<string>(false);
    reader.close();
    await brokenPipe(writer.send("lost"));
  });

  it("the child that held the other end ended: the error names it; the end it still holds is not broken", async () => {
    const [here, there] = Pipe<string>();
    const echo = spawn(async (conn: Conn<string>) => void (await conn.send(await conn.recv())), [there], quiet);
    // As Python's docs advise: the parent closes its copy once the child has one; the child's stays open.
    there.close();
    await here.send("ping");
    expect(await here.recv()).toBe("ping");
    await echo.join();
    // Once the owner has read what the child wrote and seen its connection close:
    await eof(here);
    expect(await brokenPipe(here.send("after"))).toContain(`the process that held the other end of the pipe (pid ${echo.pid}) ended`);

    const [reader, writer] = Pipe<string>(false);
    const readOne = spawn(async (conn: Conn<string>) => conn.recv(), [reader], quiet);
    await writer.send("one");
    await readOne.join();
    expect(readOne.exitCode).toBe(0);
    await new Promise<void>((resolve) => afterHeardFrom(readOne.pid, resolve));
    expect(await brokenPipe(writer.send("two"))).toContain(`(pid ${readOne.pid}) ended`);
  }, 60_000);

  it("in a child that sends, once the owner's word has come: for a duplex pipe and a one-way one", async () => {
    // Sends until one fails, yielding to the event loop in between (where the owner's word is read).
    const sendUntilBroken = async (conn: Conn<number>, go: Q<string>) => {
      await go.get();
      for (let i = 0; i < 1_000_000; i++) {
        try {
          await conn.send(i);
        } catch (error) {
          return { name: (error as Error).name, message: (error as Error).message };
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      return { name: "none", message: "every send() resolved" };
    };
    const [a, b] = Pipe<number>();
    const [reader, writer] = Pipe<number>(false);
    for (const [sending, other] of [[a, b], [writer, reader]] as const) {
      const go = new Queue<string>();
      const sender = spawn(sendUntilBroken, [sending, go], quiet);
      const holder = spawn(async (conn: Conn<number>) => conn.close(), [other], quiet);
      await holder.join();
      await go.put("go");
      await sender.join();
      const { name, message } = (await sender.result) as { name: string; message: string };
      expect(name).toBe("BrokenPipeError");
      expect(message).toMatch(/^Connection\.send\(\): the other end of the pipe was closed, and no copy of it is open anywhere: /);
    }
  }, 60_000);
});

describe("close() closes one copy of a writing end", () => {
  it("the parent's close() of the end it gave a child leaves the child's copy open: its items come before EOF", async () => {
    const [here, there] = Pipe<string>();
    const go = new Queue<string>();
    const child = spawn(async (conn: Conn<string>, go: Q<string>) => {
      await go.get();
      await conn.send("from the child");
    }, [there, go], quiet);
    // As Python's docs advise: the parent closes its copy once the child has one.
    there.close();
    await go.put("go");
    expect(await here.recv()).toBe("from the child");
    await child.join();
    expect((await eof(here)).message).toContain(`(pid ${child.pid}) ended`);
  }, 60_000);

  it("a child's close() leaves another child's copy open; the last copy closed is the end", async () => {
    const [here, there] = Pipe<string>();
    const closed = new Queue<string>();
    const [goCloser, goSender] = [new Queue<string>(), new Queue<string>()];
    const closer = spawn(async (conn: Conn<string>, closed: Q<string>, go: Q<string>) => {
      conn.close();
      // Behind the close on the same socket: once the parent has this, the owner has read the close.
      await closed.put("closed");
      await go.get();
    }, [there, closed, goCloser], quiet);
    const sender = spawn(async (conn: Conn<string>, go: Q<string>) => {
      await go.get();
      await conn.send("from the sender");
      conn.close();
      await go.get();
    }, [there, goSender], quiet);
    expect(await closed.get()).toBe("closed");
    await goSender.put("send");
    expect(await here.recv()).toBe("from the sender");
    // Both copies are closed, and both children still live.
    expect((await eof(here)).message).toContain("the other end of the pipe was closed");
    await goCloser.put("end");
    await goSender.put("end");
    await closer.join();
    await sender.join();
  }, 60_000);

  it("a process with two copies of the end still holds it after closing one", async () => {
    const [here, there] = Pipe<string>();
    const carrier = new Queue<Conn<string>>();
    await carrier.put(there);
    const child = spawn(async (first: Conn<string>, carrier: Q<Conn<string>>) => {
      const second = await carrier.get();
      first.close();
      await second.send("from the second copy");
      second.close();
      // Lives on: the end comes from the closes, not from its exit.
      await new Promise(() => setInterval(() => {}, 1000));
    }, [there, carrier], quiet);
    expect(await here.recv()).toBe("from the second copy");
    expect((await eof(here)).message).toContain("the other end of the pipe was closed");
    child.kill();
    await child.join();
  }, 60_000);

  it("a copy closed here cannot be sent: the error says so, and nothing is held", async () => {
    const [here, there] = Pipe<string>();
    const q = new Queue<unknown>();
    const go = new Queue<string>();
    const holder = spawn(async (_conn: Conn<string>, go: Q<string>) => void (await go.get()), [there, go], quiet);
    there.close();
    const refusal = /this connection was closed in this process \(pid \d+\) by close\(\); a closed copy cannot be sent: send a copy that is still open/;
    await expect(q.put({ end: there })).rejects.toThrow(refusal);
    expect(() => spawn(async (_conn: unknown) => {}, [there], quiet)).toThrow(refusal);
    expect(await q.qsize()).toBe(0);
    await go.put("end");
    await holder.join();
    expect((await eof(here)).message).toContain(`(pid ${holder.pid}) ended`);
  }, 60_000);

  it("an end never sent anywhere, closed in the process that made it: EOF at once", async () => {
    const [here, there] = Pipe<string>();
    await there.send("before close");
    there.close();
    expect(await here.recv()).toBe("before close");
    expect((await eof(here)).message).toContain("the other end of the pipe was closed");
  });
});

describe("a writing end in an item that was not sent holds nothing", () => {
  /** A child that holds `there` until told to end; `here` reads EOF once it has (and nothing else holds the end). */
  function holder(there: Conn<string>, go: Q<string>) {
    return spawn(async (_conn: Conn<string>, go: Q<string>) => void (await go.get()), [there, go], quiet);
  }

  it("a put into a full queue that gave up: once the child that held the end ends, EOF", async () => {
    const [here, there] = Pipe<string>();
    const go = new Queue<string>();
    const child = holder(there, go);
    const full = new Queue<unknown>(1);
    await full.put("taking the room");
    await expect(full.put({ end: there }, { timeout: 0.05 })).rejects.toThrow(/no room within 0.05 s/);
    await go.put("end");
    await child.join();
    // Poll waits for the end: it returns at once with it, and false only after 30 s without.
    expect(await here.poll(30)).toBe(true);
    expect((await eof(here)).message).toContain(`(pid ${child.pid}) ended`);
  }, 60_000);

  it("an item that could not be cloned beside the end: once the child that held the end ends, EOF", async () => {
    const [here, there] = Pipe<string>();
    const go = new Queue<string>();
    const child = holder(there, go);
    const q = new Queue<unknown>();
    await expect(q.put({ end: there, handler: () => 1 })).rejects.toThrow(/item\.handler is a function/);
    expect(await q.qsize()).toBe(0);
    await go.put("end");
    await child.join();
    expect(await here.poll(30)).toBe(true);
    expect((await eof(here)).message).toContain(`(pid ${child.pid}) ended`);
  }, 60_000);

  it("a child's put of its end into a full queue that gave up: EOF once that child ends", async () => {
    const [here, there] = Pipe<string>();
    const full = new Queue<unknown>(1);
    await full.put("taking the room");
    const child = spawn(async (conn: Conn<string>, full: Q<unknown>) => {
      const error = await full.put([conn], { timeout: 0.05 }).catch((e: Error) => e);
      return (error as Error).name;
    }, [there, full], quiet);
    expect(await child.result).toBe("Full");
    await child.join();
    expect(await here.poll(30)).toBe(true);
    expect((await eof(here)).message).toContain(`(pid ${child.pid}) ended`);
  }, 60_000);

  it("an end never sent anywhere stays open after a failed put and a failed spawn, whose error names the argument that cannot cross", async () => {
    const [here, there] = Pipe<string>();
    const full = new Queue<unknown>(1);
    await full.put("taking the room");
    await expect(full.putNowait(there)).rejects.toThrow(/the queue is full/);
    expect(() => spawn(async (_conn: unknown, _f: unknown) => {}, [there, () => 1], quiet)).toThrow(/args\[1\] is a function/);
    expect(await here.poll(0)).toBe(false);
    await there.send("still open");
    expect(await here.recv()).toBe("still open");
  });
});
