import type { AsyncHandlers, ServiceMetrics } from '@recsys/grpc-kit';
import { GatewayServiceService, Stage } from '@recsys/proto';
import { recommend } from './pipeline';
import type { Stages } from './stages';
import type { PopularCache } from './popular-cache';
import { RequestLimits, validateRecommend } from './validate';

export interface GatewayOptions extends RequestLimits {
  requestTimeoutMs: number;
  numCandidates: number;
  /** Fallback list for when the candidate generator is down. */
  popular?: PopularCache;
}

/** The gateway's handlers: validate, then run the chain under the caller's deadline. */
export function gatewayHandlers(stages: Stages, opts: GatewayOptions, metrics: ServiceMetrics): AsyncHandlers<typeof GatewayServiceService> {
  return {
    recommend(req, ctx) {
      const k = validateRecommend(req, opts);
      const deadline = Math.min(ctx.deadline, Date.now() + opts.requestTimeoutMs);
      return recommend(
        {
          userId: req.userId,
          k,
          excludeItemIds: req.excludeItemIds,
          debug: req.debug,
          deadline,
          signal: ctx.signal,
          numCandidates: opts.numCandidates,
          popular: opts.popular,
        },
        stages,
        (stage, reason, err) => {
          metrics.fallbacks.inc({ stage: Stage[stage] ?? String(stage), reason: reason.split(':')[0] ?? reason });
          ctx.log.warn({ stage: Stage[stage], reason, err: (err as Error)?.message }, 'stage degraded');
        },
      );
    },
  };
}
