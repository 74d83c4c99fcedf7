import type { Cluster, Redis } from 'ioredis';
import { countEvents, eventsByUser, IngestResult, InteractionEvent, RealtimeOptions, RealtimeRead } from './realtime';
import type { RedisKeys } from './redis-keys';

/** A single node or a cluster: the commands used here exist on both. */
export type RedisLike = Redis | Cluster;

/**
 * Applies one user's events in one step (a script runs atomically), skipping event ids
 * already applied. Every key is the user's (same hash tag), so it runs on a cluster too.
 *
 * KEYS: recent, seen, last, events, dedup (see redis-keys.ts).
 * ARGV: now, maxRecent, seenTtlMs, longestWindowMs, maxEvents, dedupTtlMs, then per event
 * (oldest first) id, item, type, time.
 */
const INGEST_SCRIPT = `
local now = tonumber(ARGV[1])
local maxRecent = tonumber(ARGV[2])
local seenTtl = tonumber(ARGV[3])
local longest = tonumber(ARGV[4])
local maxEvents = tonumber(ARGV[5])
local dedupTtl = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - dedupTtl)
local applied, dup = 0, 0
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
for i = 7, #ARGV, 4 do
  local id, item, typ, t = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  if redis.call('ZADD', KEYS[5], 'NX', now, id) == 1 then
    applied = applied + 1
    redis.call('LREM', KEYS[1], 0, item)
    redis.call('LPUSH', KEYS[1], item)
    redis.call('ZADD', KEYS[2], 'GT', t + seenTtl, item)
    redis.call('ZADD', KEYS[2], 'NX', t + seenTtl, item)
    if t > last then last = t end
    redis.call('ZADD', KEYS[4], t, typ .. '\\n' .. id)
  else
    dup = dup + 1
  end
end
if applied > 0 then
  redis.call('LTRIM', KEYS[1], 0, maxRecent - 1)
  redis.call('SET', KEYS[3], tostring(last))
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - longest)
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(maxEvents + 1))
  local keep = math.max(seenTtl, longest)
  for k = 1, 4 do redis.call('PEXPIRE', KEYS[k], keep) end
end
redis.call('PEXPIRE', KEYS[5], dedupTtl)
return {applied, dup}
`;

/** Registers the ingest script on a client as `recsysIngest` (EVALSHA, loaded on demand). */
function defineIngestScript(redis: RedisLike): void {
  if (!('recsysIngest' in redis)) redis.defineCommand('recsysIngest', { numberOfKeys: 5, lua: INGEST_SCRIPT });
}

type WithIngest = { recsysIngest(...args: (string | number)[]): Promise<[number, number]> };

/**
 * Applies a batch: one script call per user, all sent together (auto-pipelined, grouped
 * per node on a cluster), so the batch costs one round trip per node.
 */
export async function ingestRedis(redis: RedisLike, keys: RedisKeys, events: readonly InteractionEvent[], nowMs: number, opts: RealtimeOptions): Promise<IngestResult> {
  defineIngestScript(redis);
  const longestMs = Math.max(...opts.windowsSec) * 1000;
  const calls = [...eventsByUser(events)].map(([userId, list]) => {
    const k = keys.realtime(userId);
    const args: (string | number)[] = [k.recent, k.seen, k.last, k.events, k.dedup, nowMs, opts.maxRecent, opts.seenTtlMs, longestMs, opts.maxEvents, opts.dedupTtlMs];
    for (const e of list) args.push(e.eventId, e.itemId, e.eventType, e.timeMs);
    return (redis as unknown as WithIngest).recsysIngest(...args);
  });
  const results = await Promise.all(calls);
  return results.reduce((acc, [a, d]) => ({ applied: acc.applied + Number(a), duplicates: acc.duplicates + Number(d) }), { applied: 0, duplicates: 0 });
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
