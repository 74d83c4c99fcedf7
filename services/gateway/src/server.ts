import { randomUUID } from 'node:crypto';
import { traceIdFromMetadata, type AsyncHandlers, type ServiceMetrics } from '@recsys/grpc-kit';
import { GatewayServiceService, Stage, retrievalSourceName, type RecommendResponse } from '@recsys/proto';
import { StageObservation } from './observe';
import { recommend, type RecommendInput } from './pipeline';
import type { Stages } from './stages';
import type { PopularCache } from './popular-cache';
import type { RequestLog, RequestLogRecord, ShadowRecord } from './request-log';
import type { RolloutMetrics } from './rollout';
import type { ShadowScorer } from './shadow';
import { RequestLimits, validateRecommend } from './validate';

export interface GatewayOptions extends RequestLimits {
  requestTimeoutMs: number;
  numCandidates: number;
  /** Fallback list for when the candidate generator is down. */
  popular?: PopularCache;
  /** The request log and the share of calls it records (absent or 0: off). */
  requestLog?: { log: RequestLog; sample: number };
  /** Shadow scoring (absent: off). */
  shadow?: ShadowScorer;
  /** Variant, request-log and shadow metrics (absent in unit tests). */
  rollout?: RolloutMetrics;
}

/** The record of one served call. */
export function toRecord(
  res: RecommendResponse,
  input: Pick<RecommendInput, 'userId' | 'k' | 'excludeItemIds'>,
  meta: { requestId: string; traceId: string; time: number; timingsMs: Record<string, number> },
  shadow?: ShadowRecord,
): RequestLogRecord {
  return {
    format: 1,
    request_id: meta.requestId,
    trace_id: meta.traceId,
    time: new Date(meta.time).toISOString(),
    user_id: input.userId,
    k: input.k,
    exclude_item_ids: [...input.excludeItemIds],
    items: res.items.map((i) => ({ item_id: i.itemId, score: i.score, source: retrievalSourceName(i.source) ?? String(i.source) })),
    model_version: res.modelVersion,
    artifact_version: res.artifactVersion,
    variant: res.variant,
    degraded_stages: res.degradedStages.map((d) => ({ stage: Stage[d.stage] ?? String(d.stage), reason: d.reason })),
    timings_ms: meta.timingsMs,
    ...(shadow ? { shadow } : {}),
  };
}

/** The gateway's handlers: validate, then run the chain under the caller's deadline. */
export function gatewayHandlers(stages: Stages, opts: GatewayOptions, metrics: ServiceMetrics): AsyncHandlers<typeof GatewayServiceService> {
  const { requestLog, shadow, rollout } = opts;
  const sample = requestLog?.sample ?? 0;
  return {
    async recommend(req, ctx) {
      const k = validateRecommend(req, opts);
      const deadline = Math.min(ctx.deadline, Date.now() + opts.requestTimeoutMs);
      const input: RecommendInput = {
        userId: req.userId,
        k,
        excludeItemIds: req.excludeItemIds,
        debug: req.debug,
        deadline,
        signal: ctx.signal,
        numCandidates: opts.numCandidates,
        popular: opts.popular,
      };
      const onFallback = (stage: Stage, reason: string, err: unknown): void => {
        metrics.fallbacks.inc({ stage: Stage[stage] ?? String(stage), reason: reason.split(':')[0] ?? reason });
        ctx.log.warn({ stage: Stage[stage], reason, err: (err as Error)?.message }, 'stage degraded');
      };
      const logged = sample > 0 && (sample >= 1 || Math.random() < sample);
      // Nothing observes this call (no tracing, not logged, no shadow): the plain chain.
      if (!ctx.span && !logged && !shadow) {
        const res = await recommend(input, stages, onFallback);
        if (res.variant) rollout?.served.inc({ variant: res.variant });
        return res;
      }
      const time = Date.now();
      const t0 = performance.now();
      const obs = new StageObservation();
      const res = await recommend(input, obs.wrap(stages), onFallback);
      const timingsMs: Record<string, number> = { ...obs.timingsMs, total: Math.round((performance.now() - t0) * 1000) / 1000 };
      if (res.variant) rollout?.served.inc({ variant: res.variant });
      const traceId = ctx.span ? ctx.span.spanContext().traceId : logged ? traceIdFromMetadata(ctx.metadata) : '';
      if (ctx.span) {
        ctx.span.setAttributes({
          'recsys.user_id': req.userId,
          'recsys.k': k,
          'recsys.items': res.items.length,
          'recsys.model_version': res.modelVersion,
          'recsys.artifact_version': res.artifactVersion,
          'recsys.variant': res.variant,
          'recsys.degraded': res.degradedStages.length > 0,
          'recsys.degraded_stages': res.degradedStages.map((d) => Stage[d.stage] ?? String(d.stage)),
        });
        if (req.debug) res.traceId = traceId;
      }
      const requestId = logged ? randomUUID() : '';
      res.requestId = requestId;
      const shadowVariant = obs.rankResponse?.shadowVariant;
      const rankRequest = obs.rankRequest;
      if (shadow && shadowVariant && rankRequest) {
        const exclude = new Set(req.excludeItemIds);
        for (const id of obs.userContext?.seenItemIds ?? []) exclude.add(id);
        const items = res.items;
        // After the reply is written (the kit answers in a microtask; this runs later).
        setImmediate(() => {
          void shadow.score(shadowVariant, rankRequest, items, exclude).then((sh) => {
            if (logged) requestLog?.log.offer(toRecord(res, input, { requestId, traceId, time, timingsMs }, sh));
          });
        });
      } else if (logged) {
        requestLog?.log.offer(toRecord(res, input, { requestId, traceId, time, timingsMs }));
      }
      return res;
    },
  };
}
