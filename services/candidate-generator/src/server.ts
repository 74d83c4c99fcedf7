import { InvalidArgumentError, UnavailableError, checkId, checkIdList } from '@recsys/core';
import type { AsyncHandlers } from '@recsys/grpc-kit';
import { CandidateGeneratorServiceService, GenerateCandidatesRequest, WIRE_RETRIEVAL_SOURCE, encodeCandidateFeatures } from '@recsys/proto';
import type { Retriever } from './retrieval';

export interface CandidateGeneratorLimits {
  defaultNumCandidates: number;
  maxNumCandidates: number;
}

/** Checks a request; throws InvalidArgumentError naming the first bad field. */
function validateGenerateCandidates(req: GenerateCandidatesRequest, limits: CandidateGeneratorLimits): void {
  checkId('user_id', req.userId);
  if (req.numCandidates < 0 || req.numCandidates > limits.maxNumCandidates) {
    throw new InvalidArgumentError('num_candidates', `must be between 0 and ${limits.maxNumCandidates}, got ${req.numCandidates}`);
  }
  checkIdList('exclude_item_ids', req.excludeItemIds, 100_000);
  checkIdList('recent_item_ids', req.recentItemIds, 1000);
}

/** The gRPC handlers; `current()` returns the retriever of the live artifact version. */
export function candidateGeneratorHandlers(
  current: () => Retriever | undefined,
  limits: CandidateGeneratorLimits,
): AsyncHandlers<typeof CandidateGeneratorServiceService> {
  return {
    async generateCandidates(req) {
      validateGenerateCandidates(req, limits);
      const retriever = current();
      if (!retriever) throw new UnavailableError('no artifact loaded');
      // 0 asks for the default: DEFAULT_NUM_CANDIDATES when set, else the artifact's serving.num_candidates.
      const n = Math.min(req.numCandidates || limits.defaultNumCandidates || retriever.serving.num_candidates, limits.maxNumCandidates);
      const c = await retriever.retrieve(req.userId, n, new Set(req.excludeItemIds), req.recentItemIds);
      return {
        candidates: {
          itemIds: c.itemIds,
          scores: Array.from(c.scores),
          sources: c.sources.map((s) => WIRE_RETRIEVAL_SOURCE[s]),
          sourceScores: c.sourceScores.map((s) => ({ source: WIRE_RETRIEVAL_SOURCE[s.source], scores: Array.from(s.scores) })),
          ...encodeCandidateFeatures(c.itemIds.length, c.features, req.packedFeatures),
        },
        userKnown: c.userKnown,
        artifactVersion: retriever.version,
      };
    },
  };
}
