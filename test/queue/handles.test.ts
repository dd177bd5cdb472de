import { serialize } from "node:v8";
import { describe, expect, it } from "vitest";
import * as protocol from "../../dist/src/protocol/index.js";
const { encodeMessage, makeHandleable, registerHandleKind, RecordDecoder, reviveHandles, HANDLE_KEY } = protocol;

/** A handle kind of the test's own, revived in this process (the module is this process's copy). */
class Token {
  constructor(readonly label: string) {
    makeHandleable(this, () => ({ kind: "test.token", module: "", state: { label: this.label } }));
  }
}
registerHandleKind("test.token", (state) => new Token((state as { label: string }).label));

function roundTrip(message: protocol.Message): protocol.Message {
  const [decoded] = new RecordDecoder().push(encodeMessage(message));
  if (decoded && "h" in decoded && decoded.h === 1 && decoded.t === "run") decoded.args = reviveHandles(decoded.args) as unknown[];
  return decoded!;
}

describe("handles", () => {
  it("a handleable object cannot be structured-cloned as plain data", () => {
    expect(() => serialize(new Token("a"))).toThrow(/could not be cloned/);
  });

  it("a message without handles is serialized once and never walked", () => {
    let reads = 0;
    const args = [{ get value() { return ++reads; } }];
    const back = roundTrip({ t: "run", id: 1, target: 0, args }) as protocol.RunMessage;
    expect(back.h).toBeUndefined();
    expect(reads).toBe(1);
  });

  it("handles inside arrays, objects, Sets and Map values and keys come back as objects", () => {
    const key = new Token("key");
    const args = [new Token("top"), { nested: [new Token("deep")] }, new Set([new Token("in-set")]), new Map([[key, new Token("value")]])];
    const back = roundTrip({ t: "run", id: 1, target: 0, args }) as protocol.RunMessage;
    expect(back.h).toBe(1);
    const [top, nested, set, map] = back.args as [Token, { nested: Token[] }, Set<Token>, Map<Token, Token>];
    expect(top).toBeInstanceOf(Token);
    expect(nested.nested[0]!.label).toBe("deep");
    expect([...set][0]!.label).toBe("in-set");
    const [[k, v]] = [...map];
    expect(k).toBeInstanceOf(Token);
    expect(k!.label).toBe("key");
    expect(v!.label).toBe("value");
    expect(JSON.stringify(back.args)).not.toContain(HANDLE_KEY);
  });

  it("a handle met twice in one message comes back as one object, as Python's pickling keeps it", () => {
    let revived = 0;
    registerHandleKind("test.counted", () => ({ n: ++revived }));
    class Counted {
      constructor() {
        makeHandleable(this, () => ({ kind: "test.counted", module: "", state: {} }));
      }
    }
    const once = new Counted();
    const back = roundTrip({ t: "run", id: 1, target: 0, args: [once, { again: once }, new Map([[once, once]]), new Counted()] }) as protocol.RunMessage;
    const [a, { again }, map, other] = back.args as [object, { again: object }, Map<object, object>, object];
    expect(again).toBe(a);
    expect([...map]).toEqual([[a, a]]);
    expect([...map][0]![0]).toBe(a);
    expect(other).not.toBe(a);
    expect(revived).toBe(2);
  });

  it("a value that cannot cross even without its handles still fails, as V8 says", () => {
    expect(() => encodeMessage({ t: "run", id: 1, target: 0, args: [new Token("t"), () => 1] })).toThrow(/could not be cloned/);
  });
});
