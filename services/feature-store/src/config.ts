import { commonConfig, int, optionalStr, str } from '@recsys/grpc-kit';

/** Environment variables of the feature store. */
export const featureStoreConfig = {
  ...commonConfig({ grpcPort: 50053, metricsPort: 9093 }),
  ARTIFACTS_DIR: str('artifacts', 'artifact root (with CURRENT) or one version directory; the memory backend serves it'),
  FEATURE_STORE_BACKEND: str('auto', 'memory, redis, or auto (redis when REDIS_URL is set, else memory)', ['auto', 'memory', 'redis']),
  REDIS_URL: optionalStr('Redis URL, e.g. redis://127.0.0.1:6379/0 (enables the redis backend)'),
  REDIS_KEY_PREFIX: str('recsys', 'prefix of every Redis key the feature store reads and writes'),
  REDIS_COMMAND_TIMEOUT_MS: int(500, 'a Redis command that takes longer fails (no hanging reads)', 1, 60_000),
  REDIS_POINTER_REFRESH_MS: int(2000, 'how often the live snapshot version pointer is re-read from Redis', 100, 600_000),
  DEFAULT_MAX_RECENT_ITEMS: int(20, 'recent items returned when a request asks for 0', 1, 1000),
};
