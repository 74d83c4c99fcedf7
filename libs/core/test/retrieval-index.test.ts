import { ExactIndex, exactRetrievalGraph } from '@recsys/core';

/** A deterministic pseudo-random generator (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The reference: every eligible, non-excluded row by float32 dot product, stable sort (ties → lower row). */
function reference(items: Float32Array, dim: number, q: Float32Array, k: number, eligible?: Uint8Array, exclude?: Set<number>): number[] {
  const rows = items.length / dim;
  const scored: Array<[number, number]> = [];
  for (let r = 0; r < rows; r++) {
    if ((eligible && eligible[r] !== 1) || exclude?.has(r)) continue;
    let s = 0;
    for (let d = 0; d < dim; d++) s += items[r * dim + d]! * q[d]!;
    scored.push([r, s]);
  }
  return scored
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, k)
    .map(([r]) => r);
}

describe('ExactIndex (ONNX MatMul + TopK)', () => {
  it('finds the exact top-k by dot product, best first, ties to the lower row', async () => {
    // Quantised values give many exact ties, which must all break towards the lower row.
    const rand = rng(7);
    const rows = 500;
    const dim = 8;
    const items = Float32Array.from({ length: rows * dim }, () => Math.round(rand() * 4) / 4);
    const index = await ExactIndex.create(items, dim);
    for (let t = 0; t < 20; t++) {
      const q = Float32Array.from({ length: dim }, () => Math.round(rand() * 4) / 4);
      const hits = await index.search(q, 37);
      expect(Array.from(hits.rows)).toEqual(reference(items, dim, q, 37));
      for (let j = 0; j < hits.rows.length; j++) {
        let s = 0;
        for (let d = 0; d < dim; d++) s += items[hits.rows[j]! * dim + d]! * q[d]!;
        expect(hits.scores[j]).toBeCloseTo(s, 4);
      }
    }
    await index.release();
  });

  it('never returns an excluded or ineligible row, and still returns k rows when enough exist', async () => {
    const rand = rng(11);
    const rows = 300;
    const dim = 4;
    const items = Float32Array.from({ length: rows * dim }, () => rand() - 0.5);
    const eligible = Uint8Array.from({ length: rows }, (_, r) => (r % 3 === 0 ? 0 : 1));
    const index = await ExactIndex.create(items, dim, { eligible });
    const q = Float32Array.from([1, 0.5, -0.25, 2]);
    // Exclude the 60 best eligible rows, some ineligible ones and rows outside the index.
    const best = reference(items, dim, q, 60, eligible);
    const exclude = new Set([...best, 0, 3, 6, -1, 1e9]);
    const hits = await index.search(q, 50, exclude);
    expect(Array.from(hits.rows)).toEqual(reference(items, dim, q, 50, eligible, exclude));
    expect(hits.rows).toHaveLength(50);
    // Asking for more than remain returns all that remain (200 eligible − 60 excluded).
    expect((await index.search(q, 1000, exclude)).rows).toHaveLength(140);
    expect((await index.search(q, 0)).rows).toHaveLength(0);
    await index.release();
  });

  it('names what is wrong with bad input', async () => {
    expect(() => exactRetrievalGraph(0)).toThrow('dim must be a positive integer, got 0');
    await expect(ExactIndex.create(new Float32Array(10), 3)).rejects.toThrow('10 values are not a multiple of dim 3');
    await expect(ExactIndex.create(new Float32Array(6), 3, { eligible: new Uint8Array(3) })).rejects.toThrow('eligibility of 3 rows for 2 rows');
    const index = await ExactIndex.create(new Float32Array(6), 3);
    await expect(index.search(new Float32Array(2), 1)).rejects.toThrow('query has 2 values, expected dim 3');
    await expect(index.search(new Float32Array(3), -1)).rejects.toThrow('k must be a non-negative integer, got -1');
    await index.release();
  });
});
