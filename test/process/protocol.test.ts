import { PassThrough, Duplex } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import {
  Channel,
  encodeRecord,
  RecordDecoder,
  unbatch,
  registerHandleKind,
  encodeHandles,
  makeHandleable,
  reviveHandles,
  HANDLE_KEY,
  findUncloneable,
  toErrorRecord,
  fromErrorRecord,
  type Message,
} from "../../dist/src/protocol/index.js";

describe("records", () => {
  it("decodes several records from one write, split at any byte", () => {
    const messages: Message[] = [
      { t: "run", id: 1, target: 7, args: [new Map([[1, new Set([2n])]]), new Date(5)] },
      { t: "run", id: 2, target: 7, args: [new Float64Array([1.5])] },
      { t: "result", id: 1, value: "x".repeat(70_000) },
    ];
    const bytes = Buffer.concat(messages.map(encodeRecord));
    for (const step of [1, 3, 17, 4096, bytes.length]) {
      const decoder = new RecordDecoder();
      const out: Message[] = [];
      for (let i = 0; i < bytes.length; i += step) out.push(...decoder.push(bytes.subarray(i, i + step)));
      expect(out).toEqual(messages);
      expect(decoder.pendingBytes).toBe(0);
    }
  });

  it("flattens batch envelopes in order", () => {
    const inner: Message[] = [
      { t: "result", id: 1, value: 1 },
      { t: "batch", msgs: [{ t: "result", id: 2, value: 2 }] },
      { t: "result", id: 3, value: 3 },
    ];
    expect(unbatch([{ t: "batch", msgs: inner }]).map((m) => (m as { id: number }).id)).toEqual([1, 2, 3]);
  });

  it("coalesces the messages of one tick into one write", async () => {
    const writes: Buffer[] = [];
    const sink = new Duplex({
      read() {},
      write(chunk, _encoding, done) {
        writes.push(chunk);
        done();
      },
    });
    const channel = new Channel(sink, { onMessage: () => {}, onClose: () => {} });
    for (let id = 0; id < 100; id++) channel.send({ t: "run", id, target: 1, args: [id] });
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveLength(1);
    expect(new RecordDecoder().push(writes[0]!)).toHaveLength(100);
  });

  it("delivers messages across a stream pair, reviving handles", async () => {
    class Counter {
      constructor(readonly port: number) {
        makeHandleable(this, () => ({ kind: "test-counter", module: "", state: { port: this.port } }));
      }
    }
    registerHandleKind("test-counter", (state) => new Counter((state as { port: number }).port));
    const wire = new PassThrough();
    const received: Message[] = [];
    new Channel(wire, { onMessage: (m) => received.push(m), onClose: () => {} });
    const encoded = encodeHandles([1, { q: new Counter(9) }, new Map([["c", new Counter(10)]])]);
    expect(encoded.found).toBe(true);
    const sender = new Channel(wire, { onMessage: () => {}, onClose: () => {} });
    sender.send({ t: "run", id: 1, target: 1, args: encoded.value as unknown[], h: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    const run = received.find((m) => m.t === "run") as Extract<Message, { t: "run" }>;
    expect((run.args[1] as { q: Counter }).q).toBeInstanceOf(Counter);
    expect((run.args[1] as { q: Counter }).q.port).toBe(9);
    expect((run.args[2] as Map<string, Counter>).get("c")!.port).toBe(10);
    // Values without handles are returned as they are, not copied.
    const plain = { a: [1, 2] };
    expect(encodeHandles(plain).value).toBe(plain);
    expect(reviveHandles(plain)).toBe(plain);
  });

  it("keeps delivering a batch when a message fails to revive or its handler throws", async () => {
    registerHandleKind("test-known", (state) => state);
    const wire = new PassThrough();
    const received: number[] = [];
    const failures: [string, number, string][] = [];
    new Channel(wire, {
      onMessage: (m) => {
        if (m.t === "result" && m.id === 3) throw new Error("handler failed");
        if (m.t === "result") received.push(m.id);
      },
      onClose: () => {},
      onError: (error, m, during) => failures.push([(error as Error).message, (m as { id: number }).id, during]),
    });
    const unknown = { [HANDLE_KEY]: "test-unknown", module: "", state: 1 };
    wire.write(
      encodeRecord({
        t: "batch",
        msgs: [
          { t: "result", id: 1, value: 1 },
          { t: "result", id: 2, value: [unknown], h: 1 },
          { t: "result", id: 3, value: 3 },
          { t: "result", id: 4, value: [{ [HANDLE_KEY]: "test-known", module: "", state: 4 }], h: 1 },
        ],
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(received).toEqual([1, 4]);
    expect(failures).toEqual([
      [expect.stringMatching(/handle of kind "test-unknown" arrived but no reviver is registered/), 2, "revive"],
      ["handler failed", 3, "onMessage"],
    ]);
  });

  it("reports a failed message on stderr when no onError is given", async () => {
    const wire = new PassThrough();
    const received: number[] = [];
    new Channel(wire, {
      onMessage: (m) => {
        if (m.t !== "result") return;
        if (m.id === 1) throw new Error("handler failed");
        received.push(m.id);
      },
      onClose: () => {},
    });
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      wire.write(encodeRecord({ t: "batch", msgs: [{ t: "result", id: 1, value: 1 }, { t: "result", id: 2, value: 2 }] }));
      await new Promise((resolve) => setImmediate(resolve));
      expect(write).toHaveBeenCalledWith(expect.stringMatching(/could not handle a "result" message from the other process:\nError: handler failed/));
    } finally {
      write.mockRestore();
    }
    expect(received).toEqual([2]);
  });
});

describe("values that cannot cross", () => {
  it("names the path of the first one", () => {
    expect(findUncloneable({ a: [1, { b: () => 1 }] }, "args")?.path).toBe("args.a[1].b");
    expect(findUncloneable(new Set([1, Symbol("x")]), "value")?.path).toBe("[...value][1]");
    expect(findUncloneable({ "odd key": new WeakMap() }, "args")).toMatchObject({ path: 'args["odd key"]', what: "a WeakMap" });
    expect(findUncloneable({ fine: new Map([[1, 2]]) }, "args")).toBeUndefined();
  });
});

describe("errors", () => {
  it("round-trips name, message, own properties and causes; the stack becomes the cause", () => {
    const original = Object.assign(new TypeError("bad input", { cause: new Error("root") }), { code: "E_X", fn: () => 1 });
    const rebuilt = fromErrorRecord(toErrorRecord(original, 4242)) as TypeError & { code: string; fn: string; cause: Error & { pid: number; cause: Error } };
    expect(rebuilt).toBeInstanceOf(TypeError);
    expect(rebuilt.message).toBe("bad input");
    expect(rebuilt.code).toBe("E_X");
    expect(rebuilt.fn).toMatch(/could not be cloned/);
    expect(rebuilt.cause.pid).toBe(4242);
    expect(rebuilt.cause.stack).toContain(original.stack!.split("\n")[1]!.trim());
    expect(rebuilt.cause.cause.message).toBe("root");
    expect(fromErrorRecord(toErrorRecord("a string", 1))).toBe("a string");
  });
});
