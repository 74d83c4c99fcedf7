import { GatewayService, health } from '@recsys/proto';
import { channelCredentials, runService, unaryChannelTls } from '@recsys/grpc-kit';
import { gatewayConfig } from './config';
import { gatewayHttpServer } from './http';
import { GrpcStages } from './grpc-stages';
import { PopularCache, startPopularRefresh } from './popular-cache';
import { createRequestLog, requestLogSink, rolloutMetrics } from './rollout';
import { gatewayHandlers } from './server';
import { ShadowScorer } from './shadow';

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
      { credentials: channelCredentials(config), tls: unaryChannelTls(config), maxMessageBytes: config.MAX_MESSAGE_BYTES },
    );
    const popular = new PopularCache();
    const rollout = rolloutMetrics(metrics);
    let requestLog: ReturnType<typeof createRequestLog> | undefined;
    if (config.REQUEST_LOG_SAMPLE > 0) {
      requestLog = createRequestLog(requestLogSink(config), config, rollout, log);
      log.info({ sink: requestLog.sink.description, sample: config.REQUEST_LOG_SAMPLE }, 'request log on');
    }
    const shadow =
      config.SHADOW_MAX_IN_FLIGHT > 0
        ? new ShadowScorer(stages, {
            maxInFlight: config.SHADOW_MAX_IN_FLIGHT,
            skipAboveCalls: config.SHADOW_SKIP_ABOVE_CALLS,
            timeoutMs: config.SHADOW_TIMEOUT_MS,
            callsInFlight: () => host.callsInFlight,
            onOutcome: (outcome, variant) => rollout.shadow.inc({ variant, outcome }),
            onCompared: (overlap, correlation, variant) => {
              rollout.shadowOverlap.observe({ variant }, overlap);
              if (correlation !== undefined) rollout.shadowCorrelation.observe({ variant }, correlation);
            },
          })
        : undefined;
    const handlers = gatewayHandlers(
      stages,
      {
        defaultK: config.DEFAULT_K,
        maxK: config.MAX_K,
        maxExcludeItems: config.MAX_EXCLUDE_ITEMS,
        requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
        numCandidates: config.NUM_CANDIDATES,
        popular,
        requestLog: requestLog ? { log: requestLog, sample: config.REQUEST_LOG_SAMPLE } : undefined,
        shadow,
        rollout,
      },
      metrics,
    );
    host.addService(GatewayService, 'recsys.v1.GatewayService', handlers);
    // The HTTP/JSON front door (http/): the same handler, transcoded by the proto's google.api.http rules.
    const http = config.HTTP_ENABLED
      ? gatewayHttpServer({
          gateway: handlers,
          stages,
          log,
          metrics,
          maxBodyBytes: config.HTTP_MAX_BODY_BYTES,
          readTimeoutMs: config.HTTP_READ_TIMEOUT_MS,
          forwardTimeoutMs: Math.max(config.REQUEST_TIMEOUT_MS, 5000),
          maxConcurrentCalls: config.MAX_CONCURRENT_CALLS,
          isReady: () => host.health.get() === health.HealthCheckResponse_ServingStatus.SERVING,
        })
      : undefined;
    let stopRefresh = (): void => {};
    host.onShutdown(async () => {
      stopRefresh();
      if (http) {
        // In-flight HTTP calls get the drain bound to finish; then every connection is closed.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([http.close(), new Promise((r) => (timer = setTimeout(r, config.DRAIN_TIMEOUT_MS)))]);
        clearTimeout(timer);
        http.server.closeAllConnections();
      }
      stages.close();
      await requestLog?.close();
    });
    return async () => {
      if (http) {
        const address = await http.listen({ host: config.GRPC_HOST, port: config.HTTP_PORT }).catch((err: Error) => {
          throw new Error(`cannot listen for HTTP on ${config.GRPC_HOST}:${config.HTTP_PORT} (HTTP_PORT): ${err.message}`);
        });
        const port = (http.server.address() as { port: number }).port;
        log.info({ httpPort: port, address }, `HTTP API on port ${port}: /v1/…, /openapi.json, /docs, /console`);
      }
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
