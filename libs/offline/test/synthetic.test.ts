import { createHash } from 'node:crypto';
import { generateSynthetic, indexDataset, SYNTHETIC_GENRES } from '@recsys/offline';

const small = { users: 120, items: 200, interactions: 3000 };

function digest(ds: ReturnType<typeof generateSynthetic>): string {
  return createHash('sha256')
    .update(JSON.stringify({ interactions: ds.interactions, items: [...ds.items] }))
    .digest('hex');
}

describe('generateSynthetic', () => {
  it('gives the same dataset for the same seed and a different one for another seed', () => {
    expect(digest(generateSynthetic({ ...small, seed: 9 }))).toBe(digest(generateSynthetic({ ...small, seed: 9 })));
    expect(digest(generateSynthetic({ ...small, seed: 9 }))).not.toBe(digest(generateSynthetic({ ...small, seed: 10 })));
  });

  it('produces MovieLens-shaped data within the documented ranges', () => {
    const ds = generateSynthetic({ ...small, seed: 1 });
    expect(ds.genres).toEqual(SYNTHETIC_GENRES);
    expect(ds.genres).toHaveLength(18);
    expect(ds.interactions.length).toBeGreaterThan(0.6 * small.interactions);
    expect(ds.interactions.length).toBeLessThan(1.6 * small.interactions);
    for (const r of ds.interactions) {
      expect(r.rating).toBeGreaterThanOrEqual(0.5);
      expect(r.rating).toBeLessThanOrEqual(5);
      expect(Number.isInteger(r.rating * 2)).toBe(true);
      expect(Number.isInteger(r.ts)).toBe(true);
    }
    const pairs = new Set(ds.interactions.map((r) => `${r.user}/${r.item}`));
    expect(pairs.size).toBe(ds.interactions.length);
    const ix = indexDataset(ds);
    expect(ix.userIds).toHaveLength(small.users);
    const perUser = ix.userIds.map((_, u) => ix.userPtr[u + 1]! - ix.userPtr[u]!);
    expect(Math.min(...perUser)).toBeGreaterThanOrEqual(10);
    for (const meta of ds.items.values()) {
      expect(meta.genres.length).toBeGreaterThanOrEqual(1);
      expect(meta.genres.every((g) => SYNTHETIC_GENRES.includes(g))).toBe(true);
      if (meta.year !== undefined) expect(meta.year >= 1950 && meta.year <= 2019).toBe(true);
    }
    // An interaction never precedes its item's release year.
    for (const r of ds.interactions) {
      const year = ds.items.get(r.item)!.year;
      if (year !== undefined) expect(new Date(r.ts * 1000).getUTCFullYear()).toBeGreaterThanOrEqual(year);
    }
  });

  it('skews popularity: the top 10% of items get a large share of interactions', () => {
    const ds = generateSynthetic({ users: 400, items: 500, interactions: 12000, seed: 3 });
    const counts = new Map<string, number>();
    for (const r of ds.interactions) counts.set(r.item, (counts.get(r.item) ?? 0) + 1);
    const sorted = [...counts.values()].sort((a, b) => b - a);
    const top = sorted.slice(0, 50).reduce((a, b) => a + b, 0);
    expect(top / ds.interactions.length).toBeGreaterThan(0.25);
  });

  it('rejects nonsense sizes, naming the option', () => {
    expect(() => generateSynthetic({ users: 0 })).toThrow(/users must be a positive integer/);
  });
});
