import type { FeatureBatch, GenerateCandidatesRequest, GenerateCandidatesResponse, GetUserContextResponse, RankRequest, RankResponse } from '@recsys/proto';

/** One call of a downstream stage, bounded by `deadline` and cancelled by `signal`. */
export interface StageCall {
  deadline: number;
  signal?: AbortSignal;
}

/**
 * The four downstream stages the gateway chains. The gRPC implementation (grpc-stages.ts)
 * calls the services; the in-process benchmark plugs the same modules in directly.
 */
export interface Stages {
  userContext(userId: string, call: StageCall): Promise<GetUserContextResponse>;
  candidates(req: GenerateCandidatesRequest, call: StageCall): Promise<GenerateCandidatesResponse>;
  itemFeatures(itemIds: string[], call: StageCall): Promise<FeatureBatch>;
  rank(req: RankRequest, call: StageCall): Promise<RankResponse>;
}
