/**
 * The proxy's side: one connection per owner socket per process, shared by every queue of that
 * owner. Requests carry ids; the socket keeps this process alive only while an answer is awaited
 * (a child blocked in get() stays, an idle child may end). An item is confirmed (Ack) before get()
 * hands it to the caller, so a consumer that dies loses at most the item its get() returned.
 */
import { connect, type Socket } from "node:net";
import { childState } from "../protocol/messages";
import { FrameDecoder, Op, encodeFrame, type Frame } from "./wire";

interface Pending {
  resolve: (frame: Frame) => void;
  reject: (error: Error) => void;
}

export class OwnerLink {
  readonly path: string;
  readonly ownerPid: number;
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  #nextRequest = 1;
  #gone: Error | undefined;

  constructor(path: string, ownerPid: number) {
    this.path = path;
    this.ownerPid = ownerPid;
    this.#socket = connect(path);
    this.#socket.unref();
    const decoder = new FrameDecoder();
    this.#socket.on("data", (chunk: Buffer) => decoder.push(chunk, (frame) => this.#answer(frame)));
    this.#socket.on("error", (error) => this.#lost(error));
    this.#socket.on("close", () => this.#lost());
    const name = childState()?.proc.name ?? "MainProcess";
    this.#socket.write(encodeFrame(Op.Hello, 0, 0, 0, Buffer.from(JSON.stringify({ pid: process.pid, name }))));
  }

  /** Send without waiting for an answer; resolves once the bytes are with the OS (they reach the owner even if this process dies then). */
  send(op: Op, queue: number, number: number, payload?: Buffer, flags = 0): Promise<void> {
    if (this.#gone) return Promise.reject(this.#gone);
    let written!: (error?: Error | null) => void;
    const flushed = new Promise<void>((resolve, reject) => {
      written = (error) => (this.#unrefIfIdle(), error ? reject(this.#gone ?? error) : resolve());
    });
    this.#socket.ref();
    this.#socket.write(encodeFrame(op, queue, 0, number, payload, flags), written);
    // Usually the bytes went to the OS at once; otherwise (connecting, or the owner is slow) wait.
    if (this.#socket.writableLength === 0 && !this.#socket.connecting) {
      flushed.catch(() => {});
      return Promise.resolve();
    }
    return flushed;
  }

  /** Send and wait for the owner's answer (Ok, Fail or Item). */
  request(op: Op, queue: number, number: number, payload?: Buffer, flags = 0): Promise<Frame> {
    if (this.#gone) return Promise.reject(this.#gone);
    const id = this.#nextRequest++;
    if (this.#nextRequest > 0xffffffff) this.#nextRequest = 1;
    return new Promise<Frame>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.#socket.ref();
      this.#socket.write(encodeFrame(op, queue, id, number, payload, flags));
    });
  }

  /** Confirm an item at once, before the caller sees it. */
  ack(queue: number, seq: number): void {
    if (!this.#gone) this.#socket.write(encodeFrame(Op.Ack, queue, 0, seq));
  }

  #answer(frame: Frame): void {
    const pending = this.#pending.get(frame.request);
    if (!pending) return;
    this.#pending.delete(frame.request);
    this.#unrefIfIdle();
    pending.resolve(frame);
  }

  #unrefIfIdle(): void {
    if (this.#pending.size === 0 && this.#socket.writableLength === 0) this.#socket.unref();
  }

  #lost(error?: Error): void {
    if (this.#gone) return;
    this.#gone = new Error(
      `The process that owns this queue (pid ${this.ownerPid}) is gone, and its items with it` +
        (error ? ` (${error.message})` : "") +
        `; create queues in a process that outlives the ones using them (usually the notebook)`,
    );
    links.delete(this.path);
    for (const pending of this.#pending.values()) pending.reject(this.#gone);
    this.#pending.clear();
  }
}

const links = new Map<string, OwnerLink>();

export function linkTo(path: string, ownerPid: number): OwnerLink {
  let link = links.get(path);
  if (!link) links.set(path, (link = new OwnerLink(path, ownerPid)));
  return link;
}
