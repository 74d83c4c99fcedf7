import { decodeItemNeighbors, DEFAULT_RETRIEVAL_CONFIG, encodeItemNeighbors, MergedRetriever, parseRetrievalConfig, type ItemNeighbors, type RetrievalData } from '@recsys/core';

/**
 * Six items in 2-d: embeddings favour items 0, 1, 2 for the user (1, 0); item 5 has no
 * interactions (never a candidate); neighbours link 3 → 4 and 3 → 1.
 */
function data(overrides: Partial<RetrievalData> = {}): RetrievalData {
  const neighbors: ItemNeighbors = {
    ptr: Int32Array.from([0, 0, 0, 0, 2, 2, 2]),
    items: Int32Array.from([4, 1]),
    weights: Float32Array.from([0.9, 0.5]),
  };
  return {
    nItems: 6,
    dim: 2,
    itemEmbeddings: Float32Array.from([3, 0, 2, 0, 1, 0, 0, 1, 0, 2, 9, 9]),
    itemPopularity: Float32Array.from([1, 2, 3, 4, 5, 0]),
    neighbors,
    config: { embedding: { n: 3, weight: 1 }, covisitation: { n: 3, weight: 1, recent_items: 5 }, popularity: { n: 2, weight: 0.5 }, rrf_k: 0 },
    ...overrides,
  };
}
const user = Float32Array.from([1, 0]);

describe('MergedRetriever', () => {
  it('fuses the sources by weighted reciprocal rank, dedupes, keeps per-source scores', async () => {
    const r = await (await MergedRetriever.create(data())).retrieve({ userEmbedding: user, recentItems: [3], exclude: new Set([3]), n: 10 });
    // embedding: 0 (3), 1 (2), 2 (1)  → 1/1, 1/2, 1/3; 5 is ineligible despite its dot product of 9.
    // covisitation from item 3: 4 (0.9), 1 (0.5) → 1/1, 1/2.
    // popularity (0.5 weight): 4, 2 → 0.5/1, 0.5/2.
    // fused: 4 = 1.5, 0 = 1, 1 = 1, 2 = 1/3 + 1/4; ties → lower item first.
    expect(Array.from(r.items)).toEqual([4, 0, 1, 2]);
    expect(Array.from(r.scores)).toEqual([1.5, 1, 1, Math.fround(1 / 3 + 1 / 4)]);
    expect(r.primary).toEqual(['covisitation', 'embedding', 'embedding', 'embedding']);
    expect(Array.from(r.sourceScores.embedding!)).toEqual([NaN, 3, 2, 1]);
    expect(Array.from(r.sourceScores.covisitation!)).toEqual([Math.fround(0.9), NaN, 0.5, NaN]);
    expect(Array.from(r.sourceScores.popularity!)).toEqual([5, NaN, NaN, 3]);
  });

  it('honours exclusions and n, and serves popularity alone to users with nothing else', async () => {
    const m = await MergedRetriever.create(data());
    const r = await m.retrieve({ userEmbedding: user, recentItems: [], exclude: new Set([0]), n: 2 });
    // embedding 1, 2, 3 (3 before 4 on the tie at 0); popularity 4, 3: 3 = 1/3 + 0.5/2 beats 4 = 0.5/1.
    expect(Array.from(r.items)).toEqual([1, 3]);
    const cold = await m.retrieve({ recentItems: [], exclude: new Set([4]), n: 3 });
    expect(Array.from(cold.items)).toEqual([3, 2, 1]);
    expect(cold.primary).toEqual(['popularity', 'popularity', 'popularity']);
    expect(Object.keys(cold.sourceScores)).toEqual(['popularity']);
  });

  it('runs one source alone when asked (the evaluation of each source)', async () => {
    const m = await MergedRetriever.create(data());
    const q = { userEmbedding: user, recentItems: [3], exclude: new Set([3]), n: 10 };
    expect(Array.from((await m.retrieve({ ...q, only: ['embedding'] })).items)).toEqual([0, 1, 2]);
    expect(Array.from((await m.retrieve({ ...q, only: ['covisitation'] })).items)).toEqual([4, 1]);
    expect(Array.from((await m.retrieve({ ...q, only: ['popularity'] })).items)).toEqual([4, 2, 1, 0]);
  });

  it('uses only the configured number of recent items (newest first)', async () => {
    const m = await MergedRetriever.create(data({ config: { ...data().config, covisitation: { n: 3, weight: 1, recent_items: 1 } } }));
    const r = await m.retrieve({ recentItems: [0, 3], exclude: new Set(), n: 10, only: ['covisitation'] });
    // Item 0 has no neighbours and is the only recent item used: covisitation finds nothing, popularity steps in.
    expect(r.primary.every((p) => p === 'popularity')).toBe(true);
  });

  it('refuses arrays that do not fit the catalogue', async () => {
    await expect(MergedRetriever.create(data({ itemPopularity: new Float32Array(5) }))).rejects.toThrow(/5 popularity values for 6 items/);
  });
});

describe('neighbour lists and config', () => {
  it('round-trips the binary format and names what is wrong with a bad file', () => {
    const nb = data().neighbors!;
    const back = decodeItemNeighbors(encodeItemNeighbors(nb), 6);
    expect(back).toEqual(nb);
    expect(() => decodeItemNeighbors(encodeItemNeighbors(nb), 7)).toThrow('lists for 6 items, the artifact has 7');
    const bad = encodeItemNeighbors({ ...nb, items: Int32Array.from([4, 17]) });
    expect(() => decodeItemNeighbors(bad, 6)).toThrow('neighbour 1 names item row 17, outside 0..5');
    expect(() => decodeItemNeighbors(encodeItemNeighbors(nb).subarray(0, 20), 6)).toThrow(/bytes, expected/);
  });

  it('parses a config and names a bad field', () => {
    expect(parseRetrievalConfig(JSON.parse(JSON.stringify(DEFAULT_RETRIEVAL_CONFIG)))).toEqual(DEFAULT_RETRIEVAL_CONFIG);
    expect(() => parseRetrievalConfig({ ...DEFAULT_RETRIEVAL_CONFIG, embedding: { n: -1, weight: 1 } })).toThrow('retrieval.embedding.n must be a non-negative integer, got -1');
    expect(() => parseRetrievalConfig({ ...DEFAULT_RETRIEVAL_CONFIG, covisitation: { n: 1, weight: 1 } })).toThrow('retrieval.covisitation.recent_items');
  });
});
