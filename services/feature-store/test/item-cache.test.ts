import { TtlCache } from '@recsys/feature-store/item-cache';

describe('TtlCache', () => {
  it('serves an entry until its TTL, then misses', () => {
    let now = 0;
    const c = new TtlCache<number | null>(10, 100, () => now);
    c.set('a', 1);
    c.set('b', null);
    now = 99;
    expect(c.get('a')?.value).toBe(1);
    expect(c.get('b')).toMatchObject({ value: null });
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
    expect(c.get('a')?.value).toBe(1);
    expect(c.get('c')?.value).toBe(3);
    expect(c.size).toBe(2);
  });
  it('judges expiry at the `now` a caller passes, for get and set alike', () => {
    const c = new TtlCache<number>(10, 100, () => 0);
    c.set('a', 1, 50);
    expect(c.get('a', 149)?.value).toBe(1);
    expect(c.get('a', 150)).toBeUndefined();
  });
  it('rejects a bound that is not a positive integer', () => {
    expect(() => new TtlCache(0, 1)).toThrow(/maxEntries must be a positive integer, got 0/);
  });
});

describe('TtlCache recency', () => {
  it('keeps the entries hit recently and evicts the ones never hit, against a stream of new keys', () => {
    const c = new TtlCache<number>(100, 1e9, () => 0);
    for (let i = 0; i < 100; i++) c.set(`k${i}`, i);
    // k0…k9 are hit all along while 1,000 other keys pass through: they must survive.
    for (let i = 100; i < 1100; i++) {
      for (let h = 0; h < 10; h++) expect(c.get(`k${h}`)?.value).toBe(h);
      c.set(`k${i}`, i);
    }
    expect(c.size).toBe(100);
    for (let h = 0; h < 10; h++) expect(c.get(`k${h}`)?.value).toBe(h);
    // Of the keys never hit, only the newest are left.
    expect(c.get('k999')).toBeUndefined();
    expect(c.get('k1099')?.value).toBe(1099);
  });
});
