import * as grpc from '@grpc/grpc-js';
import { rankOrder } from '@recsys/ranker/model';
import { toRankerInput } from '@recsys/ranker/server';
import { RetrievalSource } from '@recsys/proto';

describe('rankOrder', () => {
  it('sorts by descending score, ties to the lower index, NaN last', () => {
    expect(rankOrder([0.1, 0.5, NaN, 0.5, 0.9], 0)).toEqual([4, 1, 3, 0, 2]);
    expect(rankOrder([0.1, 0.5, NaN, 0.5, 0.9], 2)).toEqual([4, 1]);
  });
});

describe('toRankerInput', () => {
  const base = () => ({
    userId: 'u',
    topK: 0,
    candidates: {
      itemIds: ['a', 'b'],
      scores: [2, 1],
      sources: [RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING, RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING],
      sourceScores: [{ source: RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING, scores: [2, 1] }],
    },
    userFeatures: { featureView: 'user', entityCount: 1, columns: [{ name: 'activity', values: [5], missingIndices: [] }], unknownEntityIndices: [] },
    itemFeatures: { featureView: 'item', entityCount: 2, columns: [{ name: 'pop', values: [3, 4], missingIndices: [] }], unknownEntityIndices: [] },
  });

  it('maps columns by name', () => {
    const input = toRankerInput(base(), 10);
    expect(input.n).toBe(2);
    expect(input.user.get('activity')).toBe(5);
    expect(Array.from(input.item.get('pop') ?? [])).toEqual([3, 4]);
    expect(Array.from(input.sourceScores.embedding ?? [])).toEqual([2, 1]);
  });

  it.each([
    [(r: ReturnType<typeof base>) => (r.candidates.scores = [1]), 'candidates.scores'],
    [(r: ReturnType<typeof base>) => (r.itemFeatures.columns[0]!.values = [1]), 'item_features.columns[0].values'],
    [(r: ReturnType<typeof base>) => (r.itemFeatures.entityCount = 3), 'item_features.entity_count'],
    [(r: ReturnType<typeof base>) => (r.userFeatures.entityCount = 2), 'user_features.entity_count'],
    [(r: ReturnType<typeof base>) => (r.topK = -1), 'top_k'],
  ])('rejects inconsistent requests naming the field (%#)', (mutate, field) => {
    const r = base();
    mutate(r);
    expect(() => toRankerInput(r, 10)).toThrow(expect.objectContaining({ code: grpc.status.INVALID_ARGUMENT, message: expect.stringContaining(field) }));
  });

  it('rejects more candidates than the limit', () => {
    expect(() => toRankerInput(base(), 1)).toThrow(/candidates.item_ids: at most 1/);
  });
});
