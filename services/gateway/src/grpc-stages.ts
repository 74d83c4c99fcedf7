import type * as grpc from '@grpc/grpc-js';
import { callUnary, createClient } from '@recsys/grpc-kit';
import {
  CandidateGeneratorServiceClient,
  FeatureBatch,
  FeatureStoreServiceClient,
  RankerServiceClient,
} from '@recsys/proto';
import type { Stages } from './stages';

/** Addresses of the three downstream services. */
export interface Downstreams {
  candidateGenerator: string;
  featureStore: string;
  ranker: string;
}

/** The chain's stages as gRPC calls over long-lived channels. */
export class GrpcStages implements Stages {
  readonly candidateGenerator: CandidateGeneratorServiceClient;
  readonly featureStore: FeatureStoreServiceClient;
  readonly ranker: RankerServiceClient;

  constructor(addrs: Downstreams, opts: { credentials?: grpc.ChannelCredentials; maxMessageBytes?: number } = {}) {
    const client = {
      credentials: opts.credentials,
      channelOptions: opts.maxMessageBytes ? { 'grpc.max_receive_message_length': opts.maxMessageBytes, 'grpc.max_send_message_length': opts.maxMessageBytes } : {},
    };
    this.candidateGenerator = createClient(CandidateGeneratorServiceClient, addrs.candidateGenerator, client);
    this.featureStore = createClient(FeatureStoreServiceClient, addrs.featureStore, client);
    this.ranker = createClient(RankerServiceClient, addrs.ranker, client);
  }

  userContext: Stages['userContext'] = (userId, call) =>
    callUnary(this.featureStore.getUserContext.bind(this.featureStore), { userId, maxRecentItems: 0 }, call);

  candidates: Stages['candidates'] = (req, call) =>
    callUnary(this.candidateGenerator.generateCandidates.bind(this.candidateGenerator), req, call);

  itemFeatures: Stages['itemFeatures'] = async (itemIds, call): Promise<FeatureBatch> => {
    const res = await callUnary(
      this.featureStore.getOnlineFeatures.bind(this.featureStore),
      { featureView: 'item', entityIds: itemIds, featureNames: [], packedValues: true },
      call,
    );
    if (!res.features) throw new Error('feature store returned no feature batch');
    return res.features;
  };

  rank: Stages['rank'] = (req, call) => callUnary(this.ranker.rank.bind(this.ranker), req, call);

  close(): void {
    this.candidateGenerator.close();
    this.featureStore.close();
    this.ranker.close();
  }
}
