/**
 * What the load generator drives: the mesh over gRPC (a gateway client on one reused
 * channel) or the in-process pipeline. Both answer the reference check the same way.
 */
import * as grpc from '@grpc/grpc-js';
import { callUnary, createClient } from '@recsys/grpc-kit';
import { CandidateGeneratorServiceClient, GatewayServiceClient } from '@recsys/proto';
import type { RecommendCall } from './closed-loop';
import { httpRecommend } from './http-target';
import { InProcessStages } from './in-process';
import type { ObservedAnswer } from './reference';

/** How a load worker reaches the system under test. */
export type TargetSpec =
  | { mode: 'mesh'; gateway: string; candidateGenerator: string }
  /** The mesh through the gateway's HTTP/JSON API (Recommend as POST /v1/recommendations). */
  | { mode: 'http'; gatewayHttp: string; candidateGenerator: string }
  | { mode: 'inprocess'; artifactsDir: string; redisUrl: string };

/** A connected target. */
export interface Target {
  recommend: RecommendCall;
  /** Retrieval candidates and final items of `userId`, for the reference check. */
  observe(userId: string, k: number, numCandidates: number): Promise<ObservedAnswer>;
  close(): Promise<void>;
}

/** Per-request deadline of the load generator: generous, the gateway applies its own budget. */
const CALL_TIMEOUT_MS = 10_000;

/** Attempts of a reference request whose answer came back degraded (a stage out of its time on a busy machine). */
const REFERENCE_ATTEMPTS = 5;

/**
 * A reference request, asked again (up to {@link REFERENCE_ATTEMPTS} times, 200 ms apart)
 * while its answer is degraded: the first requests of a cold mesh on a busy machine can run
 * out of a stage's share of the deadline. The last answer is returned as it is; a degraded
 * one then fails the reference check, naming the stage.
 */
async function undegraded<R extends { degradedStages: { reason: string }[] }>(ask: () => Promise<R>): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    const r = await ask();
    if (r.degradedStages.length === 0 || attempt >= REFERENCE_ATTEMPTS) return r;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Connects to the target described by `spec`; `k` is the Recommend k of the load. */
export async function openTarget(spec: TargetSpec, k: number): Promise<Target> {
  if (spec.mode === 'inprocess') {
    const stages = await InProcessStages.create(spec.artifactsDir, spec.redisUrl);
    return {
      recommend: stages.recommendCall(k),
      async observe(userId, kk, numCandidates) {
        const call = { deadline: Date.now() + CALL_TIMEOUT_MS };
        const c = await stages.candidates({ userId, numCandidates, excludeItemIds: [], recentItemIds: [], packedFeatures: true }, call);
        const r = await undegraded(() => stages.recommendCall(kk)(userId, false));
        return { candidates: c.candidates?.itemIds ?? [], items: r.items, degraded: r.degradedStages.map((d) => d.reason) };
      },
      close: () => stages.close(),
    };
  }
  const cg = createClient(CandidateGeneratorServiceClient, spec.candidateGenerator);
  let recommendOn: (k: number) => RecommendCall;
  let closeGateway: () => Promise<void>;
  if (spec.mode === 'http') {
    const h = httpRecommend(spec.gatewayHttp);
    recommendOn = h.recommendOn;
    closeGateway = h.close;
  } else {
    const gateway = createClient(GatewayServiceClient, spec.gateway);
    recommendOn = (kk) => (userId, debug) =>
      callUnary(gateway.recommend.bind(gateway), { userId, k: kk, excludeItemIds: [], debug }, { deadline: Date.now() + CALL_TIMEOUT_MS });
    closeGateway = async () => gateway.close();
  }
  return {
    recommend: recommendOn(k),
    async observe(userId, kk, numCandidates) {
      const c = await callUnary(
        cg.generateCandidates.bind(cg),
        { userId, numCandidates, excludeItemIds: [], recentItemIds: [], packedFeatures: false },
        { deadline: Date.now() + CALL_TIMEOUT_MS, metadata: new grpc.Metadata() },
      );
      const r = await undegraded(() => recommendOn(kk)(userId, false));
      return { candidates: c.candidates?.itemIds ?? [], items: r.items, degraded: r.degradedStages.map((d) => d.reason) };
    },
    async close() {
      await closeGateway();
      cg.close();
    },
  };
}
