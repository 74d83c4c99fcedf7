import {
  assembleRankerInput,
  ALS_RANK_SAMPLE,
  CANDIDATE_FEATURES,
  CandidateFeaturizer,
  decodeItemTimeline,
  encodeItemTimeline,
  parseRankerSpec,
  parseServingConfig,
  type CandidateFeatureData,
  type RankerFeature,
} from '@recsys/core';

/**
 * Five items in 2-d. Item 4 has no interactions (not eligible). Neighbours: 0 → 1 (0.5),
 * 0 → 2 (0.25), 3 → 2 (1). Genres (2): items 0, 1 genre A; item 2 both; item 3 genre B.
 */
function data(): CandidateFeatureData {
  return {
    nItems: 5,
    dim: 2,
    itemEmbeddings: Float32Array.from([1, 0, 0.5, 0, 0.25, 0, 2, 0, 9, 9]),
    itemPopularity: Float32Array.from([3, 2, 2, 1, 0]),
    neighbors: { ptr: Int32Array.from([0, 2, 2, 2, 3, 3]), items: Int32Array.from([1, 2, 2]), weights: Float32Array.from([0.5, 0.25, 1]) },
    // Days: item 0 at 10, 100, 195; item 1 at 190, 200; item 2 at 50, 60; item 3 at 199.
    timeline: { ptr: Int32Array.from([0, 3, 5, 7, 8, 8]), days: Float32Array.from([10, 100, 195, 190, 200, 50, 60, 199]) },
    itemGenres: Float32Array.from([1, 0, 1, 0, 1, 1, 0, 1, 0, 0]),
    nGenres: 2,
  };
}
const col = (m: Map<string, Float32Array>, name: string): number[] => Array.from(m.get(name)!);

describe('CandidateFeaturizer', () => {
  it('computes every feature by its definition (values worked out by hand)', () => {
    const f = new CandidateFeaturizer(data());
    // Newest first: 3, then 0. Candidates 1 and 2; item 0 and 3 excluded (seen).
    const out = f.compute({ userEmbedding: Float32Array.from([1, 0]), recentItems: [3, 0], exclude: new Set([0, 3]), refDay: 200 }, [1, 2]);
    expect([...out.keys()].sort()).toEqual(CANDIDATE_FEATURES.map((d) => d.name).sort());
    expect(col(out, 'als_score')).toEqual([0.5, 0.25]);
    // Eligible, not excluded: 1 (0.5), 2 (0.25); item 4 (dot 9) has no interactions.
    expect(col(out, 'als_rank')).toEqual([1, 2]);
    expect(col(out, 'i2i_last1')).toEqual([0, 1]); // from item 3 only
    expect(col(out, 'i2i_last1_rank')).toEqual([2, 1]);
    expect(col(out, 'i2i_all')).toEqual([0.5, 1.25]);
    expect(col(out, 'i2i_last3')).toEqual([0.5, 1.25]);
    // 30 days up to day 200: (170, 200]; 180 days: (20, 200].
    expect(col(out, 'pop_30d')).toEqual([2, 0]);
    expect(col(out, 'pop_180d')).toEqual([2, 2]);
    expect(col(out, 'item_age_days')).toEqual([10, 150]);
    // Genre shares of the recent items 3 (B) and 0 (A): A 1/2, B 1/2.
    expect(col(out, 'genre_recent')).toEqual([0.5, 1]);
    expect(col(out, 'genre_last10')).toEqual([0.5, 1]);
  });

  it('als_rank counts the eligible, non-excluded items scoring strictly higher (brute force, ties, excluded candidates)', () => {
    const nItems = 400;
    let x = 7;
    const next = (): number => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
    // Signed 3-d vectors on a coarse grid (many ties), norms from 0 to about 4.
    const dim = 3;
    const itemEmbeddings = Float32Array.from({ length: nItems * dim }, () => (Math.floor(next() * 20) - 8) / 4);
    const itemPopularity = Float32Array.from({ length: nItems }, () => (next() < 0.2 ? 0 : 1));
    const f = new CandidateFeaturizer({
      nItems,
      dim,
      itemEmbeddings,
      itemPopularity,
      timeline: { ptr: new Int32Array(nItems + 1), days: new Float32Array(0) },
      itemGenres: new Float32Array(0),
      nGenres: 0,
    });
    const exclude = new Set(Array.from({ length: 60 }, () => Math.floor(next() * nItems)));
    const candidates = Array.from({ length: 50 }, (_, j) => (j * 7) % nItems);
    const score = (q: number[], i: number): number => Math.fround(q.reduce((acc, v, k) => acc + v * itemEmbeddings[i * dim + k]!, 0));
    // Several queries, signed scores.
    for (const query of [[1, 0.5, 0], [-0.25, 2, 1], [0.01, 0, 0]]) {
      const out = f.compute({ userEmbedding: Float32Array.from(query), recentItems: [], exclude, refDay: NaN }, candidates);
      const all = Array.from({ length: nItems }, (_, i) => i);
      const expected = candidates.map((c) => 1 + all.filter((i) => itemPopularity[i]! > 0 && !exclude.has(i) && score(query, i) > score(query, c)).length);
      expect(col(out, 'als_rank')).toEqual(expected);
    }
    // Candidates among the best-scoring items.
    const q = [1, 1, 1];
    const best = Array.from({ length: nItems }, (_, i) => i).sort((a, b) => score(q, b) - score(q, a)).slice(0, 30);
    const out = f.compute({ userEmbedding: Float32Array.from(q), recentItems: [], exclude, refDay: NaN }, best);
    expect(col(out, 'als_rank')).toEqual(best.map((c) => 1 + Array.from({ length: nItems }, (_, i) => i).filter((i) => itemPopularity[i]! > 0 && !exclude.has(i) && score(q, i) > score(q, c)).length));
  });

  it('beyond ALS_RANK_SAMPLE eligible items als_rank is estimated from the sample: exact at the top, close below, never decreasing with the score', () => {
    const nItems = 4 * ALS_RANK_SAMPLE + 123;
    const dim = 4;
    let x = 11;
    const next = (): number => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
    const itemEmbeddings = Float32Array.from({ length: nItems * dim }, () => next() * 2 - 1);
    const itemPopularity = Float32Array.from({ length: nItems }, () => (next() < 0.1 ? 0 : 1));
    const f = new CandidateFeaturizer({ nItems, dim, itemEmbeddings, itemPopularity, timeline: { ptr: new Int32Array(nItems + 1), days: new Float32Array(0) }, itemGenres: new Float32Array(0), nGenres: 0 });
    const query = Float32Array.from([0.9, -0.3, 0.5, 0.1]);
    const score = (i: number): number => {
      let s = 0;
      for (let k = 0; k < dim; k++) s += query[k]! * itemEmbeddings[i * dim + k]!;
      return Math.fround(s);
    };
    const exclude = new Set(Array.from({ length: 200 }, () => Math.floor(next() * nItems)));
    const eligible = Array.from({ length: nItems }, (_, i) => i).filter((i) => itemPopularity[i]! > 0 && !exclude.has(i));
    const byScore = eligible.slice().sort((a, b) => score(b) - score(a) || a - b);
    // The 100 best items, plus items ranked about 1,000, 10,000 and 50,000.
    const candidates = [...byScore.slice(0, 100), byScore[1000]!, byScore[10_000]!, byScore[50_000]!];
    const out = col(f.compute({ userEmbedding: query, recentItems: [], exclude, refDay: NaN }, candidates), 'als_rank');
    const exact = candidates.map((c) => 1 + eligible.filter((i) => score(i) > score(c)).length);
    // The candidates hold the catalogue's best 100: their ranks are exact.
    expect(out.slice(0, 100)).toEqual(exact.slice(0, 100));
    // Below them, an estimate from a 1-in-4 sample: within 10 % (binomial error ≈ 2·sqrt(rank/4)/rank).
    for (let j = 100; j < candidates.length; j++) expect({ j, close: Math.abs(out[j]! - exact[j]!) / exact[j]! < 0.1 }).toEqual({ j, close: true });
    for (let j = 1; j < candidates.length; j++) expect(out[j]!).toBeGreaterThanOrEqual(out[j - 1]!);
    // And exactly the estimate the definition gives: the higher-scoring candidates counted,
    // plus the higher-scoring sampled non-candidates (evenly strided over the eligible rows,
    // exclusions left out) scaled by eligible / sample.
    const allEligible = Array.from({ length: nItems }, (_, i) => i).filter((i) => itemPopularity[i]! > 0);
    const sampleRows = Array.from({ length: ALS_RANK_SAMPLE }, (_, k) => allEligible[Math.floor((k * allEligible.length) / ALS_RANK_SAMPLE)]!);
    const isCandidate = new Set(candidates);
    const counted = sampleRows.filter((r) => !isCandidate.has(r) && !exclude.has(r));
    const countedScores = counted.map(score);
    const defined = candidates.map((c) => {
      const sc = score(c);
      const higherCandidates = candidates.filter((d) => !exclude.has(d) && score(d) > sc).length;
      return 1 + higherCandidates + Math.round(countedScores.filter((v) => v > sc).length * (allEligible.length / ALS_RANK_SAMPLE));
    });
    expect(Array.from(out)).toEqual(defined);
  });

  it('an unknown user with no history gets the defaults where nothing can be computed', () => {
    const f = new CandidateFeaturizer(data());
    const out = f.compute({ recentItems: [], exclude: new Set(), refDay: 200 }, [0, 1]);
    expect(col(out, 'als_score')).toEqual([0, 0]);
    expect(col(out, 'als_rank')).toEqual([100_000, 100_000]);
    expect(col(out, 'i2i_all')).toEqual([0, 0]);
    expect(col(out, 'genre_recent')).toEqual([0, 0]);
    // Popularity windows need no user history.
    expect(col(out, 'pop_30d')).toEqual([1, 2]);
  });

  it('rejects item rows outside the catalogue and inconsistent data, naming what is wrong', () => {
    const f = new CandidateFeaturizer(data());
    expect(() => f.compute({ recentItems: [], exclude: new Set(), refDay: 0 }, [7])).toThrow(/item row 7 outside 0..4/);
    expect(() => f.compute({ userEmbedding: Float32Array.from([1]), recentItems: [], exclude: new Set(), refDay: 0 }, [0])).toThrow(/user embedding has 1 values, expected 2/);
    expect(() => new CandidateFeaturizer({ ...data(), itemGenres: new Float32Array(3) })).toThrow(/item genres/);
    // Recent rows outside the catalogue are dropped (not read out of bounds): item 3 is the newest.
    expect(col(f.compute({ recentItems: [99, -1, 3], exclude: new Set(), refDay: 0 }, [2]), 'i2i_last1')).toEqual([1]);
  });
});

describe('item timeline encoding', () => {
  it('round-trips and refuses corrupt files', () => {
    const t = data().timeline;
    const buf = encodeItemTimeline(t);
    const back = decodeItemTimeline(buf, 5);
    expect(Array.from(back.ptr)).toEqual(Array.from(t.ptr));
    expect(Array.from(back.days)).toEqual(Array.from(t.days));
    expect(() => decodeItemTimeline(buf, 4)).toThrow(/timeline of 5 items, the artifact has 4/);
    expect(() => decodeItemTimeline(buf.subarray(0, buf.length - 4), 5)).toThrow(/expected/);
    const unsorted = Buffer.from(buf);
    unsorted.writeFloatLE(500, 8 + 4 * 6); // item 0's first day after its second
    expect(() => decodeItemTimeline(unsorted, 5)).toThrow(/not ascending/);
  });
});

describe('candidate ranker features', () => {
  const spec: RankerFeature[] = [{ name: 'rank', kind: 'candidate', feature: 'als_rank', default: 7 }];

  it('parse: known feature names only, with a finite default', () => {
    expect(parseRankerSpec(spec)).toEqual(spec);
    expect(() => parseRankerSpec([{ name: 'x', kind: 'candidate', feature: 'nope', default: 0 }])).toThrow(/"feature" must be one of als_score/);
    expect(() => parseRankerSpec([{ name: 'x', kind: 'candidate', feature: 'als_rank' }])).toThrow(/"default" must be a finite number/);
  });

  it('assemble: the column when sent, the default when absent or NaN, an error when misaligned', () => {
    const base = { n: 2, candidateScores: [1, 2], sourceScores: {}, user: new Map(), item: new Map() };
    expect(Array.from(assembleRankerInput(spec, { ...base, candidateFeatures: new Map([['als_rank', [3, NaN]]]) }))).toEqual([3, 7]);
    expect(Array.from(assembleRankerInput(spec, base))).toEqual([7, 7]);
    expect(() => assembleRankerInput(spec, { ...base, candidateFeatures: new Map([['als_rank', [3]]]) })).toThrow(/"als_rank" has 1 values for 2 candidates/);
  });
});

describe('parseServingConfig', () => {
  it('accepts the two fields in range and names a bad one', () => {
    expect(parseServingConfig({ recent_items: 1000, num_candidates: 300 })).toEqual({ recent_items: 1000, num_candidates: 300 });
    expect(() => parseServingConfig({ recent_items: 0, num_candidates: 300 })).toThrow(/"recent_items" must be an integer in 1..1000, got 0/);
    expect(() => parseServingConfig({ recent_items: 10, num_candidates: 300, extra: 1 })).toThrow(/unknown field "extra"/);
    expect(() => parseServingConfig([])).toThrow(/must be an object/);
  });
});
