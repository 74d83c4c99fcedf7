import { InvalidArgumentError, checkId, quotePrefix } from '@recsys/core';

/** Limits and windows of the real-time features. Both backends apply the same ones. */
export interface RealtimeOptions {
  /** Recent event items kept per user (the list is trimmed to this). */
  maxRecent: number;
  /** How long an item stays in a user's seen set after the event, in ms. */
  seenTtlMs: number;
  /** Trailing windows counts are reported over, in seconds, ascending. */
  windowsSec: number[];
  /** Events kept per user for the counts (oldest dropped first). */
  maxEvents: number;
  /** How long an applied event id is remembered for idempotency, in ms. */
  dedupTtlMs: number;
  /** Items kept in a user's seen set (the ones expiring first are dropped beyond it). */
  maxSeen: number;
  /** Applied event ids remembered per user (oldest forgotten first beyond it). */
  maxDedup: number;
}

/** Defaults: 50 recent items, seen for 30 days (at most 5000), counts over 1 h / 1 d / 7 d, ids remembered 7 days (at most 10 000 per user). */
export const DEFAULT_REALTIME: RealtimeOptions = {
  maxRecent: 50,
  seenTtlMs: 30 * 86_400_000,
  windowsSec: [3600, 86_400, 7 * 86_400],
  maxEvents: 1000,
  dedupTtlMs: 7 * 86_400_000,
  maxSeen: 5000,
  maxDedup: 10_000,
};

/** Bounds of one IngestEvents batch, checked before any work (see the README's limits table). */
export interface EventLimits {
  /** Events per batch. */
  maxPerBatch: number;
  /** Events of one user per batch (one Redis script call each, so this bounds its run time). */
  maxPerUser: number;
  /** How far an event time may lie in the future of the store's clock, in ms. */
  maxFutureSkewMs: number;
  /** How far an event time may lie in the past, in ms (older events are refused, not silently dropped). */
  maxAgeMs: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = {
  maxPerBatch: 5000,
  maxPerUser: 500,
  maxFutureSkewMs: 60_000,
  maxAgeMs: 30 * 86_400_000,
};

/** One interaction event, validated, with its time resolved. */
export interface InteractionEvent {
  eventId: string;
  userId: string;
  itemId: string;
  eventType: string;
  timeMs: number;
}

/** Count of one event type over one trailing window. */
export interface EventCount {
  eventType: string;
  windowSeconds: number;
  count: number;
}

/** A user's real-time features. */
export interface RealtimeRead {
  recent: string[];
  seen: string[];
  counts: EventCount[];
  lastInteractionMs: number;
}

/** What an ingest applied. */
export interface IngestResult {
  applied: number;
  duplicates: number;
}

const EVENT_TYPE = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * Validates a wire batch (naming the bad field, e.g. `events[3].event_type`) and resolves
 * a zero time to `nowMs`. The whole batch is refused when one event is bad: nothing of it
 * is applied, so the caller can fix and resend it.
 */
export function validateEvents(
  events: readonly { eventId: string; userId: string; itemId: string; eventType: string; eventTimeUnixMs: number }[],
  nowMs: number,
  limits: EventLimits = DEFAULT_EVENT_LIMITS,
): InteractionEvent[] {
  if (events.length > limits.maxPerBatch) throw new InvalidArgumentError('events', `at most ${limits.maxPerBatch} per batch, got ${events.length}`);
  const perUser = new Map<string, number>();
  const latest = nowMs + limits.maxFutureSkewMs;
  const earliest = nowMs - limits.maxAgeMs;
  return events.map((e, i) => {
    checkId(`events[${i}].event_id`, e.eventId);
    checkId(`events[${i}].user_id`, e.userId);
    checkId(`events[${i}].item_id`, e.itemId);
    if (!EVENT_TYPE.test(e.eventType)) {
      throw new InvalidArgumentError(`events[${i}].event_type`, `must match [a-z][a-z0-9_]* and be at most 32 bytes, got ${quotePrefix(e.eventType)}`);
    }
    if (!Number.isSafeInteger(e.eventTimeUnixMs) || e.eventTimeUnixMs < 0) {
      throw new InvalidArgumentError(`events[${i}].event_time_unix_ms`, `must be a non-negative integer, got ${e.eventTimeUnixMs}`);
    }
    if (e.eventTimeUnixMs > latest) {
      throw new InvalidArgumentError(
        `events[${i}].event_time_unix_ms`,
        `${e.eventTimeUnixMs} (${new Date(e.eventTimeUnixMs).toISOString()}) is more than ${limits.maxFutureSkewMs} ms ahead of the store's clock (${new Date(nowMs).toISOString()})`,
      );
    }
    if (e.eventTimeUnixMs !== 0 && e.eventTimeUnixMs < earliest) {
      throw new InvalidArgumentError(
        `events[${i}].event_time_unix_ms`,
        `${e.eventTimeUnixMs} (${new Date(e.eventTimeUnixMs).toISOString()}) is older than the ${Math.round(limits.maxAgeMs / 1000)} s the store accepts (0 means now)`,
      );
    }
    const n = (perUser.get(e.userId) ?? 0) + 1;
    if (n > limits.maxPerUser) throw new InvalidArgumentError(`events[${i}].user_id`, `at most ${limits.maxPerUser} events per user per batch; split the batch`);
    perUser.set(e.userId, n);
    return { eventId: e.eventId, userId: e.userId, itemId: e.itemId, eventType: e.eventType, timeMs: e.eventTimeUnixMs || nowMs };
  });
}

/**
 * A user's recent list after `events` (oldest first): newest first, no repeats, at most
 * `max` entries, in O(events + max) — the old list is only scanned once.
 */
export function mergeRecent(old: readonly string[], events: readonly { itemId: string }[], max: number): string[] {
  const out: string[] = [];
  const taken = new Set<string>();
  for (let i = events.length - 1; i >= 0 && out.length < max; i--) {
    const item = (events[i] as { itemId: string }).itemId;
    if (!taken.has(item)) {
      taken.add(item);
      out.push(item);
    }
  }
  for (let i = 0; i < old.length && out.length < max; i++) {
    const item = old[i] as string;
    if (!taken.has(item)) {
      taken.add(item);
      out.push(item);
    }
  }
  return out;
}

/** Groups events by user, each user's events oldest first (so the newest ends up first in `recent`). */
export function eventsByUser(events: readonly InteractionEvent[]): Map<string, InteractionEvent[]> {
  const byUser = new Map<string, InteractionEvent[]>();
  for (const e of events) {
    const list = byUser.get(e.userId);
    if (list) list.push(e);
    else byUser.set(e.userId, [e]);
  }
  for (const list of byUser.values()) list.sort((a, b) => a.timeMs - b.timeMs);
  return byUser;
}

/** Counts per type over every window, from `(type, time)` pairs; types sorted, windows ascending. */
export function countEvents(events: readonly { type: string; timeMs: number }[], nowMs: number, windowsSec: readonly number[]): EventCount[] {
  const types = [...new Set(events.map((e) => e.type))].sort();
  const out: EventCount[] = [];
  for (const eventType of types) {
    for (const w of windowsSec) {
      const from = nowMs - w * 1000;
      let count = 0;
      for (const e of events) if (e.type === eventType && e.timeMs > from && e.timeMs <= nowMs) count++;
      out.push({ eventType, windowSeconds: w, count });
    }
  }
  return out;
}

interface UserState {
  recent: string[];
  /** item → expiry (unix ms). */
  seen: Map<string, number>;
  last: number;
  events: { type: string; id: string; timeMs: number }[];
  /** event id → time applied, in the order applied (so the oldest come first). */
  dedup: Map<string, number>;
}

/** Bounds of the memory backend's real-time state as a whole. */
export interface MemoryRealtimeCaps {
  /** Users kept; beyond it the least recently written one is evicted. */
  maxUsers: number;
  /** Entries (recent + seen + events + remembered ids) over all users; beyond it the least recently written users are evicted. */
  maxEntries: number;
}

export const DEFAULT_MEMORY_CAPS: MemoryRealtimeCaps = { maxUsers: 100_000, maxEntries: 2_000_000 };

function entriesOf(s: UserState): number {
  return 1 + s.recent.length + s.seen.size + s.events.length + s.dedup.size;
}

/**
 * Real-time features in process memory, with exactly the semantics of the Redis ingest
 * script (see redis-realtime.ts): the memory backend uses it and the shared suite checks
 * that both agree. Applying a batch is O(events) per user (plus the bounded state). The
 * whole state is capped ({@link MemoryRealtimeCaps}): the least recently written users are
 * evicted first, each eviction counted (`onEvict`, the `recsys_realtime_evictions_total`
 * metric), so memory stays bounded and nothing is dropped unseen.
 */
export class MemoryRealtime {
  /** Insertion order = least recently written first (a write re-inserts the user). */
  private readonly users = new Map<string, UserState>();
  private entries = 0;
  /** Users evicted so far. */
  evicted = 0;

  constructor(
    private readonly opts: RealtimeOptions,
    private readonly caps: MemoryRealtimeCaps = DEFAULT_MEMORY_CAPS,
    private readonly onEvict: (users: number) => void = () => {},
  ) {}

  /** Users and entries held now. */
  get size(): { users: number; entries: number } {
    return { users: this.users.size, entries: this.entries };
  }

  ingest(events: readonly InteractionEvent[], nowMs: number): IngestResult {
    let applied = 0;
    let duplicates = 0;
    for (const [userId, list] of eventsByUser(events)) {
      let s = this.users.get(userId);
      if (s) {
        this.users.delete(userId);
        this.entries -= entriesOf(s);
      } else s = { recent: [], seen: new Map(), last: 0, events: [], dedup: new Map() };
      this.users.set(userId, s);
      for (const [id, at] of s.dedup) {
        if (at > nowMs - this.opts.dedupTtlMs) break;
        s.dedup.delete(id);
      }
      const fresh: InteractionEvent[] = [];
      for (const e of list) {
        if (s.dedup.has(e.eventId)) {
          duplicates++;
          continue;
        }
        s.dedup.set(e.eventId, nowMs);
        fresh.push(e);
        const exp = e.timeMs + this.opts.seenTtlMs;
        const had = s.seen.get(e.itemId);
        if (had === undefined || exp > had) s.seen.set(e.itemId, exp);
        s.last = Math.max(s.last, e.timeMs);
        s.events.push({ type: e.eventType, id: e.eventId, timeMs: e.timeMs });
      }
      applied += fresh.length;
      s.recent = mergeRecent(s.recent, fresh, this.opts.maxRecent);
      if (fresh.length > 0) {
        for (const [item, exp] of s.seen) if (exp <= nowMs) s.seen.delete(item);
        if (s.seen.size > this.opts.maxSeen) {
          // Keep the items that stay seen longest (what ZREMRANGEBYRANK keeps in Redis).
          const keep = [...s.seen].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : -1)).slice(0, this.opts.maxSeen);
          s.seen = new Map(keep);
        }
        const oldest = nowMs - Math.max(...this.opts.windowsSec) * 1000;
        s.events = s.events.filter((e) => e.timeMs > oldest).sort((a, b) => a.timeMs - b.timeMs || (a.id < b.id ? -1 : 1));
        s.events = s.events.slice(Math.max(0, s.events.length - this.opts.maxEvents));
      }
      while (s.dedup.size > this.opts.maxDedup) s.dedup.delete(s.dedup.keys().next().value as string);
      this.entries += entriesOf(s);
    }
    this.evict(events.length > 0 ? events[events.length - 1]!.userId : undefined);
    return { applied, duplicates };
  }

  /** Evicts least recently written users until within the caps (never `keep`, the user just written, unless alone). */
  private evict(keep: string | undefined): void {
    let n = 0;
    while (this.users.size > this.caps.maxUsers || (this.entries > this.caps.maxEntries && this.users.size > 1)) {
      const [id, s] = this.users.entries().next().value as [string, UserState];
      if (id === keep && this.users.size === 1) break;
      this.users.delete(id);
      this.entries -= entriesOf(s);
      n++;
    }
    if (n > 0) {
      this.evicted += n;
      this.onEvict(n);
    }
  }

  read(userId: string, nowMs: number, maxRecent: number): RealtimeRead {
    const s = this.users.get(userId);
    if (!s) return { recent: [], seen: [], counts: [], lastInteractionMs: 0 };
    return {
      recent: s.recent.slice(0, maxRecent),
      seen: [...s.seen].filter(([, exp]) => exp > nowMs).map(([item]) => item).sort(),
      counts: countEvents(s.events.map((e) => ({ type: e.type, timeMs: e.timeMs })), nowMs, this.opts.windowsSec),
      lastInteractionMs: s.last,
    };
  }
}
