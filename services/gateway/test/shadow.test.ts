import { ShadowScorer, compareRankings, shadowServed } from '@recsys/gateway/shadow';
import type { Stages } from '@recsys/gateway/stages';
import type { RankRequest, RankResponse } from '@recsys/proto';

describe('compareRankings', () => {
  it('identical lists: overlap 1, correlation 1; reversed: correlation -1', () => {
    expect(compareRankings(['a', 'b', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c', 'd'])).toEqual({ overlap: 1, correlation: 1 });
    expect(compareRankings(['a', 'b', 'c'], ['c', 'b', 'a'], ['c', 'b', 'a', 'd'])).toEqual({ overlap: 1, correlation: -1 });
  });

  it('overlap counts shared items of the two top-k; ρ is over the served items as the shadow orders them', () => {
    // Served a b c d; the shadow's full order d x a b c: top-4 {d, x, a, b} shares 3; served items' shadow ranks d=0 a=1 b=2 c=3.
    const r = compareRankings(['a', 'b', 'c', 'd'], ['d', 'x', 'a', 'b'], ['d', 'x', 'a', 'b', 'c']);
    expect(r.overlap).toBe(0.75);
    // positions i: a0 b1 c2 d3; shadow ranks: a1 b2 c3 d0 → d² = 1+1+1+9 = 12; ρ = 1 − 6·12/(4·15) = −0.2
    expect(r.correlation).toBeCloseTo(-0.2, 10);
  });

  it('no correlation for fewer than two items or when the shadow did not rank a served item', () => {
    expect(compareRankings(['a'], ['a'], ['a']).correlation).toBeUndefined();
    expect(compareRankings(['a', 'z'], ['a', 'b'], ['a', 'b']).correlation).toBeUndefined();
    expect(compareRankings([], [], [])).toEqual({ overlap: 1, correlation: undefined });
  });
});

describe('shadowServed', () => {
  it('applies the business rules to the shadow order: exclusions, duplicates, k', () => {
    const shadow = { candidateIndices: [3, 0, 2, 1, 4] } as RankResponse;
    expect(shadowServed(shadow, ['a', 'b', 'a', 'x', 'c'], new Set(['x']), 3)).toEqual(['a', 'b', 'c']);
  });
});

describe('ShadowScorer', () => {
  const req: RankRequest = { userId: 'u', candidates: { itemIds: ['a', 'b', 'c'], scores: [3, 2, 1], sources: [], sourceScores: [], features: [], packedFeatures: Buffer.alloc(0) }, userFeatures: undefined, itemFeatures: undefined, topK: 2, variant: '' };
  const served = [{ itemId: 'a', score: 3, source: 0 }, { itemId: 'b', score: 2, source: 0 }];

  it('scores the same candidates with the shadow variant (all of them) and skips, counted, over its in-flight limit', async () => {
    const calls: RankRequest[] = [];
    let release = (): void => {};
    const gate = new Promise<void>((r) => (release = r));
    const stages = {
      rank: async (r: RankRequest) => {
        calls.push(r);
        await gate;
        return { itemIds: [], scores: [], candidateIndices: [1, 0, 2], modelVersion: 'shadow-v', variant: r.variant, shadowVariant: '' };
      },
    } as unknown as Stages;
    const outcomes: string[] = [];
    const s = new ShadowScorer(stages, { maxInFlight: 1, skipAboveCalls: 100, timeoutMs: 1000, callsInFlight: () => 0, onOutcome: (o) => outcomes.push(o), onCompared: () => {} });
    const first = s.score('t', req, served, new Set());
    const second = await s.score('t', req, served, new Set());
    expect(second).toEqual({ variant: 't', outcome: 'skipped_load' });
    release();
    expect(await first).toMatchObject({ variant: 't', outcome: 'scored', model_version: 'shadow-v', topk_overlap: 1, rank_correlation: -1, items: ['b', 'a'] });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ variant: 't', topK: 0, candidates: req.candidates });
    expect(outcomes).toEqual(['skipped_load', 'scored']);
  });

  it('skips while the gateway is busy, and reports a failed shadow call without throwing', async () => {
    const stages = { rank: async () => Promise.reject(Object.assign(new Error('x'), { details: 'ranker down' })) } as unknown as Stages;
    let busy = 10;
    const s = new ShadowScorer(stages, { maxInFlight: 5, skipAboveCalls: 5, timeoutMs: 1000, callsInFlight: () => busy, onOutcome: () => {}, onCompared: () => {} });
    expect(await s.score('t', req, served, new Set())).toMatchObject({ outcome: 'skipped_load' });
    busy = 0;
    expect(await s.score('t', req, served, new Set())).toEqual({ variant: 't', outcome: 'failed', error: 'ranker down' });
    expect(s.running).toBe(0);
  });
});
