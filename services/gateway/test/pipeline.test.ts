import { DeadlineBudget } from '@recsys/gateway/budget';
import { recommend } from '@recsys/gateway/pipeline';
import type { Stages } from '@recsys/gateway/stages';
import { validateRecommend } from '@recsys/gateway/validate';
import { POPULAR_PROBE_USER, PopularCache } from '@recsys/gateway/popular-cache';
import { RetrievalSource, Stage } from '@recsys/proto';

const limits = { defaultK: 10, maxK: 100, maxExcludeItems: 3 };
const req = (over: object = {}) => ({ userId: 'u1', k: 0, excludeItemIds: [] as string[], debug: false, ...over });

describe('validateRecommend', () => {
  it('returns the default k for 0 and the asked k otherwise', () => {
    expect(validateRecommend(req(), limits)).toBe(10);
    expect(validateRecommend(req({ k: 7 }), limits)).toBe(7);
  });

  it.each([
    [{ userId: '' }, /^user_id: must not be empty/],
    [{ userId: 'x'.repeat(129) }, /^user_id: must be at most 128 bytes/],
    [{ userId: 'é'.repeat(65) }, /^user_id: must be at most 128 bytes, got 130/],
    [{ k: -1 }, /^k: must be between 0 and 100/],
    [{ k: 101 }, /^k: must be between 0 and 100/],
    [{ excludeItemIds: ['a', 'b', 'c', 'd'] }, /^exclude_item_ids: at most 3 entries/],
    [{ excludeItemIds: ['a', ''] }, /^exclude_item_ids\[1\]: must not be empty/],
    [{ excludeItemIds: ['y'.repeat(200)] }, /^exclude_item_ids\[0\]: must be at most 128 bytes/],
  ])('rejects %o with INVALID_ARGUMENT naming the field', (over, message) => {
    let err: unknown;
    try {
      validateRecommend(req(over), limits);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((err as Error).message).toMatch(message);
  });
});

describe('DeadlineBudget', () => {
  it('gives each stage its share of the time left, carrying unused time forward', () => {
    let now = 0;
    const b = new DeadlineBudget(1000, () => now);
    expect(b.stageDeadline('context')).toBeCloseTo(150);
    now = 10; // context was fast: its unused time is shared by the rest
    expect(b.stageDeadline('candidates')).toBeCloseTo(10 + (990 * 0.3) / 0.85);
    now = 900;
    expect(b.stageDeadline('ranking')).toBe(1000);
    now = 1200;
    expect(b.stageDeadline('features')).toBe(1200);
  });
});

function fakeStages(over: Partial<Stages> = {}): Stages {
  return {
    userContext: async () => ({
      recentItemIds: ['seen1'],
      seenItemIds: ['seen1'],
      userFeatures: { featureView: 'user', entityCount: 1, columns: [], unknownEntityIndices: [], packedValues: Buffer.alloc(0) },
      userKnown: true,
      snapshotVersion: 's1',
      realtime: undefined,
    }),
    candidates: async (r) => {
      const ids = ['a', 'b', 'c', 'd', 'seen1'].filter((id) => !r.excludeItemIds.includes(id));
      return {
        candidates: { itemIds: ids, scores: ids.map((_, i) => 10 - i), sources: ids.map(() => RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING), sourceScores: [], features: [], packedFeatures: Buffer.alloc(0) },
        userKnown: true,
        artifactVersion: 'art1',
      };
    },
    itemFeatures: async (ids) => ({ featureView: 'item', entityCount: ids.length, columns: [], unknownEntityIndices: [], packedValues: Buffer.alloc(0) }),
    // The model prefers the last candidate.
    rank: async (r) => {
      const n = r.candidates?.itemIds.length ?? 0;
      const order = Array.from({ length: n }, (_, i) => n - 1 - i);
      return { itemIds: order.map((i) => r.candidates!.itemIds[i]!), scores: order.map((i) => i), candidateIndices: order, modelVersion: 'm1', variant: '', shadowVariant: '' };
    },
    ...over,
  };
}

const input = (over: object = {}) => ({ userId: 'u1', k: 3, excludeItemIds: ['b'], debug: true, deadline: Date.now() + 1000, numCandidates: 300, ...over });

describe('recommend', () => {
  it('asks the ranker only for k plus the candidates the business rules will drop', async () => {
    const asked: number[] = [];
    const base = fakeStages();
    const stages: Stages = {
      ...base,
      // A candidate generator that ignores exclusions: 'b' (excluded by the request) and 'seen1' come back.
      candidates: async () => {
        const ids = ['a', 'b', 'c', 'd', 'seen1', 'e', 'f'];
        return {
          candidates: { itemIds: ids, scores: ids.map((_, i) => 10 - i), sources: ids.map(() => RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING), sourceScores: [], features: [], packedFeatures: Buffer.alloc(0) },
          userKnown: true,
          artifactVersion: 'art1',
        };
      },
      rank: async (r, c) => {
        asked.push(r.topK);
        const full = await base.rank(r, c);
        const n = r.topK || full.itemIds.length;
        return { ...full, itemIds: full.itemIds.slice(0, n), scores: full.scores.slice(0, n), candidateIndices: full.candidateIndices.slice(0, n) };
      },
    };
    const res = await recommend(input({ k: 3 }), stages);
    expect(asked).toEqual([5]);
    expect(res.items.map((i) => i.itemId)).toEqual(['f', 'e', 'd']);
    // Asking for more than can be dropped-and-kept means all of them (top_k 0).
    await recommend(input({ k: 6 }), stages);
    expect(asked).toEqual([5, 0]);
  });

  it('chains the stages, excludes seen and requested items, and keeps the ranker order', async () => {
    const res = await recommend(input(), fakeStages());
    expect(res.items.map((i) => i.itemId)).toEqual(['d', 'c', 'a']);
    expect(res.modelVersion).toBe('m1');
    expect(res.artifactVersion).toBe('art1');
    expect(res.degradedStages).toEqual([]);
    expect(res.timings.map((t) => t.stage)).toEqual([
      Stage.STAGE_USER_CONTEXT,
      Stage.STAGE_CANDIDATES,
      Stage.STAGE_ITEM_FEATURES,
      Stage.STAGE_RANKING,
      Stage.STAGE_BUSINESS_RULES,
    ]);
  });

  it('falls back to retrieval order when the ranker fails, and says so', async () => {
    const fallbacks: Stage[] = [];
    const res = await recommend(
      input(),
      fakeStages({ rank: async () => Promise.reject(Object.assign(new Error('down'), { code: 14, details: 'connection refused' })) }),
      (stage) => fallbacks.push(stage),
    );
    expect(res.items.map((i) => i.itemId)).toEqual(['a', 'c', 'd']);
    expect(res.items.map((i) => i.score)).toEqual([10, 9, 8]);
    expect(res.degradedStages).toEqual([{ stage: Stage.STAGE_RANKING, reason: 'ranker unavailable, retrieval order used: connection refused' }]);
    expect(fallbacks).toEqual([Stage.STAGE_RANKING]);
  });

  it('degrades user context and item features without failing', async () => {
    const res = await recommend(
      input({ debug: false }),
      fakeStages({ userContext: async () => Promise.reject(new Error('ctx down')), itemFeatures: async () => Promise.reject(new Error('fs down')) }),
    );
    expect(res.degradedStages.map((d) => d.stage)).toEqual([Stage.STAGE_USER_CONTEXT, Stage.STAGE_ITEM_FEATURES]);
    expect(res.items).toHaveLength(3);
    expect(res.timings).toEqual([]);
  });

  it('fails UNAVAILABLE when no candidates can be had', async () => {
    await expect(recommend(input(), fakeStages({ candidates: async () => Promise.reject(new Error('cg down')) }))).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining('candidate generator failed (cg down)'),
    });
  });

  it('passes each stage a deadline inside the request deadline', async () => {
    const deadline = Date.now() + 400;
    const seen: number[] = [];
    const base = fakeStages();
    await recommend(input({ deadline }), {
      userContext: (u, c) => (seen.push(c.deadline), base.userContext(u, c)),
      candidates: (r, c) => (seen.push(c.deadline), base.candidates(r, c)),
      itemFeatures: (r, c) => (seen.push(c.deadline), base.itemFeatures(r, c)),
      rank: (r, c) => (seen.push(c.deadline), base.rank(r, c)),
    });
    expect(seen).toHaveLength(4);
    for (const d of seen) expect(d).toBeLessThanOrEqual(deadline);
    expect(seen[0]).toBeLessThan(deadline - 200);
    expect(seen[3]).toBe(deadline);
  });
});

describe('popular fallback', () => {
  const popularAnswer = (ids: string[]) => ({
    candidates: { itemIds: ids, scores: ids.map((_, i) => 100 - i), sources: ids.map(() => RetrievalSource.RETRIEVAL_SOURCE_POPULARITY), sourceScores: [], features: [], packedFeatures: Buffer.alloc(0) },
    userKnown: false,
    artifactVersion: 'art-pop',
  });

  it('caches only purely popular answers', () => {
    const cache = new PopularCache(() => 42);
    expect(cache.offer({ candidates: { itemIds: ['a'], scores: [1], sources: [RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING], sourceScores: [], features: [], packedFeatures: Buffer.alloc(0) }, userKnown: true, artifactVersion: 'x' })).toBe(false);
    expect(cache.get()).toBeUndefined();
    expect(cache.offer(popularAnswer([]))).toBe(false);
    expect(cache.offer(popularAnswer(['p1', 'p2']))).toBe(true);
    expect(cache.get()).toMatchObject({ artifactVersion: 'art-pop', fetchedAt: 42, candidates: { itemIds: ['p1', 'p2'] } });
  });

  it('refresh asks for the cold-start list under the probe user', async () => {
    const cache = new PopularCache();
    const asked: string[] = [];
    await cache.refresh({ candidates: async (r) => (asked.push(r.userId), popularAnswer(['p1'])) }, 50, { deadline: Date.now() + 1000 });
    expect(asked).toEqual([POPULAR_PROBE_USER]);
    expect(cache.get()?.candidates.itemIds).toEqual(['p1']);
  });

  it('serves the cached popular list, flagged, when the candidate generator fails; exclusions still apply', async () => {
    const popular = new PopularCache();
    popular.offer(popularAnswer(['p1', 'b', 'p2', 'seen1', 'p3', 'p4']));
    const fallbacks: Stage[] = [];
    const res = await recommend(
      input({ popular, debug: false }),
      fakeStages({
        candidates: async () => Promise.reject(Object.assign(new Error('down'), { code: 14, details: 'connection refused' })),
        // Keep the popularity order so the test sees exactly what the cache held.
        rank: async () => Promise.reject(new Error('ranker down too')),
      }),
      (stage) => fallbacks.push(stage),
    );
    expect(res.items.map((i) => i.itemId)).toEqual(['p1', 'p2', 'p3']);
    expect(res.items.every((i) => i.source === RetrievalSource.RETRIEVAL_SOURCE_POPULARITY)).toBe(true);
    expect(res.artifactVersion).toBe('art-pop');
    expect(res.degradedStages).toEqual([
      { stage: Stage.STAGE_CANDIDATES, reason: 'candidate generator unavailable, cached popular items used: connection refused' },
      { stage: Stage.STAGE_RANKING, reason: 'ranker unavailable, retrieval order used: ranker down too' },
    ]);
    expect(fallbacks).toEqual([Stage.STAGE_CANDIDATES, Stage.STAGE_RANKING]);
  });

  it('fills the cache from successful cold-start answers on the request path', async () => {
    const popular = new PopularCache();
    await recommend(input({ popular }), fakeStages({ candidates: async () => popularAnswer(['p1', 'p2']) }));
    expect(popular.get()?.candidates.itemIds).toEqual(['p1', 'p2']);
  });

  it('still fails UNAVAILABLE, saying why, when nothing was ever cached', async () => {
    await expect(
      recommend(input({ popular: new PopularCache() }), fakeStages({ candidates: async () => Promise.reject(new Error('cg down')) })),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('no cached popular list exists yet') });
  });
});
