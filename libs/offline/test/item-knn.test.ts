import { generateSynthetic, indexDataset, itemKnn, selectHistory, splitByUser } from '@recsys/offline';

describe('itemKnn', () => {
  it('keeps, per item, the k largest cosines of the binary matrix (ties → lower item, no zeros, no self)', () => {
    const ix = indexDataset(generateSynthetic({ users: 60, items: 80, interactions: 900, seed: 5 }));
    const h = selectHistory(ix, splitByUser(ix), ['fit', 'val', 'test']);
    const n = h.nItems;
    const users: Array<Set<number>> = Array.from({ length: n }, () => new Set());
    for (let u = 0; u < h.nUsers; u++) for (let p = h.userPtr[u]!; p < h.userPtr[u + 1]!; p++) users[h.items[p]!]!.add(u);
    const k = 7;
    const nb = itemKnn(h, k);
    for (let i = 0; i < n; i++) {
      const expected: Array<[number, number]> = [];
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        let both = 0;
        for (const u of users[i]!) if (users[j]!.has(u)) both++;
        if (both > 0) expected.push([j, both / (Math.sqrt(users[i]!.size) * Math.sqrt(users[j]!.size))]);
      }
      expected.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      const top = expected.slice(0, k);
      expect(Array.from(nb.items.subarray(nb.ptr[i]!, nb.ptr[i + 1]!))).toEqual(top.map((e) => e[0]));
      expect(Array.from(nb.weights.subarray(nb.ptr[i]!, nb.ptr[i + 1]!))).toEqual(top.map((e) => Math.fround(e[1])));
    }
  });
});
