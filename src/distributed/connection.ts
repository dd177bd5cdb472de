/**
 * Reaching Redis: the URL and options a user gives, checked before anything connects; a probe that
 * fails at once with the address and what to check; and the long-lived clients that reconnect
 * after a Redis restart. Shared by the distributed Pool and Queue (in the kernel) and by
 * `forklab worker` (on any host).
 */
import { Redis, type RedisOptions } from "ioredis";
import { RedisConnectionError } from "./errors";

/** Redis options that pass through to the client (TLS, username/password, db, ...). */
export type RedisConnectionOptions = RedisOptions;

/** Where a URL points, for messages: `host:port` (and the db when not 0). */
export interface RedisAddress {
  url: string;
  host: string;
  port: number;
  label: string;
  options: RedisOptions;
}

function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") return `${typeof value} ${String(value)}`;
  return Array.isArray(value) ? "an array" : `an object with keys [${Object.keys(value).join(", ")}]`;
}

/**
 * Check `redis` (a URL) and `extra` (client options) and turn them into client options; throws a
 * TypeError naming `option` and the value, before any connection is tried.
 */
export function parseRedisUrl(url: unknown, option = "redis", extra: RedisConnectionOptions = {}): RedisAddress {
  if (typeof url !== "string" || url === "") {
    throw new TypeError(`${option} must be a Redis URL such as "redis://127.0.0.1:6379", got ${describeValue(url)}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`${option} ${JSON.stringify(url)} is not a URL; write it as "redis://host:6379" (or "rediss://" for TLS)`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new TypeError(
      `${option} ${JSON.stringify(url)} has the scheme "${parsed.protocol}"; use "redis://host:port" (or "rediss://" for TLS)`,
    );
  }
  if (!parsed.hostname) throw new TypeError(`${option} ${JSON.stringify(url)} names no host; write it as "redis://host:6379"`);
  const port = parsed.port ? Number(parsed.port) : 6379;
  const dbText = parsed.pathname.replace(/^\//, "");
  if (dbText !== "" && !/^\d+$/.test(dbText)) {
    throw new TypeError(`${option} ${JSON.stringify(url)} has the path "/${dbText}"; the path is the database number, e.g. "redis://host:6379/0"`);
  }
  if (extra === null || typeof extra !== "object" || Array.isArray(extra)) {
    throw new TypeError(`redisOptions must be an object of Redis client options (tls, username, password, db, ...), got ${describeValue(extra)}`);
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  const options: RedisOptions = {
    host,
    port,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(dbText ? { db: Number(dbText) } : {}),
    ...(parsed.protocol === "rediss:" ? { tls: {} } : {}),
    ...extra,
  };
  const db = options.db ?? 0;
  const label = `${host.includes(":") ? `[${host}]` : host}:${port}${db ? `/${db}` : ""}`;
  // The URL without its password, for messages and pictures.
  const shown = new URL(url);
  if (shown.password) shown.password = "***";
  return { url: shown.toString(), host, port, label, options };
}

function connectionAdvice(address: RedisAddress, error: NodeJS.ErrnoException | Error): { code: string | undefined; advice: string } {
  const code = (error as NodeJS.ErrnoException).code;
  const text = String(error.message);
  if (/NOAUTH|WRONGPASS|invalid password|invalid username/i.test(text)) {
    return { code: code ?? "AUTH", advice: "the server wants a username and password: check them in the URL (redis://user:password@host:port) or in redisOptions" };
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return { code, advice: `the host name ${address.host} does not resolve: check the spelling` };
  if (code === "ECONNREFUSED") return { code, advice: `nothing listens there: start redis-server on that host and port, or fix the URL` };
  if (code === "ETIMEDOUT" || /timeout/i.test(text)) return { code: code ?? "ETIMEDOUT", advice: "no answer: check the host, the port and any firewall between here and there" };
  return { code, advice: "check the URL, that redis-server runs there, and the TLS and password options" };
}

/**
 * Connect once, without retrying, and PING: resolves when Redis answers, otherwise rejects with a
 * RedisConnectionError naming the address and what to check.
 */
export async function probeRedis(address: RedisAddress, connectTimeoutSeconds = 5): Promise<void> {
  const client = new Redis({
    ...address.options,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: connectTimeoutSeconds * 1000,
  });
  let lastError: Error | undefined;
  client.on("error", (error: Error) => (lastError = error));
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    const cause = lastError ?? (error as Error);
    const { code, advice } = connectionAdvice(address, cause);
    throw new RedisConnectionError(
      `Cannot reach Redis at ${address.label} (${address.url}): ${code ? `${code}, ` : ""}${cause.message}; ${advice}`,
      address.label,
      code,
      cause,
    );
  } finally {
    client.disconnect();
  }
}

/**
 * Options for a long-lived client: reconnect forever (backing off to 2 s) and keep commands queued
 * while Redis is away, so a Redis restart is a pause, not a failure. BullMQ needs
 * `maxRetriesPerRequest: null` for its blocking commands. Given to BullMQ as options (not as a
 * client), so that BullMQ closes the connections it opens.
 */
export function clientOptions(address: RedisAddress, name: string): RedisOptions {
  return {
    ...address.options,
    connectionName: name,
    // Commands issued in the same tick travel together: many small tasks cost few round trips.
    enableAutoPipelining: true,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  };
}

/** A long-lived client of our own (see clientOptions; `overrides` win). */
export function connectRedis(address: RedisAddress, name: string, overrides: RedisOptions = {}): Redis {
  const client = new Redis({ ...clientOptions(address, name), ...overrides });
  // ioredis reports each failed reconnect as an error event; without a listener Node would throw.
  client.on("error", () => {});
  return client;
}

/**
 * Keep the process alive for this client only while one of its commands waits for an answer, as a
 * local queue's socket does: a child that used a queue on Redis and never closed it still ends when
 * its target is done, and one waiting in get() is not ended under it. Each new socket (a reconnect)
 * starts unreferenced when nothing is pending.
 */
export function refOnlyWhileBusy(client: Redis): Redis {
  let pending = 0;
  const apply = (): void => {
    const stream = client.stream as { ref?(): void; unref?(): void } | undefined;
    if (pending > 0) stream?.ref?.();
    else stream?.unref?.();
  };
  client.on("connect", apply);
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command, stream) => {
    // Only a change between idle and busy touches the socket, not every command.
    if (pending++ === 0) apply();
    const settled = (): void => {
      if (--pending === 0) apply();
    };
    (command as unknown as { promise: Promise<unknown> }).promise.then(settled, settled);
    return send(command, stream);
  };
  return client;
}

/**
 * Whether `client` can take commands now, or does within `seconds` (undefined: no limit, and true
 * at once: its own queue holds commands until Redis is back). A call given a timeout asks first, so
 * that Redis being away makes it fail when its time is up instead of waiting in that queue. False
 * at once when the client is closed (disconnect()): it never will.
 */
export function readyWithin(client: Redis, seconds: number | undefined): Promise<boolean> {
  if (client.status === "ready" || seconds === undefined) return Promise.resolve(true);
  if (client.status === "end") return Promise.resolve(false);
  const ready = nextReady(client);
  return new Promise<boolean>((resolve) => {
    // Not holding the process: while the client reconnects, its own timer does; once close() has
    // ended the call waiting here, nothing should.
    const timer = setTimeout(() => resolve(false), seconds * 1000).unref();
    void ready.then((isReady) => {
      clearTimeout(timer);
      resolve(isReady);
    });
  });
}

/**
 * The client's next "ready" (true) or "end" (false), one listener each for all who wait for it: a
 * listener per call would make Node warn of a leak once more than ten calls wait at once (many
 * puts while Redis is away).
 */
const readyEvents = new WeakMap<Redis, Promise<boolean>>();
function nextReady(client: Redis): Promise<boolean> {
  let ready = readyEvents.get(client);
  if (!ready) {
    ready = new Promise<boolean>((resolve) => {
      const settle = (isReady: boolean): void => {
        client.off("ready", onReady).off("end", onEnd);
        resolve(isReady);
      };
      const onReady = (): void => settle(true);
      const onEnd = (): void => settle(false);
      client.once("ready", onReady).once("end", onEnd);
    });
    readyEvents.set(client, ready);
    void ready.then(() => readyEvents.delete(client));
  }
  return ready;
}

/**
 * `command`'s answer, or undefined when `deadline` (a performance.now() time; Infinity: none) has
 * passed while `client` is not connected: the client keeps a command whose answer a broken
 * connection lost, to send it again once Redis is back, and a call with a timeout does not wait
 * for that. A connection that is up is waited for past the deadline: its answer is on the way.
 */
export function answerWithin<T>(client: Redis, command: Promise<T>, deadline: number): Promise<{ answer: T } | undefined> {
  const answered = command.then((answer) => ({ answer }));
  if (deadline === Infinity) return answered;
  return new Promise<{ answer: T } | undefined>((resolve, reject) => {
    let late = false;
    const giveUp = (): void => {
      if (late && client.status !== "ready") finish(() => resolve(undefined));
    };
    const finish = (settle: () => void): void => {
      clearTimeout(timer);
      client.off("close", giveUp);
      settle();
    };
    const timer = setTimeout(() => {
      late = true;
      giveUp();
    }, Math.max(0, deadline - performance.now())).unref();
    client.on("close", giveUp);
    answered.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}
