/**
 * The Lua scripts of a queue on Redis, and the client they are defined on (each sent with its text
 * the first time on each connection, then called by SHA). Each is atomic in Redis; together they
 * keep a consumer's lists consistent when a command's answer is lost.
 *
 * A lost answer: the connection breaks after Redis ran a command and before its answer arrived.
 * The client reconnects and sends the command again, so Redis runs it twice. For a move between
 * lists that is not harmless: a take run twice moved two batches and the consumer returns one (the
 * other would sit in its processing list, where no one looks while it lives, and the count-based
 * acknowledgement would drop it in place of an item that arrived); an acknowledgement run twice
 * drops items that have not arrived. So every script that changes a consumer's lists carries a
 * sequence number, rising in the order the consumer sends them: a script whose number was already
 * applied changes nothing, and a take answers again with what it took the first time. BLMOVE cannot
 * carry a number: it moves to the consumer's landing list, and the take that rides with it moves
 * what landed (this time or on an earlier try) to the processing list and answers with it.
 *
 * Each script keeps its own last number ("take", "ack", "giveBack", "done"): Redis runs a
 * connection's commands in order and the client sends the unanswered ones again in order, but a
 * script called by SHA that Redis no longer knows (NOSCRIPT: its cache was flushed) is sent again
 * with its text after the commands that followed it. With one number for all, an acknowledgement
 * or a taskDone that overtook a give-back that way would make the give-back look applied, and its
 * items would stay in the processing list. Scripts of different kinds commute: an acknowledgement
 * drops the oldest items, a give-back moves the newest, a taskDone removes its own.
 *
 * A put sent twice puts its item twice: delivery on Redis is at least once.
 */
import type { Redis } from "ioredis";

/** A consumer's keys, as the scripts take them. */
export interface ConsumerKeys {
  /** The queue's items: LPUSH in, taken from the right (the front). */
  items: string;
  /** Taken by this consumer and not acknowledged: newest at the left. */
  processing: string;
  /** Where BLMOVE puts what it takes, until the take that rides with it moves it on. */
  landing: string;
  /** The last sequence number applied, per script ("take", "ack", "giveBack", "done"). */
  state: string;
  /** What the last take answered, for the same take sent again. */
  last: string;
  /** The set of consumers with the queue open. */
  consumers: string;
}

const APPLIED = `
local function applied(state, field, seq)
  local last = redis.call('HGET', state, field)
  if last and tonumber(last) >= tonumber(seq) then return true end
  redis.call('HSET', state, field, seq)
  return false
end
`;

// put with maxsize or counting: atomic check and push (KEYS: items, unfinished; ARGV: item, maxsize, joinable).
const PUT = `
if tonumber(ARGV[2]) > 0 and redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[1])
if ARGV[3] == '1' then redis.call('INCR', KEYS[2]) end
return 1`;

// taskDone: ack one item and count it finished; publish when none are left
// (KEYS: processing, unfinished, state; ARGV: item, channel, seq). -2: applied before.
const DONE = `${APPLIED}
if applied(KEYS[3], 'done', ARGV[3]) then return -2 end
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed == 0 then return -1 end
local left = redis.call('DECR', KEYS[2])
if left <= 0 then redis.call('SET', KEYS[2], 0); redis.call('PUBLISH', ARGV[2], '0') end
return left`;

// take (KEYS: items, processing, landing, state, last, consumers; ARGV: at most, at least, seq):
// what landed, then up to a fair share of the waiting items (at least `at least` in all), moved to
// the processing list; answers with them, oldest first.
const TAKE = `
local state = redis.call('HGET', KEYS[4], 'take')
if state and tonumber(state) >= tonumber(ARGV[3]) then return redis.call('LRANGE', KEYS[5], 0, -1) end
redis.call('HSET', KEYS[4], 'take', ARGV[3])
local out = {}
while true do
  local item = redis.call('LMOVE', KEYS[3], KEYS[2], 'RIGHT', 'LEFT')
  if not item then break end
  out[#out + 1] = item
end
local share = math.floor(redis.call('LLEN', KEYS[1]) / math.max(1, redis.call('SCARD', KEYS[6])))
local n = math.max(tonumber(ARGV[2]) - #out, math.min(tonumber(ARGV[1]), share))
for i = 1, n do
  local item = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not item then break end
  out[#out + 1] = item
end
redis.call('DEL', KEYS[5])
if #out > 0 then redis.call('RPUSH', KEYS[5], unpack(out)) end
return out`;

// acknowledge (KEYS: processing, state; ARGV: count, seq): drop the `count` oldest taken items.
const ACKNOWLEDGE = `${APPLIED}
if applied(KEYS[2], 'ack', ARGV[2]) then return 0 end
redis.call('LTRIM', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
return 1`;

// give back (KEYS: processing, items, state, landing; ARGV: count or -1 for all, seq): the newest
// `count` taken items back to the front of the queue, newest first, so that the oldest of them is
// taken next; for -1 all of them, and what landed (newer still: moved first, it ends behind them).
const GIVE_BACK = `${APPLIED}
if applied(KEYS[3], 'giveBack', ARGV[2]) then return 0 end
local n = tonumber(ARGV[1])
if n < 0 then
  while redis.call('LMOVE', KEYS[4], KEYS[2], 'LEFT', 'RIGHT') do end
  n = redis.call('LLEN', KEYS[1])
end
for i = 1, n do
  if not redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') then break end
end
return 0`;

// recover a consumer whose heartbeat is gone (KEYS: alive, processing, landing, items, state,
// last, consumers; ARGV: consumer): all it held back to the front of the queue, oldest first at
// the very front, and its keys gone. 0 when it is alive after all.
const RECOVER = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
while redis.call('LMOVE', KEYS[3], KEYS[4], 'LEFT', 'RIGHT') do end
while redis.call('LMOVE', KEYS[2], KEYS[4], 'LEFT', 'RIGHT') do end
redis.call('DEL', KEYS[5], KEYS[6])
redis.call('SREM', KEYS[7], ARGV[1])
return 1`;

/** The client with the scripts defined on it. */
export interface ScriptedRedis extends Redis {
  forklabQueuePut(items: string, unfinished: string, item: string, maxsize: string, joinable: string): Promise<number>;
  forklabQueueDone(processing: string, unfinished: string, state: string, item: string, channel: string, seq: number): Promise<number>;
  forklabQueueTake(items: string, processing: string, landing: string, state: string, last: string, consumers: string, atMost: number, atLeast: number, seq: number): Promise<string[]>;
  forklabQueueAcknowledge(processing: string, state: string, count: number, seq: number): Promise<number>;
  forklabQueueGiveBack(processing: string, items: string, state: string, landing: string, count: number, seq: number): Promise<number>;
  forklabQueueRecover(alive: string, processing: string, landing: string, items: string, state: string, last: string, consumers: string, consumer: string): Promise<number>;
}

export function defineScripts(client: Redis): ScriptedRedis {
  client.defineCommand("forklabQueuePut", { numberOfKeys: 2, lua: PUT });
  client.defineCommand("forklabQueueDone", { numberOfKeys: 3, lua: DONE });
  client.defineCommand("forklabQueueTake", { numberOfKeys: 6, lua: TAKE });
  client.defineCommand("forklabQueueAcknowledge", { numberOfKeys: 2, lua: ACKNOWLEDGE });
  client.defineCommand("forklabQueueGiveBack", { numberOfKeys: 4, lua: GIVE_BACK });
  client.defineCommand("forklabQueueRecover", { numberOfKeys: 7, lua: RECOVER });
  return client as ScriptedRedis;
}
