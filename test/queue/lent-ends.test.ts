/**
 * A writing end lent to a child is watched until it is attached or taken back, and no longer: a
 * long-lived Pool worker is sent an end per task, and each watch on its exit would otherwise stay
 * (with the pipe's store) for the worker's whole life.
 */
import { describe, expect, it } from "vitest";
import { Store } from "../../dist/src/ipc/store.js";
import { ChildToBe } from "../../dist/src/parent/process/child-handle.js";

describe("a lent writing end's watch", () => {
  it("is told once when the end is attached, or taken back, or was attached before it was lent", () => {
    const store = new Store("Pipe", 0);
    const told: string[] = [];
    store.lendWriter(1, () => told.push("attached"));
    store.returnWriter(1);
    store.returnWriter(1);
    store.lendWriter(2, () => told.push("taken back"));
    store.takeBack(2, 4242);
    store.returnWriter(3);
    store.lendWriter(3, () => told.push("attached first"));
    expect(told).toEqual(["attached", "taken back", "attached first"]);
    expect([1, 2, 3].map((token) => store.isLent(token))).toEqual([false, false, false]);
  });

  it("is forgotten by a child-to-be when asked, before the child exists", () => {
    const toBe = new ChildToBe();
    const told: string[] = [];
    const forget = toBe.context.onPeerEnd!(() => told.push("forgotten one"));
    toBe.context.onPeerEnd!((pid) => told.push(`kept one: ${pid}`));
    forget();
    toBe.startedAs(undefined);
    expect(told).toEqual(["kept one: 0"]);
  });
});
