import { GatewayServiceService } from '@recsys/proto';
import { channelCredentials, runService } from '@recsys/grpc-kit';
import { gatewayConfig } from './config';
import { GrpcStages } from './grpc-stages';
import { PopularCache, startPopularRefresh } from './popular-cache';
import { gatewayHandlers } from './server';

void runService({
  name: 'gateway',
  spec: gatewayConfig,
  setup({ config, host, log, metrics }) {
    const stages = new GrpcStages(
      {
        candidateGenerator: config.CANDIDATE_GENERATOR_ADDR,
        featureStore: config.FEATURE_STORE_ADDR,
        ranker: config.RANKER_ADDR,
      },
      { credentials: channelCredentials(config), maxMessageBytes: config.MAX_MESSAGE_BYTES },
    );
    const popular = new PopularCache();
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
          popular,
        },
        metrics,
      ),
    );
    let stopRefresh = (): void => {};
    host.onShutdown(() => {
      stopRefresh();
      stages.close();
    });
    return async () => {
      // Not awaited: the gateway serves without the cache; it only matters once the
      // candidate generator fails.
      stopRefresh = startPopularRefresh(
        popular,
        stages,
        { intervalMs: config.POPULAR_REFRESH_MS, timeoutMs: 2000, numCandidates: config.NUM_CANDIDATES },
        (err) => log.warn({ err: (err as Error).message }, 'popular list refresh failed; keeping the cached one'),
      );
    };
  },
});
