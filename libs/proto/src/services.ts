/**
 * The four mesh services' definitions as the services and the gateway's stage calls use
 * them: the generated ones with shared-writer serializers ({@link sharedWriterService}).
 */
import { CandidateGeneratorServiceService, GenerateCandidatesRequest, GenerateCandidatesResponse } from './gen/recsys/v1/candidate_generator';
import {
  FeatureStoreServiceService,
  GetOnlineFeaturesRequest,
  GetOnlineFeaturesResponse,
  GetUserContextRequest,
  GetUserContextResponse,
  IngestEventsRequest,
  IngestEventsResponse,
  ListFeatureViewsRequest,
  ListFeatureViewsResponse,
} from './gen/recsys/v1/feature_store';
import { GatewayServiceService, RecommendRequest, RecommendResponse } from './gen/recsys/v1/gateway';
import { RankRequest, RankResponse, RankerServiceService } from './gen/recsys/v1/ranker';
import { sharedWriterService } from './shared-writer';

export const CandidateGeneratorService = sharedWriterService(CandidateGeneratorServiceService, {
  generateCandidates: [GenerateCandidatesRequest, GenerateCandidatesResponse],
});

export const FeatureStoreService = sharedWriterService(FeatureStoreServiceService, {
  getOnlineFeatures: [GetOnlineFeaturesRequest, GetOnlineFeaturesResponse],
  getUserContext: [GetUserContextRequest, GetUserContextResponse],
  listFeatureViews: [ListFeatureViewsRequest, ListFeatureViewsResponse],
  ingestEvents: [IngestEventsRequest, IngestEventsResponse],
});

export const RankerService = sharedWriterService(RankerServiceService, { rank: [RankRequest, RankResponse] });

export const GatewayService = sharedWriterService(GatewayServiceService, { recommend: [RecommendRequest, RecommendResponse] });
