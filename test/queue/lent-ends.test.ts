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

  it("a lent end that came home or was never sent ends the pipe if it alone kept it open after its holders went", () => {
    // The child's exit (its socket) can be read before its result that brings the end home (its channel).
    const home = new Store("Pipe", 0);
    const child = {};
    home.holdWriter(child);
    home.lendWriter(1);
    home.dropWriter(child, 4242);
    expect(home.writerClosed).toBe(false);
    home.returnWriter(1);
    expect([home.writerClosed, home.endReason]).toEqual([true, "the process that held the other end of the pipe (pid 4242) ended"]);

    const unsent = new Store("Pipe", 0);
    unsent.holdWriter(child);
    unsent.lendWriter(2);
    unsent.closeCopy(child);
    unsent.unlend(2);
    expect([unsent.writerClosed, unsent.endReason]).toEqual([true, "the other end of the pipe was closed"]);

    // Never held by another process: not sent, it stays open.
    const never = new Store("Pipe", 0);
    never.lendWriter(3);
    never.unlend(3);
    expect(never.writerClosed).toBe(false);
  });
});
