import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_HNSW_PARAMS, DEFAULT_RETRIEVAL_CONFIG, eligibleItems, HnswIndex, MergedRetriever, encodeItemNeighbors, loadArtifacts, type LoadedArtifacts } from '@recsys/core';
import { Retriever } from '@recsys/candidate-generator/retrieval';
import { fixtureFiles, writeVersionDir } from '../../../test/support/artifact-fixture';

/**
 * The fixture artifact: items 10, 20, 30 (embeddings [1,0], [0,1], [0.5,0.5], popularity
 * 5, 3, 1), users u1 [1,2] and u2 [3,4]; plus covisitation lists 10 → {20: 0.9, 30: 0.1},
 * 20 → {10: 0.9}, 30 → {10: 0.1}, merged with the default settings (embedding weight 2,
 * covisitation 1, popularity 0.2, c = 10).
 */
let root: string;
let artifacts: LoadedArtifacts;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-cg-'));
  const neighbors = encodeItemNeighbors({ ptr: Int32Array.from([0, 2, 3, 4]), items: Int32Array.from([1, 2, 0, 0]), weights: Float32Array.from([0.9, 0.1, 0.9, 0.1]) });
  writeVersionDir(path.join(root, 'v1'), { ...fixtureFiles(), 'item_neighbors.bin': neighbors }, { retrieval: { ...DEFAULT_RETRIEVAL_CONFIG, neighbors_file: 'item_neighbors.bin' } });
  artifacts = loadArtifacts(path.join(root, 'v1'), ['itemEmbeddings', 'userEmbeddings', 'itemPopularity', 'itemNeighbors']);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const scoresOf = (c: { sourceScores: { source: string; scores: Float32Array }[] }, source: string) => Array.from(c.sourceScores.find((s) => s.source === source)?.scores ?? []);

describe('Retriever (the candidate generator over one artifact version)', () => {
  it('a known user: embedding and popularity fused by reciprocal rank, ids and every source score reported', async () => {
    const c = await (await Retriever.create(artifacts)).retrieve('u1', 10, new Set());
    // u1 · items = 1, 2, 1.5 → embedding ranks 20, 30, 10; popularity ranks 10, 20, 30.
    // Fused: 20 = 2/11 + 0.2/12, 30 = 2/12 + 0.2/13, 10 = 2/13 + 0.2/11.
    expect(c.itemIds).toEqual(['20', '30', '10']);
    [2 / 11 + 0.2 / 12, 2 / 12 + 0.2 / 13, 2 / 13 + 0.2 / 11].forEach((s, i) => expect(c.scores[i]).toBeCloseTo(s, 6));
    expect(c.sources).toEqual(['embedding', 'embedding', 'embedding']);
    expect(scoresOf(c, 'embedding')).toEqual([2, 1.5, 1]);
    expect(scoresOf(c, 'popularity')).toEqual([3, 1, 5]);
    expect(c.userKnown).toBe(true);
  });

  it('an unknown user gets the popular items, scored on the fused scale (counts kept as source scores), flagged popularity and unknown', async () => {
    const c = await (await Retriever.create(artifacts)).retrieve('nobody', 10, new Set());
    expect(c.itemIds).toEqual(['10', '20', '30']);
    // A single list is scored as fusing it alone would: 1 / (rrf_k + rank) with rrf_k = 10.
    expect(Array.from(c.scores)).toEqual([1 / 11, 1 / 12, 1 / 13].map(Math.fround));
    expect(scoresOf(c, 'popularity')).toEqual([5, 3, 1]);
    expect(c.sources).toEqual(['popularity', 'popularity', 'popularity']);
    expect(c.userKnown).toBe(false);
  });

  it('honours exclusions by item id and cuts to n; ids the artifact does not know are ignored', async () => {
    const r = await Retriever.create(artifacts);
    expect((await r.retrieve('u1', 10, new Set(['20', 'no-such-item']))).itemIds).toEqual(['30', '10']);
    expect((await r.retrieve('u1', 1, new Set())).itemIds).toEqual(['20']);
    expect((await r.retrieve('nobody', 2, new Set(['10']))).itemIds).toEqual(['20', '30']);
  });

  it('recent items feed the covisitation source (unknown recent ids ignored)', async () => {
    const r = await Retriever.create(artifacts);
    const c = await r.retrieve('nobody', 10, new Set(), ['no-such-item', '10']);
    const covisitation = scoresOf(c, 'covisitation');
    expect(covisitation[c.itemIds.indexOf('20')]).toBeCloseTo(0.9, 6);
    expect(covisitation[c.itemIds.indexOf('30')]).toBeCloseTo(0.1, 6);
    expect(await r.retrieve('nobody', 10, new Set(), ['no-such-item'])).toEqual(await r.retrieve('nobody', 10, new Set()));
  });

  it('is exactly the merged retrieval of @recsys/core on the artifact rows (the code npm run evaluate runs)', async () => {
    const merged = await MergedRetriever.create({
      nItems: 3,
      dim: 2,
      itemEmbeddings: artifacts.itemEmbeddings,
      itemPopularity: artifacts.itemPopularity,
      neighbors: artifacts.itemNeighbors!,
      config: artifacts.manifest.retrieval!,
    });
    const direct = await merged.retrieve({ userEmbedding: artifacts.userEmbeddings.subarray(2, 4), recentItems: [1], exclude: new Set([2]), n: 10 });
    const c = await (await Retriever.create(artifacts)).retrieve('u2', 10, new Set(['30']), ['20']);
    expect(c.itemIds).toEqual(Array.from(direct.items, (row) => artifacts.itemIds[row]));
    expect(Array.from(c.scores)).toEqual(Array.from(direct.scores));
    expect(c.sources).toEqual(direct.primary);
    expect(c.sourceScores.map((s) => s.source).sort()).toEqual(Object.keys(direct.sourceScores).sort());
  });

  it('reports the artifact version', async () => {
    expect((await Retriever.create(artifacts)).version).toBe('v1');
  });
});

describe('Retriever with an HNSW index in the artifact (RETRIEVAL_INDEX)', () => {
  let withIndex: LoadedArtifacts;
  beforeAll(() => {
    // v2: the fixture plus its HNSW graphs, built as `npm run artifacts -- --index hnsw` builds them.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-cg-hnsw-'));
    const params = { ...DEFAULT_HNSW_PARAMS, buckets: 2 };
    const buckets = HnswIndex.build(artifacts.itemEmbeddings, 2, params, { eligible: eligibleItems(artifacts.itemPopularity) }).save(path.join(tmp, 'item_index'));
    const files: Record<string, Buffer> = { ...fixtureFiles() };
    for (const b of buckets) files[b.file] = fs.readFileSync(path.join(tmp, b.file));
    fs.rmSync(tmp, { recursive: true, force: true });
    writeVersionDir(path.join(root, 'v2'), files, { retrieval: { ...DEFAULT_RETRIEVAL_CONFIG, index: { kind: 'hnsw', params, files: buckets } } });
    withIndex = loadArtifacts(path.join(root, 'v2'), ['itemEmbeddings', 'userEmbeddings', 'itemPopularity']);
  });

  it('auto serves the artifact\'s HNSW index, exact ignores it, and both answer alike on a tiny catalogue', async () => {
    const auto = await Retriever.create(withIndex);
    const exact = await Retriever.create(withIndex, { choice: 'exact' });
    expect(auto.indexKind).toBe('hnsw');
    expect(exact.indexKind).toBe('exact');
    expect((await Retriever.create(artifacts)).indexKind).toBe('exact');
    for (const [user, exclude] of [['u1', []], ['u2', ['20']], ['nobody', []]] as const) {
      const a = await auto.retrieve(user, 10, new Set(exclude));
      const e = await exact.retrieve(user, 10, new Set(exclude));
      expect(a.itemIds).toEqual(e.itemIds);
      expect(scoresOf(a, 'embedding')).toEqual(scoresOf(e, 'embedding'));
    }
    expect(await (await Retriever.create(withIndex, { choice: 'hnsw', efSearch: 8 })).retrieve('u1', 2, new Set(['20']))).toMatchObject({ itemIds: ['30', '10'] });
  });

  it('hnsw on an artifact without an index, or with a corrupt graph file, fails naming what is wrong', async () => {
    await expect(Retriever.create(artifacts, { choice: 'hnsw' })).rejects.toThrow(/has none; build one with `npm run artifacts -- \.\.\. --index hnsw`/);
    const graph = path.join(root, 'v2', 'item_index.0.usearch');
    const good = fs.readFileSync(graph);
    const bad = Buffer.from(good);
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0xff;
    fs.writeFileSync(graph, bad);
    try {
      await expect(Retriever.create(withIndex)).rejects.toThrow(`${graph}: file is corrupt: sha256`);
    } finally {
      fs.writeFileSync(graph, good);
    }
  });
});
