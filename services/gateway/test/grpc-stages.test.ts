import { UnaryChannel } from '@recsys/grpc-kit';
import { GrpcStages } from '@recsys/gateway/grpc-stages';
import { GatewayStageMethods } from '@recsys/proto';

// The stage calls go out with the forwarding definitions (libs/proto forwarding.ts): the
// replies' sub-messages keep their bytes and go into the RankRequest as they came.
describe('GrpcStages', () => {
  it('calls every stage with the gateway’s forwarding method definitions', async () => {
    const used: unknown[] = [];
    const spy = jest.spyOn(UnaryChannel.prototype, 'call').mockImplementation(async (method: unknown) => {
      used.push(method);
      return { features: {} } as never;
    });
    const stages = new GrpcStages({ candidateGenerator: '127.0.0.1:1', featureStore: '127.0.0.1:1', ranker: '127.0.0.1:1' });
    try {
      const call = { deadline: Date.now() + 1000 };
      await stages.userContext('u', call);
      await stages.candidates({ userId: 'u', numCandidates: 10, excludeItemIds: [], recentItemIds: [], packedFeatures: true }, call);
      await stages.itemFeatures(['a'], call);
      await stages.rank({ userId: 'u', candidates: undefined, userFeatures: undefined, itemFeatures: undefined, topK: 0, variant: '' }, call);
      expect(used).toEqual([GatewayStageMethods.getUserContext, GatewayStageMethods.generateCandidates, GatewayStageMethods.getOnlineFeatures, GatewayStageMethods.rank]);
    } finally {
      spy.mockRestore();
      stages.close();
    }
  });
});
