import { rankOrder } from '@recsys/ranker/model';
import { toRankerInput } from '@recsys/ranker/server';
import { RetrievalSource, encodeCandidateFeatures } from '@recsys/proto';

describe('rankOrder', () => {
  it('sorts by descending score, ties to the lower index, NaN last', () => {
    expect(rankOrder([0.1, 0.5, NaN, 0.5, 0.9], 0)).toEqual([4, 1, 3, 0, 2]);
    expect(rankOrder([0.1, 0.5, NaN, 0.5, 0.9], 2)).toEqual([4, 1]);
  });

  it('keeps only the best k by selection, exactly the first k of the full order (ties, NaN, -Infinity, k ≥ n)', () => {
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let t = 0; t < 200; t++) {
      const n = 1 + Math.floor(rnd() * 60);
      // Few distinct values, so ties are common; some NaN and -Infinity.
      const scores = Float32Array.from({ length: n }, () => {
        const r = rnd();
        return r < 0.1 ? NaN : r < 0.15 ? -Infinity : Math.floor(rnd() * 8) / 8;
      });
      const full = rankOrder(scores, 0);
      expect([...full].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      for (let i = 1; i < n; i++) {
        const a = Number.isNaN(scores[full[i - 1]!]!) ? -Infinity : scores[full[i - 1]!]!;
        const b = Number.isNaN(scores[full[i]!]!) ? -Infinity : scores[full[i]!]!;
        expect(a > b || (a === b && full[i - 1]! < full[i]!)).toBe(true);
      }
      for (const k of [1, 2, Math.ceil(n / 3), Math.max(1, n - 1), n, n + 5]) expect(rankOrder(scores, k)).toEqual(full.slice(0, Math.min(k, n)));
    }
  });
});

describe('toRankerInput', () => {
  const base = () => ({
    userId: 'u',
    topK: 0,
    variant: '',
    candidates: {
      itemIds: ['a', 'b'],
      scores: [2, 1],
      sources: [RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING, RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING],
      sourceScores: [{ source: RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING, scores: [2, 1] }],
      features: [] as { name: string; values: number[] }[],
      packedFeatures: Buffer.alloc(0),
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

  it('reads candidate features from one packed float32 block the same as from repeated floats (the encoder round trip)', () => {
    const features = [
      { name: 'als_rank', values: [4, 9] },
      { name: 'i2i_all', values: [0.25, -2] },
    ];
    const unpacked = base();
    Object.assign(unpacked.candidates, encodeCandidateFeatures(2, features, false));
    const packed = base();
    const wire = encodeCandidateFeatures(2, features, true);
    expect(wire.features.map((f) => f.values)).toEqual([[], []]);
    expect(wire.packedFeatures).toHaveLength(16);
    // A view at an odd offset, as a decoder may hand it over.
    Object.assign(packed.candidates, { ...wire, packedFeatures: Buffer.concat([Buffer.from([7]), wire.packedFeatures]).subarray(1) });
    for (const r of [unpacked, packed]) {
      const cf = toRankerInput(r, 10).candidateFeatures!;
      expect(Array.from(cf.get('als_rank') ?? [])).toEqual([4, 9]);
      expect(Array.from(cf.get('i2i_all') ?? [])).toEqual([0.25, -2]);
    }
  });

  it('rejects a packed candidate feature block of the wrong size, or with values beside it, naming the field', () => {
    const r = base();
    Object.assign(r.candidates, { features: [{ name: 'als_rank', values: [] }], packedFeatures: Buffer.alloc(12) });
    expect(() => toRankerInput(r, 10)).toThrow(/^candidates\.packed_features: has 12 bytes, expected 8 \(1 features × 2 float32\)/);
    Object.assign(r.candidates, { features: [{ name: 'als_rank', values: [1, 2] }], packedFeatures: Buffer.alloc(8) });
    expect(() => toRankerInput(r, 10)).toThrow(/^candidates\.features\[0\]\.values: must be empty when packed_features is set/);
    Object.assign(r.candidates, { features: [{ name: 'als_rank', values: [] }], packedFeatures: Buffer.from(new Float32Array([1, NaN]).buffer) });
    expect(() => toRankerInput(r, 10)).toThrow(/^candidates\.features\[0\]\.values/);
  });

  it('rejects more candidates than the limit', () => {
    expect(() => toRankerInput(base(), 1)).toThrow(/candidates.item_ids: at most 1/);
  });
});
