import { InvalidArgumentError, checkId } from '@recsys/core';

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
}

/** Defaults: 50 recent items, seen for 30 days, counts over 1 h / 1 d / 7 d, ids remembered 7 days. */
export const DEFAULT_REALTIME: RealtimeOptions = {
  maxRecent: 50,
  seenTtlMs: 30 * 86_400_000,
  windowsSec: [3600, 86_400, 7 * 86_400],
  maxEvents: 1000,
  dedupTtlMs: 7 * 86_400_000,
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

/** Largest IngestEvents batch. */
const MAX_EVENTS_PER_BATCH = 10_000;
const EVENT_TYPE = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * Validates a wire batch (naming the bad field, e.g. `events[3].event_type`) and resolves
 * a zero time to `nowMs`.
 */
export function validateEvents(
  events: readonly { eventId: string; userId: string; itemId: string; eventType: string; eventTimeUnixMs: number }[],
  nowMs: number,
): InteractionEvent[] {
  if (events.length > MAX_EVENTS_PER_BATCH) throw new InvalidArgumentError('events', `at most ${MAX_EVENTS_PER_BATCH} per batch, got ${events.length}`);
  return events.map((e, i) => {
    checkId(`events[${i}].event_id`, e.eventId);
    checkId(`events[${i}].user_id`, e.userId);
    checkId(`events[${i}].item_id`, e.itemId);
    if (!EVENT_TYPE.test(e.eventType)) {
      throw new InvalidArgumentError(`events[${i}].event_type`, `must match [a-z][a-z0-9_]* and be at most 32 bytes, got "${e.eventType.slice(0, 40)}"`);
    }
    if (!Number.isSafeInteger(e.eventTimeUnixMs) || e.eventTimeUnixMs < 0) {
      throw new InvalidArgumentError(`events[${i}].event_time_unix_ms`, `must be a non-negative integer, got ${e.eventTimeUnixMs}`);
    }
    return { eventId: e.eventId, userId: e.userId, itemId: e.itemId, eventType: e.eventType, timeMs: e.eventTimeUnixMs || nowMs };
  });
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
  seen: Map<string, number>;
  last: number;
  events: { type: string; id: string; timeMs: number }[];
  dedup: Map<string, number>;
}

/**
 * Real-time features in process memory, with exactly the semantics of the Redis ingest
 * script (see redis-realtime.ts): the memory backend uses it and the shared suite checks
 * that both agree.
 */
export class MemoryRealtime {
  private readonly users = new Map<string, UserState>();

  constructor(private readonly opts: RealtimeOptions) {}

  ingest(events: readonly InteractionEvent[], nowMs: number): IngestResult {
    let applied = 0;
    let duplicates = 0;
    for (const [userId, list] of eventsByUser(events)) {
      let s = this.users.get(userId);
      if (!s) {
        s = { recent: [], seen: new Map(), last: 0, events: [], dedup: new Map() };
        this.users.set(userId, s);
      }
      for (const [id, at] of s.dedup) if (at <= nowMs - this.opts.dedupTtlMs) s.dedup.delete(id);
      for (const e of list) {
        if (s.dedup.has(e.eventId)) {
          duplicates++;
          continue;
        }
        s.dedup.set(e.eventId, nowMs);
        applied++;
        s.recent = [e.itemId, ...s.recent.filter((i) => i !== e.itemId)];
        s.seen.set(e.itemId, Math.max(s.seen.get(e.itemId) ?? 0, e.timeMs + this.opts.seenTtlMs));
        s.last = Math.max(s.last, e.timeMs);
        s.events.push({ type: e.eventType, id: e.eventId, timeMs: e.timeMs });
      }
      s.recent = s.recent.slice(0, this.opts.maxRecent);
      const oldest = nowMs - Math.max(...this.opts.windowsSec) * 1000;
      s.events = s.events.filter((e) => e.timeMs > oldest).sort((a, b) => a.timeMs - b.timeMs || (a.id < b.id ? -1 : 1));
      s.events = s.events.slice(Math.max(0, s.events.length - this.opts.maxEvents));
    }
    return { applied, duplicates };
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
