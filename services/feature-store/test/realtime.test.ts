import { DEFAULT_EVENT_LIMITS, DEFAULT_REALTIME, MemoryRealtime, countEvents, eventsByUser, mergeRecent, validateEvents } from '@recsys/feature-store/realtime';
import { countDefaults } from '@recsys/feature-store/server';
import { columnsFromVectors, isExpired } from '@recsys/feature-store/backend';

const wire = (over: Partial<{ eventId: string; userId: string; itemId: string; eventType: string; eventTimeUnixMs: number }> = {}) => ({
  eventId: 'e1',
  userId: 'u1',
  itemId: 'i1',
  eventType: 'click',
  eventTimeUnixMs: 0,
  ...over,
});

describe('validateEvents', () => {
  it('resolves a zero time to now and keeps a given one', () => {
    expect(validateEvents([wire(), wire({ eventId: 'e2', eventTimeUnixMs: 5 })], 1000).map((e) => e.timeMs)).toEqual([1000, 5]);
  });
  it.each([
    [{ eventId: '' }, /^events\[0\]\.event_id: must not be empty/],
    [{ userId: 'u'.repeat(129) }, /^events\[0\]\.user_id: must be at most 128 bytes/],
    [{ itemId: '' }, /^events\[0\]\.item_id: must not be empty/],
    [{ eventType: 'Click' }, /^events\[0\]\.event_type: must match/],
    [{ eventTimeUnixMs: -1 }, /^events\[0\]\.event_time_unix_ms: must be a non-negative integer/],
  ])('names the bad field of %p', (over, message) => {
    expect(() => validateEvents([wire(over)], 1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) }));
  });
  it('bounds the batch and the events per user', () => {
    expect(() => validateEvents(Array.from({ length: 5001 }, (_, i) => wire({ userId: `u${i}` })), 1)).toThrow(/^events: at most 5000 per batch/);
    expect(() => validateEvents(Array.from({ length: 501 }, (_, i) => wire({ eventId: `e${i}` })), 1)).toThrow(/^events\[500\]\.user_id: at most 500 events per user per batch/);
  });
  it('refuses times too far ahead or too old, naming the event', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(() => validateEvents([wire(), wire({ eventTimeUnixMs: now + 60_001 })], now)).toThrow(/^events\[1\]\.event_time_unix_ms: .* more than 60000 ms ahead/);
    expect(validateEvents([wire({ eventTimeUnixMs: now + 60_000 })], now)).toHaveLength(1);
    expect(() => validateEvents([wire({ eventTimeUnixMs: now - DEFAULT_EVENT_LIMITS.maxAgeMs - 1 })], now)).toThrow(/^events\[0\]\.event_time_unix_ms: .* older than/);
  });
  it('quotes only a prefix of a bad value', () => {
    expect(() => validateEvents([wire({ eventType: 'X'.repeat(100_000) })], 1)).toThrow(expect.objectContaining({ message: expect.stringMatching(/^.{0,200}$/) }));
  });
});

describe('eventsByUser and countEvents', () => {
  it('groups by user, oldest first', () => {
    const events = validateEvents([wire({ eventTimeUnixMs: 30 }), wire({ eventId: 'e2', eventTimeUnixMs: 10 }), wire({ eventId: 'e3', userId: 'u2' })], 99);
    const by = eventsByUser(events);
    expect([...by.keys()]).toEqual(['u1', 'u2']);
    expect(by.get('u1')!.map((e) => e.eventId)).toEqual(['e2', 'e1']);
  });
  it('counts per type over each trailing window, excluding the window start and the future', () => {
    const now = 100_000;
    const counts = countEvents(
      [
        { type: 'view', timeMs: now - 10_000 },
        { type: 'view', timeMs: now - 60_000 },
        { type: 'view', timeMs: now + 1 },
        { type: 'buy', timeMs: now },
      ],
      now,
      [10, 60],
    );
    expect(counts).toEqual([
      { eventType: 'buy', windowSeconds: 10, count: 1 },
      { eventType: 'buy', windowSeconds: 60, count: 1 },
      { eventType: 'view', windowSeconds: 10, count: 0 },
      { eventType: 'view', windowSeconds: 60, count: 1 },
    ]);
  });
});

describe('mergeRecent', () => {
  it('puts the newest first without repeats, keeps the old tail, caps the length', () => {
    const ev = ['a', 'b', 'a', 'c'].map((itemId) => ({ itemId }));
    expect(mergeRecent(['x', 'c', 'y'], ev, 10)).toEqual(['c', 'a', 'b', 'x', 'y']);
    expect(mergeRecent(['x'], ev, 2)).toEqual(['c', 'a']);
  });
});

describe('MemoryRealtime', () => {
  it('evicts the least recently written users beyond the cap and counts them', () => {
    let evicted = 0;
    const rt = new MemoryRealtime(DEFAULT_REALTIME, { maxUsers: 3, maxEntries: 1_000_000 }, (n) => (evicted += n));
    for (const u of ['u1', 'u2', 'u3', 'u1', 'u4']) rt.ingest(validateEvents([wire({ userId: u, eventId: `${u}-${Math.random()}` })], 5), 5);
    expect(rt.size.users).toBe(3);
    expect(evicted).toBe(1);
    expect(rt.read('u2', 5, 10).recent).toEqual([]);
    expect(rt.read('u1', 5, 10).recent).toEqual(['i1']);
  });
  it('caps the seen set, keeping the items seen longest', () => {
    const rt = new MemoryRealtime({ ...DEFAULT_REALTIME, maxSeen: 2 });
    rt.ingest(validateEvents([1, 2, 3].map((t) => wire({ eventId: `e${t}`, itemId: `i${t}`, eventTimeUnixMs: t })), 10), 10);
    expect(rt.read('u1', 10, 10).seen).toEqual(['i2', 'i3']);
  });
  it('forgets applied event ids after the dedup TTL, so only recent retries are skipped', () => {
    const rt = new MemoryRealtime({ ...DEFAULT_REALTIME, dedupTtlMs: 1000 });
    const e = validateEvents([wire({ eventTimeUnixMs: 1 })], 0);
    expect(rt.ingest(e, 10_000)).toEqual({ applied: 1, duplicates: 0 });
    expect(rt.ingest(e, 10_500)).toEqual({ applied: 0, duplicates: 1 });
    expect(rt.ingest(e, 11_001)).toEqual({ applied: 1, duplicates: 0 });
  });
});

describe('TTL and defaults accounting', () => {
  it('expires only past a non-zero TTL', () => {
    expect(isExpired(100, 0, 1e12)).toBe(false);
    expect(isExpired(100, 10, 110_000)).toBe(false);
    expect(isExpired(100, 10, 110_001)).toBe(true);
  });
  it('counts defaulted values by reason', () => {
    const features = [
      { name: 'a', offset: 0, default: 0 },
      { name: 'b', offset: 1, default: 0 },
    ];
    const read = columnsFromVectors('item', [[1, NaN], undefined, 'expired'], features);
    const seen: [string, string, number][] = [];
    countDefaults(read, (view, reason, n) => seen.push([view, reason, n]));
    expect(seen).toEqual([
      ['item', 'missing', 3],
      ['item', 'expired', 2],
    ]);
  });
});
