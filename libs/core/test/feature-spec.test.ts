import {
  assembleRankerInput,
  FeatureSpecError,
  parseRankerSpec,
  specsEqual,
  validateRankerSpec,
  viewDefaults,
  type FeatureViewSpec,
  type RankerFeature,
  type RankerInput,
} from '@recsys/core';

const userView: FeatureViewSpec = {
  name: 'user',
  entity: 'user',
  features: [
    { name: 'user_activity', default: 0, description: '' },
    { name: 'user_last', default: 100, description: '' },
    { name: 'genre_0', default: 0, description: '' },
    { name: 'genre_1', default: 0, description: '' },
  ],
};
const itemView: FeatureViewSpec = {
  name: 'item',
  entity: 'item',
  features: [
    { name: 'item_pop', default: 0, description: '' },
    { name: 'item_last', default: 50, description: '' },
    { name: 'genre_0', default: 0, description: '' },
    { name: 'genre_1', default: 0, description: '' },
  ],
};
const views = { user: userView, item: itemView };

function input(overrides: Partial<RankerInput> = {}): RankerInput {
  return {
    n: 3,
    candidateScores: [0.9, 0.5, 0.25],
    sourceScores: { embedding: Float32Array.from([2, NaN, -1]) },
    user: new Map([
      ['user_activity', 12],
      ['user_last', 200],
      ['genre_0', 0.75],
      ['genre_1', 0.25],
    ]),
    item: new Map<string, ArrayLike<number>>([
      ['item_pop', [10, 20, 30]],
      ['item_last', Float32Array.from([150, 210, 199])],
      ['genre_0', [1, 0, 1]],
      ['genre_1', [0, 1, 1]],
    ]),
    ...overrides,
  };
}

/** Column c of an n × width row-major matrix. */
function column(m: Float32Array, width: number, c: number): number[] {
  return Array.from({ length: m.length / width }, (_, r) => m[r * width + c]!);
}

describe('assembleRankerInput', () => {
  const spec: RankerFeature[] = [
    { name: 'u', kind: 'user', feature: 'user_activity' },
    { name: 'i', kind: 'item', feature: 'item_pop' },
    { name: 'score', kind: 'retrieval_score' },
    { name: 'rank', kind: 'retrieval_rank' },
    { name: 'emb', kind: 'source_score', source: 'embedding', default: -7 },
    { name: 'covis', kind: 'source_score', source: 'covisitation', default: 0.5 },
    { name: 'genres', kind: 'dot', user: ['genre_0', 'genre_1'], item: ['genre_0', 'genre_1'] },
    { name: 'days', kind: 'diff', user: 'user_last', item: 'item_last', scale: 0.5 },
  ];

  it('builds an n × F row-major matrix, one column per feature kind', () => {
    const m = assembleRankerInput(spec, input());
    expect(m).toBeInstanceOf(Float32Array);
    expect(m).toHaveLength(3 * spec.length);
    const w = spec.length;
    expect(column(m, w, 0)).toEqual([12, 12, 12]);
    expect(column(m, w, 1)).toEqual([10, 20, 30]);
    expect(column(m, w, 2)).toEqual([Math.fround(0.9), 0.5, 0.25]);
    expect(column(m, w, 3)).toEqual([1, 2, 3]);
    // NaN means "this source did not find the candidate" → default.
    expect(column(m, w, 4)).toEqual([2, -7, -1]);
    // A source absent altogether → default everywhere.
    expect(column(m, w, 5)).toEqual([0.5, 0.5, 0.5]);
    expect(column(m, w, 6)).toEqual([0.75, 0.25, 1]);
    expect(column(m, w, 7)).toEqual([25, -5, 0.5]);
    // Row-major: row 1 holds candidate 1's features in spec order.
    expect(Array.from(m.subarray(w, 2 * w))).toEqual([12, 20, 0.5, 2, -7, 0.5, 0.25, -5]);
  });

  it('fills user features into every row, wherever they sit in the spec and whatever the number of rows', () => {
    const mixed: RankerFeature[] = [
      { name: 'i', kind: 'item', feature: 'item_pop' },
      { name: 'u1', kind: 'user', feature: 'user_activity' },
      { name: 'score', kind: 'retrieval_score' },
      { name: 'u2', kind: 'user', feature: 'user_last' },
      { name: 'rank', kind: 'retrieval_rank' },
      { name: 'u3', kind: 'user', feature: 'genre_0' },
    ];
    for (const n of [1, 2, 5, 7, 300]) {
      const ids = Array.from({ length: n }, (_, j) => j);
      const m = assembleRankerInput(mixed, {
        n,
        candidateScores: ids.map((j) => 1 / (j + 1)),
        sourceScores: {},
        user: new Map([['user_activity', 12], ['user_last', -3.5], ['genre_0', 0.25]]),
        item: new Map([['item_pop', ids.map((j) => j * 10)]]),
      });
      // Every value, row by row, against the spec read directly.
      const expected = ids.flatMap((j) => [j * 10, 12, Math.fround(1 / (j + 1)), -3.5, j + 1, 0.25]);
      expect([n, Array.from(m)]).toEqual([n, expected]);
    }
  });

  it('writes every cell of a reused buffer (whatever it held) and refuses one of the wrong size', () => {
    const fresh = assembleRankerInput(spec, input());
    const dirty = new Float32Array(fresh.length).fill(NaN);
    expect(assembleRankerInput(spec, input(), dirty)).toBe(dirty);
    expect(Array.from(dirty)).toEqual(Array.from(fresh));
    // Without any user feature (no row template) too.
    const noUser = spec.filter((f) => f.kind !== 'user' && f.kind !== 'dot' && f.kind !== 'diff');
    const again = new Float32Array(3 * noUser.length).fill(-123);
    expect(Array.from(assembleRankerInput(noUser, input(), again))).toEqual(Array.from(assembleRankerInput(noUser, input())));
    expect(() => assembleRankerInput(spec, input(), new Float32Array(fresh.length + 1))).toThrow(RangeError);
  });

  it('computes every dot product as the row-by-row float64 sum in list order, rounded once, for any list length', () => {
    let seed = 7;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return (seed / 2 ** 31) * 2 - 1;
    };
    // Small terms between ±2^60 ones that cancel: a small term added while a big one is in the
    // sum is lost, so any other order of the additions gives other float32 values.
    const wide = (): number => (rand() < -0.4 ? (rand() < 0 ? 2 ** 60 : -(2 ** 60)) : Math.fround(rand() * 4));
    const n = 300;
    for (const terms of [1, 3, 4, 5, 8, 11, 16]) {
      const names = Array.from({ length: terms }, (_, k) => `g${k}`);
      // Weights of ±1 keep the big terms exactly opposite (the two-term case above checks the weights).
      const user = new Map(names.map((name) => [name, rand() < 0 ? -1 : 1] as const));
      const item = new Map(names.map((name) => [name, Float32Array.from({ length: n }, wide)] as const));
      const m = assembleRankerInput([{ name: 'd', kind: 'dot', user: names, item: names }], { n, candidateScores: new Float32Array(n), sourceScores: {}, user, item });
      const expected = Array.from({ length: n }, (_, j) => {
        let sum = 0;
        for (const name of names) sum += user.get(name)! * item.get(name)![j]!;
        return Math.fround(sum);
      });
      expect([terms, Array.from(m)]).toEqual([terms, expected]);
    }
  });

  it('handles zero candidates', () => {
    const empty = input({ n: 0, candidateScores: [], sourceScores: {}, item: new Map([['item_pop', []], ['item_last', []], ['genre_0', []], ['genre_1', []]]) });
    expect(assembleRankerInput(spec, empty)).toHaveLength(0);
  });

  it('refuses missing inputs, naming the ranker feature and the missing view feature', () => {
    const noUser = input({ user: new Map([['user_activity', 1]]) });
    expect(() => assembleRankerInput(spec, noUser)).toThrow(/ranker feature "genres": user feature "genre_0" is missing/);
    const shortColumn = input({ item: new Map([...input().item, ['item_pop', [1, 2]]]) });
    expect(() => assembleRankerInput(spec, shortColumn)).toThrow(/ranker feature "i": item feature "item_pop" has 2 values for 3 candidates/);
    expect(() => assembleRankerInput(spec, input({ candidateScores: [1] }))).toThrow(/"score": candidateScores has 1 values/);
    expect(() => assembleRankerInput(spec, input({ sourceScores: { embedding: [1, 2] } }))).toThrow(/"emb": source "embedding" has 2 scores/);
    try {
      assembleRankerInput(spec, noUser);
      throw new Error('expected a FeatureSpecError');
    } catch (err) {
      expect(err).toBeInstanceOf(FeatureSpecError);
      expect((err as FeatureSpecError).feature).toBe('genres');
    }
  });
});

describe('validateRankerSpec', () => {
  it('accepts a spec whose features all exist in the views', () => {
    expect(() =>
      validateRankerSpec(
        [
          { name: 'a', kind: 'user', feature: 'user_activity' },
          { name: 'b', kind: 'dot', user: ['genre_0'], item: ['genre_1'] },
          { name: 'c', kind: 'diff', user: 'user_last', item: 'item_last', scale: 1 },
        ],
        views,
      ),
    ).not.toThrow();
  });

  it.each<[RankerFeature, RegExp]>([
    [{ name: 'pop', kind: 'item', feature: 'item_popularity' }, /ranker feature "pop" \(kind item\) refers to item feature "item_popularity"/],
    [{ name: 'act', kind: 'user', feature: 'item_pop' }, /ranker feature "act" \(kind user\) refers to user feature "item_pop"/],
    [{ name: 'g', kind: 'dot', user: ['genre_0', 'genre_9'], item: ['genre_0', 'genre_1'] }, /ranker feature "g".*user feature "genre_9"/],
    [{ name: 'd', kind: 'diff', user: 'user_last', item: 'nope', scale: 1 }, /ranker feature "d".*item feature "nope"/],
  ])('names the offending feature: %j', (bad, message) => {
    expect(() => validateRankerSpec([{ name: 'ok', kind: 'retrieval_rank' }, bad], views)).toThrow(message);
  });

  it('rejects malformed specs', () => {
    expect(() => parseRankerSpec([])).toThrow(/non-empty array/);
    expect(() => parseRankerSpec([{ name: 'x', kind: 'magic' }])).toThrow(/"x" has unknown kind "magic"/);
    expect(() => parseRankerSpec([{ name: 'x', kind: 'retrieval_rank' }, { name: 'x', kind: 'retrieval_score' }])).toThrow(/"x" appears twice/);
    expect(() => parseRankerSpec([{ name: 'x', kind: 'source_score', source: 'telepathy', default: 0 }])).toThrow(/"source" must be one of/);
    expect(() => parseRankerSpec([{ name: 'x', kind: 'dot', user: ['a'], item: ['a', 'b'] }])).toThrow(/equal length/);
    expect(() => parseRankerSpec([{ name: 'x', kind: 'user', feature: 'a', extra: 1 }])).toThrow(/unexpected field "extra"/);
    expect(() => parseRankerSpec([{ name: 'Bad Name', kind: 'retrieval_rank' }])).toThrow(/invalid name/);
    expect(parseRankerSpec('[{"name":"r","kind":"retrieval_rank"}]')).toEqual([{ name: 'r', kind: 'retrieval_rank' }]);
  });
});

describe('specsEqual', () => {
  const a: RankerFeature[] = [
    { name: 'x', kind: 'diff', user: 'user_last', item: 'item_last', scale: 1 },
    { name: 'y', kind: 'retrieval_rank' },
  ];
  it('ignores object key order', () => {
    const reordered = JSON.parse('[{"scale":1,"item":"item_last","user":"user_last","kind":"diff","name":"x"},{"kind":"retrieval_rank","name":"y"}]') as RankerFeature[];
    expect(specsEqual(a, reordered)).toBe(true);
  });
  it('sees a different order, parameter, or length', () => {
    expect(specsEqual(a, [a[1]!, a[0]!])).toBe(false);
    expect(specsEqual(a, [{ ...(a[0] as Extract<RankerFeature, { kind: 'diff' }>), scale: 2 }, a[1]!])).toBe(false);
    expect(specsEqual(a, [a[0]!])).toBe(false);
  });
});

describe('viewDefaults', () => {
  it('maps names to defaults', () => {
    expect(viewDefaults(itemView).get('item_last')).toBe(50);
  });
});
