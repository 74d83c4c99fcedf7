import { address, commonConfig, int } from '@recsys/grpc-kit';

/** Environment variables of the gateway. */
export const gatewayConfig = {
  ...commonConfig({ grpcPort: 50051, metricsPort: 9091 }),
  CANDIDATE_GENERATOR_ADDR: address('127.0.0.1:50052', 'candidate generator address(es): host:port, a comma-separated list, or dns:name:port'),
  FEATURE_STORE_ADDR: address('127.0.0.1:50053', 'feature store address(es)'),
  RANKER_ADDR: address('127.0.0.1:50054', 'ranker address(es)'),
  REQUEST_TIMEOUT_MS: int(500, 'deadline budget of a Recommend call whose caller set no deadline', 10, 60_000),
  DEFAULT_K: int(10, 'items returned when a request asks for k = 0', 1, 1000),
  MAX_K: int(100, 'largest k a request may ask for', 1, 1000),
  NUM_CANDIDATES: int(0, "candidates retrieved per request and sent to the ranker (0 = the candidate generator's default: the artifact manifest's serving.num_candidates)", 0, 10_000),
  MAX_EXCLUDE_ITEMS: int(1000, 'largest exclude_item_ids list a request may carry', 0, 100_000),
  POPULAR_REFRESH_MS: int(
    30_000,
    'how often the gateway refreshes its cached popular list, served (flagged) when the candidate generator is down',
    100,
    86_400_000,
  ),
};
