import { TtlCache } from '@recsys/feature-store/item-cache';

describe('TtlCache', () => {
  it('serves an entry until its TTL, then misses', () => {
    let now = 0;
    const c = new TtlCache<number | null>(10, 100, () => now);
    c.set('a', 1);
    c.set('b', null);
    now = 99;
    expect(c.get('a')).toEqual({ value: 1 });
    expect(c.get('b')).toEqual({ value: null });
    now = 100;
    expect(c.get('a')).toBeUndefined();
    expect([c.hits, c.misses, c.size]).toEqual([2, 1, 1]);
  });
  it('drops the least recently used entry beyond its bound', () => {
    const c = new TtlCache<number>(2, 1000, () => 0);
    c.set('a', 1);
    c.set('b', 2);
    c.get('a');
    c.set('c', 3);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toEqual({ value: 1 });
    expect(c.get('c')).toEqual({ value: 3 });
    expect(c.size).toBe(2);
  });
  it('rejects a bound that is not a positive integer', () => {
    expect(() => new TtlCache(0, 1)).toThrow(/maxEntries must be a positive integer, got 0/);
  });
});
