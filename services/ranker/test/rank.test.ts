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
      features: [],
    },
    userFeatures: { featureView: 'user', entityCount: 1, columns: [{ name: 'activity', values: [5], missingIndices: [] }], unknownEntityIndices: [], packedValues: Buffer.alloc(0) },
    itemFeatures: { featureView: 'item', entityCount: 2, columns: [{ name: 'pop', values: [3, 4], missingIndices: [] }], unknownEntityIndices: [], packedValues: Buffer.alloc(0) },
  });

  it('maps columns by name', () => {
    const input = toRankerInput(base(), 10);
    expect(input.n).toBe(2);
    expect(input.user.get('activity')).toBe(5);
    expect(Array.from(input.item.get('pop') ?? [])).toEqual([3, 4]);
    expect(Array.from(input.sourceScores.embedding ?? [])).toEqual([2, 1]);
  });

  it('passes the candidate features of the candidate generator through by name', () => {
    const r = base();
    (r.candidates.features as unknown) = [{ name: 'als_rank', values: [4, 9] }];
    expect(Array.from(toRankerInput(r, 10).candidateFeatures?.get('als_rank') ?? [])).toEqual([4, 9]);
  });

  it.each([
    [(r: ReturnType<typeof base>) => (r.candidates.scores = [1]), 'candidates.scores'],
    [(r: ReturnType<typeof base>) => (r.itemFeatures.columns[0]!.values = [1]), 'item_features.columns[0].values'],
    [(r: ReturnType<typeof base>) => (r.itemFeatures.entityCount = 3), 'item_features.entity_count'],
    [(r: ReturnType<typeof base>) => (r.userFeatures.entityCount = 2), 'user_features.entity_count'],
    [(r: ReturnType<typeof base>) => (r.topK = -1), 'top_k'],
    [(r: ReturnType<typeof base>) => (r.candidates.features = [{ name: 'als_rank', values: [1] }] as never), 'candidates.features[0].values'],
    [(r: ReturnType<typeof base>) => (r.candidates.features = [{ name: 'Bad-Name', values: [1, 2] }] as never), 'candidates.features[0].name'],
    [
      (r: ReturnType<typeof base>) =>
        (r.candidates.features = [
          { name: 'als_rank', values: [1, 2] },
          { name: 'als_rank', values: [1, 2] },
        ] as never),
      'candidates.features[1].name',
    ],
  ])('rejects inconsistent requests naming the field (%#)', (mutate, field) => {
    const r = base();
    mutate(r);
    expect(() => toRankerInput(r, 10)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(field) }));
  });

  it('reads item features from one packed float32 block the same as from columns', () => {
    const r = base();
    const block = Buffer.alloc(4 * 2 * 2);
    [3, 4, 0.5, -1].forEach((v, i) => block.writeFloatLE(v, i * 4)); // column-major: pop, then year
    r.itemFeatures = {
      featureView: 'item',
      entityCount: 2,
      columns: [
        { name: 'pop', values: [], missingIndices: [] },
        { name: 'year', values: [], missingIndices: [] },
      ],
      unknownEntityIndices: [],
      // A view at an odd offset, as a decoder may hand it over.
      packedValues: Buffer.concat([Buffer.from([9]), block]).subarray(1),
    };
    const input = toRankerInput(r, 10);
    expect(Array.from(input.item.get('pop') ?? [])).toEqual([3, 4]);
    expect(Array.from(input.item.get('year') ?? [])).toEqual([0.5, -1]);
  });

  it('rejects a packed block whose size does not match, naming the field', () => {
    const r = base();
    r.itemFeatures = { ...r.itemFeatures, columns: [{ name: 'pop', values: [], missingIndices: [] }], packedValues: Buffer.alloc(12) };
    expect(() => toRankerInput(r, 10)).toThrow(/^item_features\.packed_values: has 12 bytes, expected 8/);
  });

  it('rejects more candidates than the limit', () => {
    expect(() => toRankerInput(base(), 1)).toThrow(/candidates.item_ids: at most 1/);
  });
});
