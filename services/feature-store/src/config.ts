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
  REALTIME_MAX_RECENT: int(50, 'recent event items kept per user by IngestEvents', 1, 1000),
  REALTIME_SEEN_TTL_SECONDS: int(30 * 86_400, 'how long an item stays in the seen set after an event', 1, 10 * 365 * 86_400),
  REALTIME_MAX_SEEN: int(5000, "items kept in a user's real-time seen set; beyond it those expiring first are dropped", 1, 100_000),
  REALTIME_MAX_EVENT_IDS: int(10_000, 'applied event ids remembered per user for idempotency (oldest forgotten first)', 1, 1_000_000),
  REALTIME_MAX_USERS: int(100_000, 'memory backend: users whose real-time state is kept; the least recently written are evicted beyond it (recsys_realtime_evictions_total)', 1, 100_000_000),
  REALTIME_MAX_ENTRIES: int(2_000_000, 'memory backend: real-time entries (recent, seen, events, event ids) over all users; least recently written users are evicted beyond it', 1000, 1_000_000_000),
  MAX_ENTITIES_PER_READ: int(10_000, 'entity ids one GetOnlineFeatures call may read', 1, 1_000_000),
  MAX_FEATURE_NAMES: int(256, 'feature_names one GetOnlineFeatures call may list (duplicates are refused)', 1, 100_000),
  MAX_EVENTS_PER_BATCH: int(5000, 'events one IngestEvents call may carry', 1, 1_000_000),
  MAX_EVENTS_PER_USER: int(500, "events of one user one IngestEvents call may carry (bounds the user's Redis script run)", 1, 100_000),
  EVENT_MAX_FUTURE_SKEW_MS: int(60_000, "how far ahead of the store's clock an event time may be; later ones are refused INVALID_ARGUMENT", 0, 86_400_000),
  EVENT_MAX_AGE_SECONDS: int(30 * 86_400, 'how old an event time may be; older ones are refused INVALID_ARGUMENT (0 as the time means now)', 1, 10 * 365 * 86_400),
};
