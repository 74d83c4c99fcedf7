import { ndcgAtK, recallAtK, rocAuc } from '@recsys/core';

describe('ranking metrics', () => {
  it('recall@k divides by min(k, |T|) or by |T|', () => {
    const ranked = [5, 1, 7, 3, 9];
    const relevant = new Set([1, 9, 42]);
    expect(recallAtK(ranked, relevant, 2)).toBeCloseTo(1 / 2);
    expect(recallAtK(ranked, relevant, 5)).toBeCloseTo(2 / 3);
    expect(recallAtK(ranked, relevant, 5, 'all')).toBeCloseTo(2 / 3);
    expect(recallAtK(ranked, relevant, 2, 'all')).toBeCloseTo(1 / 3);
    expect(recallAtK(ranked, new Set<number>(), 5)).toBe(0);
  });

  it('ndcg@k uses binary gains and the ideal of min(k, |T|) hits', () => {
    const relevant = new Set(['b', 'd']);
    const dcg = 1 / Math.log2(3) + 1 / Math.log2(5);
    const ideal = 1 + 1 / Math.log2(3);
    expect(ndcgAtK(['a', 'b', 'c', 'd'], relevant, 10)).toBeCloseTo(dcg / ideal, 12);
    expect(ndcgAtK(['b', 'd', 'a'], relevant, 10)).toBeCloseTo(1, 12);
    expect(ndcgAtK(['a', 'c', 'b'], relevant, 2)).toBe(0);
  });

  it('rocAuc counts ties as one half and is NaN with one class', () => {
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75);
    expect(rocAuc([1, 1, 1, 1], [0, 1, 0, 1])).toBeCloseTo(0.5);
    expect(rocAuc([3, 2, 1], [1, 0, 0])).toBe(1);
    expect(rocAuc([1, 2], [1, 1])).toBeNaN();
  });
});
