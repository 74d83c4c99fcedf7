import { address, bool, commonConfig, int, port } from '@recsys/grpc-kit';

/** Environment variables of the gateway. */
export const gatewayConfig = {
  ...commonConfig({ grpcPort: 50051, metricsPort: 9091 }),
  CANDIDATE_GENERATOR_ADDR: address('127.0.0.1:50052', 'candidate generator address(es): host:port, a comma-separated list, or dns:name:port'),
  FEATURE_STORE_ADDR: address('127.0.0.1:50053', 'feature store address(es)'),
  RANKER_ADDR: address('127.0.0.1:50054', 'ranker address(es)'),
  REQUEST_TIMEOUT_MS: int(500, 'deadline budget of a Recommend call whose caller set no deadline', 10, 60_000),
  DEFAULT_K: int(10, 'items returned when a request asks for k = 0', 1, 1000),
  MAX_K: int(100, 'largest k a request may ask for', 1, 1000),
  NUM_CANDIDATES: int(300, 'candidates retrieved per request and sent to the ranker', 1, 10_000),
  MAX_EXCLUDE_ITEMS: int(1000, 'largest exclude_item_ids list a request may carry', 0, 100_000),
  POPULAR_REFRESH_MS: int(
    30_000,
    'how often the gateway refreshes its cached popular list, served (flagged) when the candidate generator is down',
    100,
    86_400_000,
  ),
  HTTP_ENABLED: bool(true, 'serve the HTTP/JSON API, /openapi.json, /docs and /console on HTTP_PORT'),
  HTTP_PORT: port(8080, 'port of the HTTP/JSON API (bound on GRPC_HOST; 0 = any free port)'),
  HTTP_MAX_BODY_BYTES: int(1024 * 1024, 'largest HTTP request body; a bigger one is answered 413', 1024, 64 * 1024 * 1024),
  HTTP_READ_TIMEOUT_MS: int(
    10_000,
    'time a client has to send a whole HTTP request (headers and body) before it is answered 408 and closed',
    100,
    600_000,
  ),
};
