/**
 * A task's arguments on their way to a remote worker. A queue on Redis, at any depth, travels as a
 * marker that names it by its URL and name: the worker hands it to the task's child process, which
 * opens the same queue there, as a local child does. A local queue, pipe or other handle of this
 * process cannot reach another host: it is refused, named by its path, before anything is sent.
 *
 * A queue on the pool's own Redis is marked as such: the worker opens it with its own --redis
 * address, since the caller's (say redis://127.0.0.1) may mean another server on the worker's host.
 * A queue on another Redis at a loopback address is refused: no other host could reach it.
 */
import { RedisJoinableQueue, RedisQueue } from "../../distributed/queue";
import { REMOTE_QUEUE_HANDLE } from "../../distributed/tasks";
import type { RedisAddress } from "../../distributed/connection";
import { HANDLE_KEY, isHandleable } from "../../protocol/handles";

const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || /^127\./.test(host);

/**
 * `value` with each queue on Redis replaced by its marker (containers copied only on the way to
 * one); `found` says whether there was any. Throws a TypeError at a local handle, named by `path`.
 */
export function withRemoteQueues(value: unknown, path: string, pool: RedisAddress): { value: unknown; found: boolean } {
  let found = false;
  const seen = new Map<object, unknown>();
  const walk = (v: unknown, at: string): unknown => {
    if (typeof v !== "object" || v === null) return v;
    if (seen.has(v)) return seen.get(v);
    if (v instanceof RedisQueue) {
      const poolsRedis = v.address.label === pool.label;
      if (!poolsRedis && isLoopback(v.address.host)) {
        throw new TypeError(
          `${at} is the queue "${v.name}" on Redis at ${v.address.label}, a loopback address: a worker on another host would open its own server there. ` +
            `Open the queue on the pool's Redis (${pool.label}), or on an address every worker reaches`,
        );
      }
      found = true;
      const marker = { [HANDLE_KEY]: REMOTE_QUEUE_HANDLE, module: "", state: { options: v.options, joinable: v instanceof RedisJoinableQueue, poolsRedis } };
      seen.set(v, marker);
      return marker;
    }
    if (isHandleable(v)) {
      const kind = v.constructor?.name ?? "handle";
      throw new TypeError(
        `${at} is a local ${kind} of this process: a task on a remote worker cannot reach it. ` +
          `Share items with remote tasks through a queue on Redis: new Queue({ redis, name }) (or new JoinableQueue({ redis, name }))`,
      );
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Date || v instanceof RegExp || v instanceof Error) return v;
    // The copy is registered before its contents are walked, so that a container met again (twice
    // in the arguments, or through a cycle) becomes the same copy; kept only if something changed,
    // which a cycle back to it always is.
    const keep = <C>(copy: C, changed: boolean): C | object => {
      seen.set(v, changed ? copy : v);
      return changed ? copy : v;
    };
    if (Array.isArray(v)) {
      const copy: unknown[] = [];
      seen.set(v, copy);
      let changed = false;
      v.forEach((item, i) => {
        const w = walk(item, `${at}[${i}]`);
        if (w !== item) changed = true;
        copy[i] = w;
      });
      return keep(copy, changed);
    }
    if (v instanceof Map) {
      const copy = new Map<unknown, unknown>();
      seen.set(v, copy);
      let changed = false;
      for (const [k, item] of v) {
        const wk = walk(k, `${at} key`);
        const wv = walk(item, `${at}.get(${typeof k === "string" ? JSON.stringify(k) : "…"})`);
        if (wk !== k || wv !== item) changed = true;
        copy.set(wk, wv);
      }
      return keep(copy, changed);
    }
    if (v instanceof Set) {
      const copy = new Set<unknown>();
      seen.set(v, copy);
      let changed = false;
      for (const item of v) {
        const w = walk(item, `${at} item`);
        if (w !== item) changed = true;
        copy.add(w);
      }
      return keep(copy, changed);
    }
    const copy: Record<string, unknown> = {};
    seen.set(v, copy);
    let changed = false;
    for (const key of Object.keys(v)) {
      const item = (v as Record<string, unknown>)[key];
      const w = walk(item, /^[A-Za-z_$][\w$]*$/.test(key) ? `${at}.${key}` : `${at}[${JSON.stringify(key)}]`);
      if (w !== item) changed = true;
      copy[key] = w;
    }
    return keep(copy, changed);
  };
  return { value: walk(value, path), found };
}
