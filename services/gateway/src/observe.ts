import type { Span } from '@opentelemetry/api';
import { withSpan } from '@recsys/grpc-kit';
import type { GetUserContextResponse, RankRequest, RankResponse } from '@recsys/proto';
import type { Stages } from './stages';

/** Stage names of the request log's `timings_ms` and of the gateway's stage spans. */
export type ObservedStage = 'user_context' | 'candidates' | 'item_features' | 'ranking';

/**
 * What one Recommend call's stages did, seen from the gateway: wall time per stage, the user
 * context (its seen items, for shadow scoring's business rules) and the rank request and
 * response (for shadow scoring). Made only for a call that is traced, logged or may be
 * shadowed; an unobserved call runs on the plain stages.
 */
export class StageObservation {
  readonly timingsMs: Partial<Record<ObservedStage, number>> = {};
  userContext: GetUserContextResponse | undefined;
  rankRequest: RankRequest | undefined;
  rankResponse: RankResponse | undefined;

  /**
   * `stages` with each call timed and, when tracing is on, run in a span `gateway.<stage>`
   * (the downstream RPC's CLIENT span is its child) carrying candidate counts, model and
   * artifact versions, the experiment variant and `recsys.degraded` when the stage failed.
   */
  wrap(stages: Stages): Stages {
    return {
      userContext: (userId, call) =>
        this.run('user_context', {}, async (span) => {
          const res = await stages.userContext(userId, call);
          this.userContext = res;
          span?.setAttributes({ 'recsys.recent_items': res.recentItemIds.length, 'recsys.seen_items': res.seenItemIds.length });
          return res;
        }),
      candidates: (req, call) =>
        this.run('candidates', { 'recsys.candidates.requested': req.numCandidates, 'recsys.excluded_items': req.excludeItemIds.length }, async (span) => {
          const res = await stages.candidates(req, call);
          span?.setAttributes({ 'recsys.candidates': res.candidates?.itemIds.length ?? 0, 'recsys.artifact_version': res.artifactVersion });
          return res;
        }),
      itemFeatures: (itemIds, call) =>
        this.run('item_features', { 'recsys.entities': itemIds.length }, async (span) => {
          const res = await stages.itemFeatures(itemIds, call);
          span?.setAttributes({ 'recsys.features': res.columns.length, 'recsys.unknown_entities': res.unknownEntityIndices.length });
          return res;
        }),
      rank: (req, call) =>
        this.run('ranking', { 'recsys.candidates': req.candidates?.itemIds.length ?? 0, 'recsys.top_k': req.topK }, async (span) => {
          this.rankRequest = req;
          const res = await stages.rank(req, call);
          this.rankResponse = res;
          span?.setAttributes({ 'recsys.model_version': res.modelVersion, 'recsys.variant': res.variant, 'recsys.ranked': res.itemIds.length });
          return res;
        }),
    };
  }

  private run<T>(stage: ObservedStage, attributes: Record<string, number | string>, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
    const t0 = performance.now();
    return withSpan(`gateway.${stage}`, attributes, async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        span?.setAttribute('recsys.degraded', true);
        throw err;
      } finally {
        this.timingsMs[stage] = Math.round((performance.now() - t0) * 1000) / 1000;
      }
    });
  }
}
