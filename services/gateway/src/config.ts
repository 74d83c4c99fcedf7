import { address, commonConfig, int, optionalStr, ratio, str } from '@recsys/grpc-kit';

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
  REQUEST_LOG_SAMPLE: ratio(0, 'share of served Recommend calls written to the request log (0 = off, 1 = every call)'),
  REQUEST_LOG_REDIS_URL: optionalStr('Redis of the request log stream (default REDIS_URL when set; unset and no REDIS_URL: REQUEST_LOG_FILE)'),
  REQUEST_LOG_STREAM: str('recsys:requests', 'Redis Stream key of the request log'),
  REQUEST_LOG_MAXLEN: int(100_000, 'records the request log stream keeps (XADD MAXLEN ~, so Redis may keep up to one node more)', 1, 100_000_000),
  REQUEST_LOG_FILE: str('request-log/requests.jsonl', 'JSON-lines file of the request log when no Redis is configured (rotated)'),
  REQUEST_LOG_FILE_MAX_BYTES: int(64 * 1024 * 1024, 'size at which the request log file is rotated to <file>.1', 4096, 64 * 1024 * 1024 * 1024),
  REQUEST_LOG_FILE_KEEP: int(5, 'rotated request log files kept (<file>.1 … <file>.N)', 0, 1000),
  REQUEST_LOG_BUFFER: int(10_000, 'records waiting for the sink at most; more are dropped and counted', 1, 10_000_000),
  SHADOW_MAX_IN_FLIGHT: int(0, 'shadow scorings running at once (0 = shadow scoring off in this gateway); one more is skipped and counted', 0, 1000),
  SHADOW_SKIP_ABOVE_CALLS: int(32, 'shadow scoring is skipped (and counted) while the gateway handles more Recommend calls than this', 0, 100_000),
  SHADOW_TIMEOUT_MS: int(1000, 'deadline of one shadow scoring call', 10, 60_000),
};
