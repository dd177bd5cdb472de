/**
 * Jupyter's wire format (messaging protocol 5.3): sign, serialize and parse multipart messages.
 * Pure functions, no sockets: the server and the notebook runner both build on them.
 *
 *   [identities..., "<IDS|MSG>", hmac, header, parent_header, metadata, content, buffers...]
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";

export const PROTOCOL_VERSION = "5.3";
const DELIMITER = Buffer.from("<IDS|MSG>");

export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

export interface Message<Content = Record<string, unknown>> {
  identities: Buffer[];
  header: Header;
  parent_header: Header | Record<string, never>;
  metadata: Record<string, unknown>;
  content: Content;
  buffers: Buffer[];
}

/**
 * A message that could not be read. The server logs it and goes on serving. `request` is set
 * when the message is genuine (signed) and its header was readable although a later frame was
 * not: then the sender can be answered.
 */
export class WireError extends Error {
  override name = "WireError";
  constructor(
    message: string,
    readonly request?: { identities: Buffer[]; header: Header },
  ) {
    super(message);
  }
}

export interface SigningKey {
  scheme: string;
  key: string;
}

/** HMAC of the four JSON frames; an empty key means signing is off, as in jupyter_client. */
export function sign(frames: Buffer[], { scheme, key }: SigningKey): string {
  if (key === "") return "";
  const algorithm = scheme.replace(/^hmac-/, "");
  const hmac = createHmac(algorithm, key);
  for (const frame of frames) hmac.update(frame);
  return hmac.digest("hex");
}

export function newHeader(msgType: string, session: string, username = "forklab"): Header {
  return {
    msg_id: randomUUID(),
    session,
    username,
    date: new Date().toISOString(),
    msg_type: msgType,
    version: PROTOCOL_VERSION,
  };
}

export function serialize(message: Omit<Message<unknown>, "buffers"> & { buffers?: Buffer[] }, key: SigningKey): Buffer[] {
  const frames = [message.header, message.parent_header, message.metadata, message.content].map(
    (part) => Buffer.from(JSON.stringify(part)),
  );
  return [
    ...message.identities,
    DELIMITER,
    Buffer.from(sign(frames, key)),
    ...frames,
    ...(message.buffers ?? []),
  ];
}

/** Parse and verify a multipart message; throws WireError naming what is wrong. */
export function parse(frames: Buffer[], key: SigningKey): Message {
  const delimiterAt = frames.findIndex((frame) => frame.equals(DELIMITER));
  if (delimiterAt < 0) throw new WireError(`no "<IDS|MSG>" delimiter among ${frames.length} frames`);
  if (frames.length < delimiterAt + 6) {
    throw new WireError(
      `expected signature and 4 JSON frames after the delimiter, got ${frames.length - delimiterAt - 1}`,
    );
  }
  const identities = frames.slice(0, delimiterAt);
  const signature = frames[delimiterAt + 1].toString("ascii");
  const jsonFrames = frames.slice(delimiterAt + 2, delimiterAt + 6);
  const expected = sign(jsonFrames, key);
  if (expected !== "" && !constantTimeEqual(signature, expected)) {
    throw new WireError(`bad signature ${JSON.stringify(signature.slice(0, 16))}...; message dropped`);
  }
  const header = parseJsonObject(jsonFrames[0], "header");
  if (typeof header.msg_type !== "string" || typeof header.msg_id !== "string") {
    throw new WireError(`header lacks msg_type or msg_id: ${JSON.stringify(header).slice(0, 200)}`);
  }
  const request = { identities, header: header as unknown as Header };
  const [parent_header, metadata, content] = jsonFrames.slice(1).map((frame, i) => {
    try {
      return parseJsonObject(frame, ["parent_header", "metadata", "content"][i]);
    } catch (error) {
      throw new WireError(`${header.msg_type} ${header.msg_id}: ${(error as Error).message}`, request);
    }
  });
  return {
    identities,
    header: header as unknown as Header,
    parent_header: parent_header as Message["parent_header"],
    metadata,
    content,
    buffers: frames.slice(delimiterAt + 6),
  };
}

function parseJsonObject(frame: Buffer, name: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(frame.toString("utf8"));
  } catch (error) {
    throw new WireError(`${name} frame is not JSON (${(error as Error).message})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new WireError(`${name} frame is not a JSON object: ${frame.toString("utf8").slice(0, 100)}`);
  }
  return value as Record<string, unknown>;
}

function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The connection file Jupyter writes for a kernel. */
export interface ConnectionInfo {
  transport: string;
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

export function endpoint(info: ConnectionInfo, port: number): string {
  return info.transport === "ipc" ? `ipc://${info.ip}-${port}` : `${info.transport}://${info.ip}:${port}`;
}
