import type * as grpc from '@grpc/grpc-js';
import { createClient, UnaryChannel, type UnaryChannelTls } from '@recsys/grpc-kit';
import {
  CandidateGeneratorServiceClient,
  FeatureBatch,
  FeatureStoreServiceClient,
  GatewayStageMethods,
  RankerServiceClient,
} from '@recsys/proto';
import type { Stages } from './stages';

/** Addresses of the three downstream services. */
export interface Downstreams {
  candidateGenerator: string;
  featureStore: string;
  ranker: string;
}

/**
 * The chain's stages as gRPC calls over long-lived channels. The four stage calls of every
 * request go over {@link UnaryChannel}s (the lean unary client: the same balancing, retries,
 * ejection, deadlines and TLS as the grpc-js clients at about half the client CPU, see
 * README "Where the time goes"); the grpc-js clients serve the HTTP front door's other
 * feature-store methods and anyone holding this object for them.
 */
export class GrpcStages implements Stages {
  readonly candidateGenerator: CandidateGeneratorServiceClient;
  readonly featureStore: FeatureStoreServiceClient;
  readonly ranker: RankerServiceClient;
  private readonly cgChannel: UnaryChannel;
  private readonly fsChannel: UnaryChannel;
  private readonly rankerChannel: UnaryChannel;

  constructor(addrs: Downstreams, opts: { credentials?: grpc.ChannelCredentials; tls?: UnaryChannelTls; maxMessageBytes?: number } = {}) {
    const client = {
      credentials: opts.credentials,
      channelOptions: opts.maxMessageBytes ? { 'grpc.max_receive_message_length': opts.maxMessageBytes, 'grpc.max_send_message_length': opts.maxMessageBytes } : {},
    };
    this.candidateGenerator = createClient(CandidateGeneratorServiceClient, addrs.candidateGenerator, client);
    this.featureStore = createClient(FeatureStoreServiceClient, addrs.featureStore, client);
    this.ranker = createClient(RankerServiceClient, addrs.ranker, client);
    const lean = { tls: opts.tls, maxReceiveBytes: opts.maxMessageBytes, maxSendBytes: opts.maxMessageBytes };
    this.cgChannel = new UnaryChannel(addrs.candidateGenerator, lean);
    this.fsChannel = new UnaryChannel(addrs.featureStore, lean);
    this.rankerChannel = new UnaryChannel(addrs.ranker, lean);
  }

  userContext: Stages['userContext'] = (userId, call) =>
    this.fsChannel.call(GatewayStageMethods.getUserContext, { userId, maxRecentItems: 0 }, call);

  candidates: Stages['candidates'] = (req, call) => this.cgChannel.call(GatewayStageMethods.generateCandidates, req, call);

  itemFeatures: Stages['itemFeatures'] = async (itemIds, call): Promise<FeatureBatch> => {
    const res = await this.fsChannel.call(
      GatewayStageMethods.getOnlineFeatures,
      { featureView: 'item', entityIds: itemIds, featureNames: [], packedValues: true },
      call,
    );
    if (!res.features) throw new Error('feature store returned no feature batch');
    return res.features;
  };

  rank: Stages['rank'] = (req, call) => this.rankerChannel.call(GatewayStageMethods.rank, req, call);

  close(): void {
    this.candidateGenerator.close();
    this.featureStore.close();
    this.ranker.close();
    this.cgChannel.close();
    this.fsChannel.close();
    this.rankerChannel.close();
  }
}
