import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadArtifacts, ndcgAtK, recallAtK, type HoldoutFile } from '@recsys/core';
import { ArtifactError } from '@recsys/core';
import { buildArtifacts, evaluateArtifact, evaluateOnline, formatEvaluation, rankPositions, readHoldout } from '@recsys/offline';

jest.setTimeout(60_000);

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-evaluation-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('evaluateArtifact', () => {
  it('measures each source, the merge and the two-stage result on the held-out part', async () => {
    const s = await buildArtifacts({
      seed: 3,
      outRoot: tmp,
      synthetic: { users: 150, items: 250, interactions: 4000 },
      als: { factors: 8, iterations: 4 },
      ranker: { candidates: 100, mlp: { epochs: 2, minSteps: 200 } },
    });
    const a = loadArtifacts(s.dir);
    const holdout = JSON.parse(fs.readFileSync(path.join(s.dir, 'holdout.json'), 'utf8')) as HoldoutFile;
    const width = a.manifest.ranker.features.length;
    const col = a.manifest.ranker.features.findIndex((f) => f.name === 'retrieval_rank');
    // A scorer that prefers later retrieval ranks: the exact reverse of the merged order.
    const reverse = async (x: Float32Array, rows: number): Promise<Float32Array> => Float32Array.from({ length: rows }, (_, j) => x[j * width + col]!);
    const report = await evaluateArtifact(a, holdout, reverse);
    expect(report.users).toBe(Object.keys(holdout.targets).length);
    expect(report.catalogue).toBe(a.itemIds.length);
    const r = report.results;
    expect(Object.keys(r)).toEqual(['popularity', 'als', 'itemknn', 'merged_retrieval', 'two_stage']);
    // Re-ranking keeps the candidate set (same Recall@300) but here reverses the order.
    expect(r.two_stage!['recall@300']).toBeCloseTo(r.merged_retrieval!['recall@300'], 12);
    expect(r.two_stage!['ndcg@10']).toBeLessThan(r.merged_retrieval!['ndcg@10']);
    expect(r.als!['recall@300']).toBeGreaterThan(r.popularity!['recall@300'] * 0.8);

    // Popularity, recomputed by hand from the artifact: most interacted first, history excluded.
    const order = Array.from(a.itemPopularity.keys()).filter((i) => a.itemPopularity[i]! > 0).sort((x, y) => a.itemPopularity[y]! - a.itemPopularity[x]! || x - y);
    let recall = 0;
    let ndcg = 0;
    for (const [user, items] of Object.entries(holdout.targets)) {
      const seen = new Set((a.userHistory.get(user) ?? []).map((id) => a.itemIndex.get(id)!));
      const ranked = order.filter((i) => !seen.has(i));
      const t = new Set(items.map((id) => a.itemIndex.get(id)!));
      recall += recallAtK(ranked, t, 10);
      ndcg += ndcgAtK(ranked, t, 10);
    }
    expect(r.popularity!['recall@10']).toBeCloseTo(recall / report.users, 12);
    expect(r.popularity!['ndcg@10']).toBeCloseTo(ndcg / report.users, 12);
    expect(formatEvaluation(r)).toMatch(/^\| merged_retrieval \| 0\.\d{4}/m);
  });

  it('orders like the ranker service: score descending, ties to the lower position, NaN last', () => {
    expect(rankPositions([0.1, NaN, 0.5, 0.5])).toEqual([2, 3, 0, 1]);
  });
});

describe('readHoldout and evaluateOnline', () => {
  const build = (history: 'train' | 'all') =>
    buildArtifacts({
      seed: 5,
      outRoot: path.join(tmp, history),
      history,
      synthetic: { users: 60, items: 120, interactions: 1500 },
      als: { factors: 4, iterations: 2 },
      ranker: { candidates: 50, mlp: { epochs: 1, minSteps: 50 } },
    });

  it('reads the holdout of a train artifact and refuses an artifact that has none, naming it', async () => {
    const a = loadArtifacts((await build('train')).dir);
    const holdout = readHoldout(a);
    expect(holdout.part).toBe('test');
    expect(Object.keys(holdout.targets).length).toBeGreaterThan(0);
    const all = loadArtifacts((await build('all')).dir);
    expect(() => readHoldout(all)).toThrow(ArtifactError);
    expect(() => readHoldout(all)).toThrow(/is not an evaluation artifact \(history all, no holdout file\)/);
  });

  it('measures what the mesh answers: the offline lists give the offline two-stage metrics; a degraded answer stops it', async () => {
    const a = loadArtifacts((await build('train')).dir);
    const holdout = readHoldout(a);
    const width = a.manifest.ranker.features.length;
    const col = a.manifest.ranker.features.findIndex((f) => f.name === 'retrieval_rank');
    const lists = new Map<string, string[]>();
    const byRank = async (x: Float32Array, rows: number): Promise<Float32Array> => Float32Array.from({ length: rows }, (_, j) => -x[j * width + col]!);
    const offline = await evaluateArtifact(a, holdout, byRank, undefined, (u, top) => lists.set(u, top));
    let calls = 0;
    const online = await evaluateOnline(a, holdout, async (u) => (calls++, { itemIds: lists.get(u) ?? [], version: 'v/v', degraded: [] }), 3);
    expect(calls).toBe(Object.keys(holdout.targets).length);
    expect([...online.versions]).toEqual(['v/v']);
    for (const k of ['recall@10', 'ndcg@10', 'coverage@10'] as const) expect(online.metrics[k]).toBeCloseTo(offline.results.two_stage![k], 12);
    const first = Object.keys(holdout.targets)[0]!;
    await expect(
      evaluateOnline(a, holdout, async (u) => ({ itemIds: [], version: 'v/v', degraded: u === first ? ['ranker unavailable'] : [] }), 1),
    ).rejects.toThrow(`user ${first}: the mesh answered degraded (ranker unavailable); online metrics would not be comparable`);
  });
});
