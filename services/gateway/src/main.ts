import { GatewayServiceService } from '@recsys/proto';
import { runService } from '@recsys/grpc-kit';
import { gatewayConfig } from './config';
import { GrpcStages } from './grpc-stages';
import { gatewayHandlers } from './server';

void runService({
  name: 'gateway',
  spec: gatewayConfig,
  setup({ config, host, metrics }) {
    const stages = new GrpcStages({
      candidateGenerator: config.CANDIDATE_GENERATOR_ADDR,
      featureStore: config.FEATURE_STORE_ADDR,
      ranker: config.RANKER_ADDR,
    });
    host.addService(
      GatewayServiceService,
      'recsys.v1.GatewayService',
      gatewayHandlers(
        stages,
        {
          defaultK: config.DEFAULT_K,
          maxK: config.MAX_K,
          maxExcludeItems: config.MAX_EXCLUDE_ITEMS,
          requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
          numCandidates: config.NUM_CANDIDATES,
        },
        metrics,
      ),
    );
    host.onShutdown(() => stages.close());
    return async () => {};
  },
});
