import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { newHeader, parse, serialize, sign, WireError, endpoint, PROTOCOL_VERSION, type Message } from "../../kernel/wire";
import { jupyterAvailable, python } from "../support/jupyter";

const key = { scheme: "hmac-sha256", key: "secret-key" };

function message(content: Record<string, unknown> = { code: "1 + 1" }): Omit<Message<unknown>, "buffers"> & { buffers?: Buffer[] } {
  return {
    identities: [Buffer.from("client-1")],
    header: newHeader("execute_request", "session-1"),
    parent_header: {},
    metadata: {},
    content,
  };
}

describe("sign", () => {
  it("is the HMAC of the four JSON frames in order", () => {
    const frames = ["{}", "{}", "{}", '{"a":1}'].map((s) => Buffer.from(s));
    const expected = createHmac("sha256", "secret-key");
    for (const f of frames) expected.update(f);
    expect(sign(frames, key)).toBe(expected.digest("hex"));
  });

  it("honours the scheme's algorithm", () => {
    const frames = [Buffer.from("x")];
    expect(sign(frames, { scheme: "hmac-sha512", key: "k" })).toBe(createHmac("sha512", "k").update("x").digest("hex"));
  });

  it("is off with an empty key", () => {
    expect(sign([Buffer.from("x")], { scheme: "hmac-sha256", key: "" })).toBe("");
  });
});

describe("serialize", () => {
  it("frames identities, delimiter, signature, four JSON parts and buffers", () => {
    const frames = serialize({ ...message(), buffers: [Buffer.from([1, 2, 3])] }, key);
    expect(frames[0].toString()).toBe("client-1");
    expect(frames[1].toString()).toBe("<IDS|MSG>");
    expect(frames[2].toString()).toBe(sign(frames.slice(3, 7), key));
    expect(JSON.parse(frames[3].toString()).msg_type).toBe("execute_request");
    expect(JSON.parse(frames[6].toString())).toEqual({ code: "1 + 1" });
    expect(frames[7]).toEqual(Buffer.from([1, 2, 3]));
    expect(frames).toHaveLength(8);
  });

  it("round-trips through parse", () => {
    const original = message({ text: "héllo ✓", nested: { list: [1, null] } });
    const parsed = parse(serialize(original, key), key);
    expect(parsed.header).toEqual(original.header);
    expect(parsed.content).toEqual(original.content);
    expect(parsed.identities).toEqual(original.identities);
    expect(parsed.buffers).toEqual([]);
  });

  it("builds protocol 5.3 headers", () => {
    const header = newHeader("kernel_info_request", "s");
    expect(header.version).toBe(PROTOCOL_VERSION);
    expect(header.version).toBe("5.3");
    expect(header.msg_id).not.toBe(newHeader("kernel_info_request", "s").msg_id);
    expect(Number.isNaN(Date.parse(header.date))).toBe(false);
  });
});

describe("parse rejects", () => {
  const good = () => serialize(message(), key);

  it("a bad signature", () => {
    const frames = good();
    frames[2] = Buffer.from("0".repeat(64));
    expect(() => parse(frames, key)).toThrow(WireError);
    expect(() => parse(frames, key)).toThrow(/bad signature/);
  });

  it("a message signed with another key", () => {
    expect(() => parse(serialize(message(), { ...key, key: "other" }), key)).toThrow(/bad signature/);
  });

  it("a tampered content frame", () => {
    const frames = good();
    frames[6] = Buffer.from('{"code":"rm -rf /"}');
    expect(() => parse(frames, key)).toThrow(/bad signature/);
  });

  it("a signature of a different length", () => {
    const frames = good();
    frames[2] = Buffer.from("abc");
    expect(() => parse(frames, key)).toThrow(/bad signature/);
  });

  it("frames without a delimiter", () => {
    expect(() => parse(good().filter((f) => f.toString() !== "<IDS|MSG>"), key)).toThrow(/no "<IDS\|MSG>" delimiter/);
  });

  it("too few frames after the delimiter", () => {
    expect(() => parse(good().slice(0, 5), key)).toThrow(/expected signature and 4 JSON frames/);
  });

  it("a frame that is not JSON", () => {
    const frames = good();
    frames[5] = Buffer.from("{not json");
    frames[2] = Buffer.from(sign(frames.slice(3, 7), key));
    expect(() => parse(frames, key)).toThrow(/metadata frame is not JSON/);
  });

  it("a frame that is JSON but not an object", () => {
    const frames = good();
    frames[6] = Buffer.from("[1,2]");
    frames[2] = Buffer.from(sign(frames.slice(3, 7), key));
    expect(() => parse(frames, key)).toThrow(/content frame is not a JSON object/);
  });

  it("a header without msg_type", () => {
    const frames = good();
    frames[3] = Buffer.from('{"msg_id":"x"}');
    frames[2] = Buffer.from(sign(frames.slice(3, 7), key));
    expect(() => parse(frames, key)).toThrow(/header lacks msg_type/);
    // Nobody to answer: the error carries no request.
    expect(thrownBy(() => parse(frames, key)).request).toBeUndefined();
  });

  it("a genuine request with a bad frame after its header, keeping who sent it and its header to answer", () => {
    const frames = good();
    frames[6] = Buffer.from('{"code": "1 +');
    frames[2] = Buffer.from(sign(frames.slice(3, 7), key));
    const error = thrownBy(() => parse(frames, key));
    expect(error.message).toMatch(/^execute_request [\w-]+: content frame is not JSON/);
    expect(error.request?.identities).toEqual([Buffer.from("client-1")]);
    expect(error.request?.header.msg_type).toBe("execute_request");
    // The same frames with a bad signature could come from anyone: nothing to answer.
    frames[2] = Buffer.from("0".repeat(64));
    expect(thrownBy(() => parse(frames, key)).request).toBeUndefined();
  });
});

function thrownBy(fn: () => unknown): WireError {
  try {
    fn();
  } catch (error) {
    if (error instanceof WireError) return error;
    throw error;
  }
  throw new Error("expected a WireError");
}

describe("parse accepts", () => {
  it("any signature when signing is off", () => {
    const off = { scheme: "hmac-sha256", key: "" };
    const frames = serialize(message(), off);
    expect(frames[2].toString()).toBe("");
    expect(parse(frames, off).content).toEqual({ code: "1 + 1" });
  });

  it("several identities and trailing buffers", () => {
    const frames = serialize({ ...message(), identities: [Buffer.from("a"), Buffer.from("b")], buffers: [Buffer.from("x"), Buffer.from("y")] }, key);
    const parsed = parse(frames, key);
    expect(parsed.identities.map(String)).toEqual(["a", "b"]);
    expect(parsed.buffers.map(String)).toEqual(["x", "y"]);
  });
});

describe("endpoint", () => {
  it("formats tcp and ipc addresses as jupyter_client does", () => {
    const info = { transport: "tcp", ip: "127.0.0.1", shell_port: 1, iopub_port: 2, stdin_port: 3, control_port: 4, hb_port: 5, key: "", signature_scheme: "hmac-sha256" };
    expect(endpoint(info, 5555)).toBe("tcp://127.0.0.1:5555");
    expect(endpoint({ ...info, transport: "ipc", ip: "/tmp/k" }, 3)).toBe("ipc:///tmp/k-3");
  });
});

describe.skipIf(!jupyterAvailable("wire tests against jupyter_client's Session"))("interoperates with jupyter_client's Session", () => {
  it("verifies what Session signs, and Session verifies what we sign", () => {
    const ours = serialize({ ...message({ from: "forklab" }), identities: [] }, key);
    const script = `
import json, sys
from jupyter_client.session import Session
s = Session(key=b"secret-key", signature_scheme="hmac-sha256")
ours = [bytes.fromhex(h) for h in json.loads(sys.stdin.read())]
idents, msg_list = s.feed_identities(ours)
msg = s.deserialize(msg_list)  # raises on a bad signature
theirs = s.serialize(s.msg("execute_reply", content={"status": "ok", "from": msg["content"]["from"]}))
print(json.dumps([f.hex() if isinstance(f, bytes) else f.encode().hex() for f in theirs]))
`;
    const out = python(script, { input: JSON.stringify(ours.map((f) => f.toString("hex"))) });
    const theirs = (JSON.parse(out) as string[]).map((h) => Buffer.from(h, "hex"));
    const parsed = parse(theirs, key);
    expect(parsed.header.msg_type).toBe("execute_reply");
    expect(parsed.content).toEqual({ status: "ok", from: "forklab" });
  });

  it("Session rejects what we sign with a different key", () => {
    const ours = serialize({ ...message(), identities: [] }, { ...key, key: "wrong" });
    const script = `
import json, sys
from jupyter_client.session import Session
s = Session(key=b"secret-key", signature_scheme="hmac-sha256")
frames = [bytes.fromhex(h) for h in json.loads(sys.stdin.read())]
idents, msg_list = s.feed_identities(frames)
try:
    s.deserialize(msg_list)
    print("accepted")
except ValueError as e:
    print("rejected", e)
`;
    expect(python(script, { input: JSON.stringify(ours.map((f) => f.toString("hex"))) })).toMatch(/^rejected .*Invalid Signature/i);
  });
});
