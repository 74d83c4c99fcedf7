/**
 * The merge in scratch arrays against the Map-based merge it replaced (kept here as the
 * reference), on random catalogues with many ties, exclusions, odd recent items and
 * concurrent calls: every candidate, score, primary source and source score must agree.
 */
import { MergedRetriever, type ItemNeighbors, type MergedCandidates, type RetrievalData, type RetrievalQuery, type RetrievalSource } from '@recsys/core';
import { rng } from './rng';

/** The merge before it moved into scratch arrays (libs/core/src/retrieval.ts at 80aa35d), given the embedding hits. */
function referenceMerge(data: RetrievalData, q: RetrievalQuery, embedding: { rows: ArrayLike<number>; scores: ArrayLike<number> } | undefined): MergedCandidates {
  const { config } = data;
  const want = (s: RetrievalSource): boolean => q.only === undefined || q.only.includes(s);
  const excluded = (i: number): boolean => !(data.itemPopularity[i]! > 0) || q.exclude.has(i);
  const lists: Array<{ source: RetrievalSource; weight: number; items: ArrayLike<number>; scores: ArrayLike<number> }> = [];
  if (embedding) lists.push({ source: 'embedding', weight: config.embedding.weight, items: embedding.rows, scores: embedding.scores });
  const nb = data.neighbors;
  if (want('covisitation') && nb !== undefined && config.covisitation.n > 0 && q.recentItems.length > 0) {
    const acc = new Map<number, number>();
    for (const i of q.recentItems.slice(0, config.covisitation.recent_items)) {
      if (!(i >= 0 && i < data.nItems)) continue;
      for (let p = nb.ptr[i]!; p < nb.ptr[i + 1]!; p++) {
        const j = nb.items[p]!;
        if (!excluded(j)) acc.set(j, (acc.get(j) ?? 0) + nb.weights[p]!);
      }
    }
    const entries = [...acc.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, config.covisitation.n);
    lists.push({ source: 'covisitation', weight: config.covisitation.weight, items: entries.map((e) => e[0]), scores: entries.map((e) => e[1]) });
  }
  const popularOrder = Array.from({ length: data.nItems }, (_, i) => i).sort((a, b) => data.itemPopularity[b]! - data.itemPopularity[a]! || a - b);
  const popN = lists.length === 0 ? q.n : config.popularity.n;
  if ((want('popularity') || lists.length === 0) && popN > 0) {
    const items: number[] = [];
    for (let r = 0; r < popularOrder.length && items.length < popN; r++) if (!excluded(popularOrder[r]!)) items.push(popularOrder[r]!);
    lists.push({ source: 'popularity', weight: lists.length === 0 ? 1 : config.popularity.weight, items, scores: items.map((i) => data.itemPopularity[i]!) });
  }
  if (lists.length === 1) {
    const l = lists[0]!;
    const count = Math.min(q.n, l.items.length);
    const items = Int32Array.from({ length: count }, (_, r) => l.items[r]!);
    const own = Float32Array.from({ length: count }, (_, r) => l.scores[r]!);
    const scores = Float32Array.from({ length: count }, (_, r) => (l.source === 'popularity' ? 1 / (config.rrf_k + r + 1) : l.scores[r]!));
    return { items, scores, primary: Array.from({ length: count }, () => l.source), sourceScores: { [l.source]: own } };
  }
  const fused = new Map<number, { score: number; best: number; primary: RetrievalSource }>();
  for (const l of lists) {
    for (let r = 0; r < l.items.length; r++) {
      const item = l.items[r]!;
      const contribution = l.weight / (config.rrf_k + r + 1);
      const e = fused.get(item);
      if (e === undefined) fused.set(item, { score: contribution, best: contribution, primary: l.source });
      else {
        e.score += contribution;
        if (contribution > e.best) {
          e.best = contribution;
          e.primary = l.source;
        }
      }
    }
  }
  const ranked = [...fused.entries()]
    .map(([item, e]) => ({ item, score: Math.fround(e.score), primary: e.primary }))
    .sort((a, b) => b.score - a.score || a.item - b.item)
    .slice(0, q.n);
  const position = new Map(ranked.map((c, j) => [c.item, j]));
  const sourceScores: Partial<Record<RetrievalSource, Float32Array>> = {};
  for (const l of lists) {
    const col = new Float32Array(ranked.length).fill(NaN);
    for (let r = 0; r < l.items.length; r++) {
      const j = position.get(l.items[r]!);
      if (j !== undefined) col[j] = l.scores[r]!;
    }
    sourceScores[l.source] = col;
  }
  return { items: Int32Array.from(ranked, (c) => c.item), scores: Float32Array.from(ranked, (c) => c.score), primary: ranked.map((c) => c.primary), sourceScores };
}


/** A catalogue whose weights, popularity and embeddings come from small sets, so ties are common. */
function catalogue(seed: number, nItems: number): RetrievalData {
  const rand = rng(seed);
  const dim = 4;
  const ptr = new Int32Array(nItems + 1);
  const items: number[] = [];
  const weights: number[] = [];
  for (let i = 0; i < nItems; i++) {
    const k = Math.floor(rand() * 12);
    for (let t = 0; t < k; t++) {
      items.push(Math.floor(rand() * nItems));
      weights.push([0.25, 0.5, 0.125, 0.3][Math.floor(rand() * 4)]!);
    }
    ptr[i + 1] = items.length;
  }
  const neighbors: ItemNeighbors = { ptr, items: Int32Array.from(items), weights: Float32Array.from(weights) };
  return {
    nItems,
    dim,
    itemEmbeddings: Float32Array.from({ length: nItems * dim }, () => Math.floor(rand() * 5) - 2),
    // About one item in eight has no interactions (never a candidate).
    itemPopularity: Float32Array.from({ length: nItems }, () => (rand() < 0.125 ? 0 : 1 + Math.floor(rand() * 6))),
    neighbors,
    config: { embedding: { n: 40, weight: 2 }, covisitation: { n: 35, weight: 1, recent_items: 6 }, popularity: { n: 20, weight: 0.2 }, rrf_k: 3 },
  };
}

function queries(seed: number, data: RetrievalData, count: number): RetrievalQuery[] {
  const rand = rng(seed);
  const onlys: (readonly RetrievalSource[] | undefined)[] = [undefined, undefined, undefined, ['covisitation'], ['popularity'], ['embedding', 'covisitation'], ['covisitation', 'popularity']];
  return Array.from({ length: count }, () => {
    const recent = Array.from({ length: Math.floor(rand() * 10) }, () => Math.floor(rand() * (data.nItems + 4)) - 2);
    const exclude = new Set(Array.from({ length: Math.floor(rand() * 30) }, () => Math.floor(rand() * data.nItems)));
    const only = onlys[Math.floor(rand() * onlys.length)];
    return {
      ...(rand() < 0.85 ? { userEmbedding: Float32Array.from({ length: data.dim }, () => Math.floor(rand() * 5) - 2) } : {}),
      recentItems: recent,
      exclude,
      n: 1 + Math.floor(rand() * 80),
      ...(only ? { only } : {}),
    };
  });
}

async function expected(retriever: MergedRetriever, data: RetrievalData, q: RetrievalQuery): Promise<MergedCandidates> {
  const embedding = (q.only === undefined || q.only.includes('embedding')) && q.userEmbedding !== undefined ? await retriever.index.search(q.userEmbedding, data.config.embedding.n, q.exclude) : undefined;
  return referenceMerge(data, q, embedding);
}

const plain = (m: MergedCandidates) => ({
  items: Array.from(m.items),
  scores: Array.from(m.scores),
  primary: m.primary,
  sourceScores: Object.fromEntries(Object.entries(m.sourceScores).map(([k, v]) => [k, Array.from(v!)])),
});

/** Runs `fn` on a retriever over `data`, released afterwards. */
async function withRetriever(data: RetrievalData, fn: (retriever: MergedRetriever, data: RetrievalData) => Promise<void>): Promise<void> {
  const retriever = await MergedRetriever.create(data);
  try {
    await fn(retriever, data);
  } finally {
    await retriever.release();
  }
}

describe('merge in scratch arrays = the Map-based merge', () => {
  for (const seed of [1, 2, 3]) {
    it(`agrees on 150 random queries, one after another (catalogue seed ${seed})`, async () => {
      await withRetriever(catalogue(seed, 300), async (retriever, data) => {
        for (const q of queries(seed * 101, data, 150)) expect(plain(await retriever.retrieve(q))).toEqual(plain(await expected(retriever, data, q)));
      });
    });
  }

  it('agrees when 60 queries run concurrently on one retriever (the scratch arrays are shared)', async () => {
    await withRetriever(catalogue(7, 300), async (retriever, data) => {
      const qs = queries(707, data, 60);
      const got = await Promise.all(qs.map((q) => retriever.retrieve(q)));
      for (let i = 0; i < qs.length; i++) expect(plain(got[i]!)).toEqual(plain(await expected(retriever, data, qs[i]!)));
    });
  });

  it('wraps its pass stamp without mixing passes', async () => {
    await withRetriever(catalogue(9, 200), async (retriever, data) => {
      const qs = queries(909, data, 12);
      // A fusion pass makes the scratch arrays.
      await retriever.retrieve({ userEmbedding: Float32Array.from([1, 0, 0, 0]), recentItems: [1, 2, 3], exclude: new Set(), n: 10 });
      // Move the stamp to just before the wrap: the next passes cross it.
      const scratch = (retriever as unknown as { scratchArrays: { current: number } }).scratchArrays;
      scratch.current = 0xffffffff - 2;
      for (const q of qs) expect(plain(await retriever.retrieve(q))).toEqual(plain(await expected(retriever, data, q)));
    });
  });
});
