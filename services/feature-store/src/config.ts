import { artifactsConfig, commonConfig, int, optionalStr, str } from '@recsys/grpc-kit';

/** Environment variables of the feature store. */
export const featureStoreConfig = {
  ...commonConfig({ grpcPort: 50053, metricsPort: 9093 }),
  // The memory backend serves the artifact's snapshot and hot-reloads it like the others.
  ...artifactsConfig(),
  FEATURE_STORE_BACKEND: str('auto', 'memory, redis, or auto (redis when REDIS_URL is set, else memory)', ['auto', 'memory', 'redis']),
  REDIS_URL: optionalStr('Redis URL, e.g. redis://127.0.0.1:6379/0 (enables the redis backend); with REDIS_MODE=cluster a comma-separated list of seed nodes'),
  REDIS_MODE: str('single', 'single (one Redis node) or cluster (Redis Cluster through ioredis Cluster)', ['single', 'cluster']),
  REDIS_KEY_PREFIX: str('recsys', 'prefix of every Redis key the feature store reads and writes'),
  REDIS_COMMAND_TIMEOUT_MS: int(500, 'a Redis command that takes longer fails (no hanging reads)', 1, 60_000),
  REDIS_POINTER_REFRESH_MS: int(2000, 'how often the live snapshot version pointer is re-read from Redis', 100, 600_000),
  SNAPSHOT_WAIT_MS: int(0, 'how long to wait NOT_SERVING at start for Redis and a first materialized snapshot (0 = fail at once)', 0, 3_600_000),
  DEFAULT_MAX_RECENT_ITEMS: int(0, "recent items returned when a request asks for 0 (0 = the artifact manifest's serving.recent_items, 20 without one)", 0, 1000),
  ITEM_CACHE_MAX_ENTRIES: int(0, 'item entities kept in an in-process cache in front of Redis (0 = no cache)', 0, 10_000_000),
  ITEM_CACHE_TTL_MS: int(5000, 'how long a cached item entity is served before Redis is asked again', 1, 3_600_000),
  REALTIME_MAX_RECENT: int(50, 'recent event items kept per user by IngestEvents', 1, 10_000),
  REALTIME_SEEN_TTL_SECONDS: int(30 * 86_400, 'how long an item stays in the seen set after an event', 1, 10 * 365 * 86_400),
};
