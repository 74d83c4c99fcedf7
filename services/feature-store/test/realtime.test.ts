import { DEFAULT_REALTIME, MemoryRealtime, countEvents, eventsByUser, validateEvents } from '@recsys/feature-store/realtime';
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
  it('bounds the batch', () => {
    expect(() => validateEvents(Array.from({ length: 10_001 }, () => wire()), 1)).toThrow(/^events: at most 10000 per batch/);
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

describe('MemoryRealtime', () => {
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
