/**
 * A worker on a second host: `forklab worker` in its own network namespace, joined to this one by
 * a veth pair of private addresses, reaching a redis-server bound to the host side's address
 * only, with a password. Needs root and `ip` (iproute2); elsewhere the test is skipped, loudly.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisAvailable } from "../support/redis";
import { distributedSetup, freshQueue } from "./helpers";

/** Root, `ip`, and the right to make a namespace (a container may lack it): tried with one made and removed at once. */
function netnsAvailable(): boolean {
  let why: string | undefined;
  if (process.getuid?.() !== 0) why = "it needs root";
  else {
    const probe = `forklab-probe-${process.pid}`;
    const made = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
    if (made.error) why = "`ip` is not installed (Debian: apt-get install iproute2)";
    else if (made.status !== 0) why = `\`ip netns add\` is not allowed here: ${made.stderr.trim()}`;
    spawnSync("ip", ["netns", "del", probe], { stdio: "ignore" });
  }
  if (why === undefined) return true;
  console.warn(`\n!!! SKIPPED: the worker-in-a-network-namespace test: ${why}.\n`);
  return false;
}

const enabled = redisAvailable("the network namespace test") && netnsAvailable();

// Names of our own (interface names hold at most 15 characters) and a private /30 of our own.
const tag = (process.pid % 100_000).toString(36);
const NS = `forklab-${tag}`;
const HOST_IF = `fkh${tag}`;
const NS_IF = `fkn${tag}`;
const subnet = `10.${200 + (process.pid % 50)}.${(process.pid >> 6) % 250}`;
const HOST_ADDR = `${subnet}.1`;
const NS_ADDR = `${subnet}.2`;

function ip(...args: string[]): void {
  const out = spawnSync("ip", args, { encoding: "utf8" });
  if (out.status !== 0) throw new Error(`ip ${args.join(" ")} failed (${out.status}): ${out.stderr.trim()}`);
}

function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host, () => (socket.destroy(), resolve(false)));
    socket.once("error", () => resolve(true));
  });
}

describe.skipIf(!enabled)("a forklab worker in its own network namespace", () => {
  beforeAll(() => {
    ip("netns", "add", NS);
    ip("link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF);
    ip("link", "set", NS_IF, "netns", NS);
    ip("addr", "add", `${HOST_ADDR}/30`, "dev", HOST_IF);
    ip("link", "set", HOST_IF, "up");
    ip("netns", "exec", NS, "ip", "addr", "add", `${NS_ADDR}/30`, "dev", NS_IF);
    ip("netns", "exec", NS, "ip", "link", "set", NS_IF, "up");
    ip("netns", "exec", NS, "ip", "link", "set", "lo", "up");
  });
  afterAll(() => {
    // Deleting the namespace takes its end of the pair, and with it the pair; each step on its own.
    spawnSync("ip", ["netns", "del", NS], { stdio: "ignore" });
    spawnSync("ip", ["link", "del", HOST_IF], { stdio: "ignore" });
  });
  // Registered after the namespace's hooks: its beforeAll runs after the namespace exists, and its
  // afterAll (pools, workers, redis-server) before the namespace goes (after hooks run in reverse).
  // Protected mode refuses clients from another host without a password: the worker gives one.
  const setup = distributedSetup({ bind: HOST_ADDR, password: randomUUID() });

  it("a map through a worker inside the namespace completes; Redis listens on the host side's address only", async () => {
    const { redis } = setup;
    expect(redis.url).toMatch(new RegExp(`^redis://:[^@]+@${HOST_ADDR.replace(/\./g, "\\.")}:${redis.port}$`));
    expect(await refused("127.0.0.1", redis.port)).toBe(true);
    const queue = freshQueue("netns");
    const w = await setup.worker(queue, { prefix: ["ip", "netns", "exec", NS] });
    const pool = setup.pool(queue);
    const where = (n: number) => {
      const interfaces = Object.keys(require("node:os").networkInterfaces()).sort();
      return { square: n * n, interfaces };
    };
    const results = await pool.map(where, Array.from({ length: 20 }, (_, i) => i), 2);
    expect(results.map((r) => r.square)).toEqual(Array.from({ length: 20 }, (_, i) => i * i));
    // Run inside the namespace: it sees its own end of the pair and loopback, nothing of this host's.
    for (const r of results) expect(r.interfaces).toEqual([NS_IF, "lo"].sort());
    expect(pool.stats().workers.map((row) => row.id)).toEqual([expect.stringMatching(new RegExp(`:${w.pid}$`))]);
  });
});
