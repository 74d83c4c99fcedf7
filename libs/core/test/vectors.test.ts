import { topKByDot, topKByScore, TopKHeap } from '@recsys/core';

/** Deterministic small-integer generator, so that many scores tie exactly. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function bruteForce(matrix: Float32Array, dim: number, query: Float32Array, k: number, exclude?: Set<number>): { indices: number[]; scores: number[] } {
  const rows = matrix.length / dim;
  const all: Array<[number, number]> = [];
  for (let r = 0; r < rows; r++) {
    if (exclude?.has(r)) continue;
    let s = 0;
    for (let d = 0; d < dim; d++) s += matrix[r * dim + d]! * query[d]!;
    all.push([r, s]);
  }
  all.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const top = all.slice(0, k);
  return { indices: top.map((t) => t[0]), scores: top.map((t) => t[1]) };
}

describe('topKByDot', () => {
  it('matches a full sort, with ties going to the lower index', () => {
    const rand = lcg(7);
    for (let trial = 0; trial < 30; trial++) {
      const dim = 1 + Math.floor(rand() * 6);
      const rows = 1 + Math.floor(rand() * 200);
      // Values in {-1, 0, 1, 2}: lots of exactly equal scores.
      const matrix = Float32Array.from({ length: rows * dim }, () => Math.floor(rand() * 4) - 1);
      const query = Float32Array.from({ length: dim }, () => Math.floor(rand() * 3) - 1);
      const k = Math.floor(rand() * (rows + 5));
      const expected = bruteForce(matrix, dim, query, k);
      const got = topKByDot(matrix, dim, query, k);
      expect(Array.from(got.indices)).toEqual(expected.indices);
      expect(Array.from(got.scores)).toEqual(expected.scores);
    }
  });

  it('gives bit-identical scores to a plain float64 dot on real-valued data (odd row counts, exclusions)', () => {
    const rand = lcg(11);
    for (const [rows, dim, k] of [[1001, 32, 300], [7, 5, 7], [2, 3, 1], [301, 8, 300]] as const) {
      const matrix = Float32Array.from({ length: rows * dim }, () => rand() * 2 - 1);
      const query = Float32Array.from({ length: dim }, () => rand() * 2 - 1);
      const exclude = new Set([0, rows - 1, Math.floor(rows / 2)]);
      const expected = bruteForce(matrix, dim, query, k, exclude);
      const got = topKByDot(matrix, dim, query, k, exclude);
      expect(Array.from(got.indices)).toEqual(expected.indices);
      expect(Array.from(got.scores)).toEqual(expected.scores);
    }
  });

  it('orders an all-ties matrix by index', () => {
    const matrix = new Float32Array(10 * 2).fill(1);
    const got = topKByDot(matrix, 2, Float32Array.from([1, 1]), 4);
    expect(Array.from(got.indices)).toEqual([0, 1, 2, 3]);
  });

  it('never returns excluded rows and fills up with the next best', () => {
    const rand = lcg(11);
    const dim = 3;
    const rows = 150;
    const matrix = Float32Array.from({ length: rows * dim }, () => rand() - 0.5);
    const query = Float32Array.from([0.3, -0.2, 0.9]);
    const best = bruteForce(matrix, dim, query, 20);
    const exclude = new Set(best.indices.slice(0, 10));
    const got = topKByDot(matrix, dim, query, 10, exclude);
    expect(Array.from(got.indices)).toEqual(best.indices.slice(10, 20));
    expect(Array.from(got.indices).some((i) => exclude.has(i))).toBe(false);
  });

  it('returns fewer than k when fewer rows are eligible', () => {
    const matrix = Float32Array.from([1, 2, 3]);
    const got = topKByDot(matrix, 1, Float32Array.from([1]), 5, new Set([1]));
    expect(Array.from(got.indices)).toEqual([2, 0]);
    expect(topKByDot(matrix, 1, Float32Array.from([1]), 0).indices).toHaveLength(0);
  });

  it('rejects a query of the wrong width and a matrix that is not rows × dim', () => {
    expect(() => topKByDot(new Float32Array(6), 3, new Float32Array(2), 1)).toThrow(/query has 2 values, expected dim 3/);
    expect(() => topKByDot(new Float32Array(7), 3, new Float32Array(3), 1)).toThrow(/not a multiple of dim 3/);
  });
});

describe('topKByScore and TopKHeap', () => {
  it('topKByScore matches a full sort with ties and exclusions, skipping NaN', () => {
    const scores = [3, 1, 3, NaN, 2, 3, 0, 2];
    const got = topKByScore(scores, 5, new Set([2]));
    expect(Array.from(got.indices)).toEqual([0, 5, 4, 7, 1]);
    expect(Array.from(got.scores)).toEqual([3, 3, 2, 2, 1]);
  });

  it('keeps the k best whatever the order entries are offered in', () => {
    const entries: Array<[number, number]> = [
      [9, 1],
      [2, 5],
      [7, 5],
      [1, 5],
      [4, 0],
      [3, 2],
    ];
    const heap = new TopKHeap(3);
    for (const [i, s] of entries) heap.offer(i, s);
    expect(heap.size).toBe(3);
    expect(heap.threshold).toBe(5);
    expect(Array.from(heap.result().indices)).toEqual([1, 2, 7]);
  });

  it('lets a later entry with an equal score but a lower index displace the threshold entry', () => {
    const heap = new TopKHeap(2);
    for (const i of [5, 3, 1, 4]) heap.offer(i, 1);
    expect(Array.from(heap.result().indices)).toEqual([1, 3]);
  });
});
