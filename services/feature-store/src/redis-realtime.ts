import type { Cluster, Redis } from 'ioredis';
import { countEvents, eventsByUser, IngestResult, InteractionEvent, RealtimeOptions, RealtimeRead } from './realtime';
import type { RedisKeys } from './redis-keys';

/** A single node or a cluster: the commands used here exist on both. */
export type RedisLike = Redis | Cluster;

/**
 * Applies a run of one user's events in one step (a script runs atomically), skipping event ids
 * already applied. Every key is the user's (same hash tag), so it runs on a cluster too.
 *
 * O(events) in few commands: one ZMSCORE finds the ids already applied, then one variadic
 * ZADD each for the new ids, the seen items and the events, and the recent list is
 * rebuilt once from the new items and the old list (never an LREM per event, which made a
 * 10 000-event batch run for seconds and block Redis). Every structure is
 * trimmed to its cap. The `#!lua` line makes it a flagged script: Redis refuses it
 * whole when `maxmemory` is reached (OOM error, nothing written), where an unflagged one
 * would keep writing past the limit.
 *
 * KEYS: recent, seen, last, events, dedup (see redis-keys.ts).
 * ARGV: now, maxRecent, seenTtlMs, longestWindowMs, maxEvents, dedupTtlMs, maxSeen,
 * maxDedup, then per event (oldest first) id, item, type, time.
 */
export const INGEST_SCRIPT = `#!lua
local now = tonumber(ARGV[1])
local maxRecent = tonumber(ARGV[2])
local seenTtl = tonumber(ARGV[3])
local longest = tonumber(ARGV[4])
local maxEvents = tonumber(ARGV[5])
local dedupTtl = tonumber(ARGV[6])
local maxSeen = tonumber(ARGV[7])
local maxDedup = tonumber(ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - dedupTtl)
local applied, dup = 0, 0
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
local ids, items, types, times, n = {}, {}, {}, {}, 0
for i = 9, #ARGV, 4 do
  n = n + 1
  ids[n], items[n], types[n], times[n] = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
end
local fresh, dz, sz, ez = {}, {}, {}, {}
if n > 0 then
  local known = redis.call('ZMSCORE', KEYS[5], unpack(ids))
  local inBatch = {}
  for j = 1, n do
    local id = ids[j]
    if known[j] or inBatch[id] then
      dup = dup + 1
    else
      inBatch[id] = true
      applied = applied + 1
      fresh[applied] = items[j]
      dz[#dz + 1] = now; dz[#dz + 1] = id
      sz[#sz + 1] = times[j] + seenTtl; sz[#sz + 1] = items[j]
      ez[#ez + 1] = times[j]; ez[#ez + 1] = types[j] .. '\\n' .. id
      if times[j] > last then last = times[j] end
    end
  end
end
if applied > 0 then
  redis.call('ZADD', KEYS[5], unpack(dz))
  redis.call('ZADD', KEYS[2], 'GT', unpack(sz))
  redis.call('ZADD', KEYS[4], unpack(ez))
  local old = redis.call('LRANGE', KEYS[1], 0, maxRecent - 1)
  local out, taken = {}, {}
  for i = #fresh, 1, -1 do
    if #out >= maxRecent then break end
    local it = fresh[i]
    if not taken[it] then taken[it] = true; out[#out + 1] = it end
  end
  for i = 1, #old do
    if #out >= maxRecent then break end
    local it = old[i]
    if not taken[it] then taken[it] = true; out[#out + 1] = it end
  end
  redis.call('DEL', KEYS[1])
  redis.call('RPUSH', KEYS[1], unpack(out))
  redis.call('SET', KEYS[3], tostring(last))
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(maxSeen + 1))
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - longest)
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(maxEvents + 1))
  local keep = math.max(seenTtl, longest)
  for k = 1, 4 do redis.call('PEXPIRE', KEYS[k], keep) end
end
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -(maxDedup + 1))
redis.call('PEXPIRE', KEYS[5], dedupTtl)
return {applied, dup}
`;

/** Registers the ingest script on a client as `recsysIngest` (EVALSHA, loaded on demand). */
function defineIngestScript(redis: RedisLike): void {
  if (!('recsysIngest' in redis)) redis.defineCommand('recsysIngest', { numberOfKeys: 5, lua: INGEST_SCRIPT });
}

type WithIngest = { recsysIngest(...args: (string | number)[]): Promise<[number, number]> };

/**
 * Events one script call applies at most: a user's events beyond it go in further calls,
 * in order on the same connection. One call of 100 events runs about 0.5 ms in Redis (500
 * took 2 ms, and 8 ms on a loaded machine), so no script comes near SLOWLOG's 10 ms.
 */
export const SCRIPT_MAX_EVENTS = 100;

/**
 * Applies a batch: script calls of at most {@link SCRIPT_MAX_EVENTS} events of one user,
 * all sent together (auto-pipelined, grouped per node on a cluster), so the batch costs one
 * round trip per node. Each call is atomic; when some fail (Redis out of memory, a node
 * down) the error says how many events of how many users were applied, and the batch can
 * be resent as is (the applied ones are skipped as duplicates).
 */
export async function ingestRedis(redis: RedisLike, keys: RedisKeys, events: readonly InteractionEvent[], nowMs: number, opts: RealtimeOptions): Promise<IngestResult> {
  defineIngestScript(redis);
  const longestMs = Math.max(...opts.windowsSec) * 1000;
  const users = [...eventsByUser(events)];
  const calls: Promise<[number, number]>[] = [];
  /** Per call: the user's index in `users` and how many events it carries. */
  const callUser: number[] = [];
  const callEvents: number[] = [];
  users.forEach(([userId, list], u) => {
    const k = keys.realtime(userId);
    for (let from = 0; from < list.length; from += SCRIPT_MAX_EVENTS) {
      const args: (string | number)[] = [
        k.recent,
        k.seen,
        k.last,
        k.events,
        k.dedup,
        nowMs,
        opts.maxRecent,
        opts.seenTtlMs,
        longestMs,
        opts.maxEvents,
        opts.dedupTtlMs,
        opts.maxSeen,
        opts.maxDedup,
      ];
      for (const e of list.slice(from, from + SCRIPT_MAX_EVENTS)) args.push(e.eventId, e.itemId, e.eventType, e.timeMs);
      calls.push((redis as unknown as WithIngest).recsysIngest(...args));
      callUser.push(u);
      callEvents.push(Math.min(SCRIPT_MAX_EVENTS, list.length - from));
    }
  });
  const settled = await Promise.allSettled(calls);
  let applied = 0;
  let duplicates = 0;
  let failedEvents = 0;
  const failed = new Set<number>();
  let firstError: unknown;
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') {
      applied += Number(r.value[0]);
      duplicates += Number(r.value[1]);
    } else {
      failedEvents += callEvents[i]!;
      failed.add(callUser[i]!);
      firstError ??= r.reason;
    }
  });
  const failedUsers = failed.size;
  if (firstError !== undefined) throw new PartialIngestError({ applied, duplicates }, failedEvents, failedUsers, users.length, firstError);
  return { applied, duplicates };
}

/** Some users' events of a batch were not applied; says what was, and why the rest was not. */
export class PartialIngestError extends Error {
  constructor(
    readonly done: IngestResult,
    readonly failedEvents: number,
    readonly failedUsers: number,
    readonly users: number,
    override readonly cause: unknown,
  ) {
    super(
      `${done.applied} events applied and ${done.duplicates} duplicates skipped; ${failedEvents} events of ${failedUsers} of ${users} users not applied (${(cause as Error)?.message ?? String(cause)}); resending the batch is safe (idempotent per event_id)`,
    );
    this.name = 'PartialIngestError';
  }

  /** True when Redis refused for lack of memory (maxmemory reached). */
  get outOfMemory(): boolean {
    return /^OOM\b/.test((this.cause as Error)?.message ?? '');
  }
}

/** The commands reading one user's real-time features; issue them together with the user's other reads. */
export function readRealtimeRedis(redis: RedisLike, keys: RedisKeys, userId: string, nowMs: number, maxRecent: number, opts: RealtimeOptions): Promise<RealtimeRead> {
  const k = keys.realtime(userId);
  const from = nowMs - Math.max(...opts.windowsSec) * 1000;
  return Promise.all([
    redis.lrange(k.recent, 0, maxRecent - 1),
    redis.zrangebyscore(k.seen, `(${nowMs}`, '+inf'),
    redis.get(k.last),
    redis.zrangebyscore(k.events, `(${from}`, '+inf', 'WITHSCORES'),
  ]).then(([recent, seen, last, ev]) => {
    const events: { type: string; timeMs: number }[] = [];
    for (let i = 0; i + 1 < ev.length; i += 2) events.push({ type: (ev[i] as string).split('\n')[0] as string, timeMs: Number(ev[i + 1]) });
    return { recent, seen: [...seen].sort(), counts: countEvents(events, nowMs, opts.windowsSec), lastInteractionMs: last ? Number(last) : 0 };
  });
}
