import { UnavailableError } from '@recsys/core';
import { CandidateSet, DegradedStage, FeatureBatch, GetUserContextResponse, RecommendResponse, RecommendedItem, Stage, StageTiming } from '@recsys/proto';
import { DeadlineBudget, STAGE_OF } from './budget';
import type { PopularCache } from './popular-cache';
import type { Stages } from './stages';

export interface RecommendInput {
  userId: string;
  k: number;
  excludeItemIds: readonly string[];
  debug: boolean;
  /** Absolute deadline of the whole request. */
  deadline: number;
  signal?: AbortSignal;
  numCandidates: number;
  /** Recent popular list used when the candidate generator fails (none: fail UNAVAILABLE). */
  popular?: PopularCache;
}

/** Called for every fallback taken (for metrics and logs). */
export type FallbackListener = (stage: Stage, reason: string, err: unknown) => void;

function describeError(err: unknown): string {
  if (err && typeof err === 'object' && 'details' in err && typeof err.details === 'string' && err.details) return err.details;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs the chain of docs/DESIGN.md for one request: user context → candidates → item
 * features → ranking → business rules. Each stage runs under its share of the deadline;
 * a stage that fails or runs out of time degrades (listed in the response) unless no
 * useful answer is left, in which case the call fails UNAVAILABLE.
 */
export async function recommend(input: RecommendInput, stages: Stages, onFallback: FallbackListener = () => {}): Promise<RecommendResponse> {
  const budget = new DeadlineBudget(input.deadline);
  const degraded: DegradedStage[] = [];
  const timings: StageTiming[] = [];
  const { signal } = input;
  // Without debug the stage runs as it is: no clock reads, no extra async frame per stage.
  const timed = <T>(stage: Stage, run: () => Promise<T>): Promise<T> => {
    if (!input.debug) return run();
    const t0 = process.hrtime.bigint();
    return run().finally(() => {
      const ns = Number(process.hrtime.bigint() - t0);
      timings.push({ stage, duration: { seconds: Math.floor(ns / 1e9), nanos: ns % 1e9 } });
    });
  };
  const degrade = (stage: Stage, what: string, err: unknown): void => {
    const reason = `${what}: ${describeError(err)}`;
    degraded.push({ stage, reason });
    onFallback(stage, reason, err);
  };

  // 1. User context: seen items to exclude, recent items, user features.
  let context: GetUserContextResponse | undefined;
  try {
    context = await timed(Stage.STAGE_USER_CONTEXT, () =>
      stages.userContext(input.userId, { deadline: budget.stageDeadline('context'), signal }),
    );
  } catch (err) {
    degrade(STAGE_OF.context, 'user context unavailable, seen items not excluded, default user features', err);
  }
  const exclude = new Set(input.excludeItemIds);
  for (const id of context?.seenItemIds ?? []) exclude.add(id);

  // 2. Candidates.
  let candidates: CandidateSet;
  let artifactVersion = '';
  try {
    const res = await timed(Stage.STAGE_CANDIDATES, () =>
      stages.candidates(
        {
          userId: input.userId,
          numCandidates: input.numCandidates,
          excludeItemIds: [...exclude],
          recentItemIds: context?.recentItemIds ?? [],
          // The gateway only passes the candidate features on to the ranker: one block, never decoded here.
          packedFeatures: true,
        },
        { deadline: budget.stageDeadline('candidates'), signal },
      ),
    );
    candidates = res.candidates ?? CandidateSet.create();
    artifactVersion = res.artifactVersion;
    input.popular?.offer(res);
  } catch (err) {
    const cached = input.popular?.get();
    if (!cached) {
      onFallback(Stage.STAGE_CANDIDATES, 'candidate generator failed, no fallback', err);
      throw new UnavailableError(`no recommendations: candidate generator failed (${describeError(err)}) and no cached popular list exists yet`, {
        cause: err,
      });
    }
    degrade(STAGE_OF.candidates, 'candidate generator unavailable, cached popular items used', err);
    // Exclusions and seen items are applied by the business rules below.
    candidates = cached.candidates;
    artifactVersion = cached.artifactVersion;
  }

  // 3. Item features of the candidates.
  let itemFeatures: FeatureBatch | undefined;
  if (candidates.itemIds.length > 0) {
    try {
      itemFeatures = await timed(Stage.STAGE_ITEM_FEATURES, () =>
        stages.itemFeatures(candidates.itemIds, { deadline: budget.stageDeadline('features'), signal }),
      );
    } catch (err) {
      degrade(STAGE_OF.features, 'item features unavailable, declared defaults used', err);
    }
  }

  // 4. Ranking; on failure keep the retrieval order. The ranker returns only as many items
  // as the business rules can use: k plus the candidates they will drop (excluded or repeated).
  let dropped = 0;
  const seenIds = new Set<string>();
  for (const id of candidates.itemIds) {
    if (exclude.has(id) || seenIds.has(id)) dropped++;
    seenIds.add(id);
  }
  const topK = input.k + dropped >= candidates.itemIds.length ? 0 : input.k + dropped;
  let order: { index: number; score: number }[];
  let modelVersion = '';
  let variant = '';
  try {
    const ranked = await timed(Stage.STAGE_RANKING, () =>
      stages.rank(
        {
          userId: input.userId,
          candidates,
          userFeatures: context?.userFeatures,
          itemFeatures,
          topK,
          variant: '',
        },
        { deadline: budget.stageDeadline('ranking'), signal },
      ),
    );
    order = ranked.candidateIndices.map((index, i) => ({ index, score: ranked.scores[i] as number }));
    modelVersion = ranked.modelVersion;
    variant = ranked.variant;
  } catch (err) {
    degrade(STAGE_OF.ranking, 'ranker unavailable, retrieval order used', err);
    order = candidates.itemIds.map((_, index) => ({ index, score: candidates.scores[index] as number }));
  }

  // 5. Business rules: exclusions, deduplication, top-k.
  const t0 = process.hrtime.bigint();
  const items: RecommendedItem[] = [];
  const taken = new Set<string>();
  for (const { index, score } of order) {
    if (items.length >= input.k) break;
    const itemId = candidates.itemIds[index];
    if (itemId === undefined || exclude.has(itemId) || taken.has(itemId)) continue;
    taken.add(itemId);
    items.push({ itemId, score, source: candidates.sources[index] ?? 0 });
  }
  if (input.debug) {
    const ns = Number(process.hrtime.bigint() - t0);
    timings.push({ stage: Stage.STAGE_BUSINESS_RULES, duration: { seconds: 0, nanos: ns } });
  }
  return { items, modelVersion, degradedStages: degraded, timings, artifactVersion, traceId: '', variant, requestId: '' };
}
