import { ArtifactWatcher, DEFAULT_ARTIFACT_POLL_MS, loadArtifacts } from '@recsys/core';
import { FeatureStoreServiceService } from '@recsys/proto';
import { ConfigError, UnavailableError, runService } from '@recsys/grpc-kit';
import { Counter } from 'prom-client';
import type { FeatureBackend } from './backend';
import { featureStoreConfig } from './config';
import { MemoryBackend } from './memory-backend';
import { DEFAULT_REALTIME, RealtimeOptions } from './realtime';
import { TtlCache } from './item-cache';
import { DecodedEntity, RedisBackend } from './redis-backend';
import { connectRedis, createRedisClient } from './redis-client';
import { RedisKeys } from './redis-keys';
import { waitForSnapshot } from './startup';
import { featureStoreHandlers } from './server';

void runService({
  name: 'feature-store',
  spec: featureStoreConfig,
  setup({ config, host, log, metrics }) {
    const kind = config.FEATURE_STORE_BACKEND === 'auto' ? (config.REDIS_URL ? 'redis' : 'memory') : config.FEATURE_STORE_BACKEND;
    if (kind === 'redis' && !config.REDIS_URL) throw new ConfigError('REDIS_URL', 'is required when FEATURE_STORE_BACKEND=redis');
    const realtime: RealtimeOptions = { ...DEFAULT_REALTIME, maxRecent: config.REALTIME_MAX_RECENT, seenTtlMs: config.REALTIME_SEEN_TTL_SECONDS * 1000 };
    const defaulted = new Counter({
      name: 'recsys_feature_defaults_total',
      help: 'Feature values served as the declared default, by view and reason (missing or expired).',
      labelNames: ['view', 'reason'],
      registers: [metrics.registry],
    });
    let backend: FeatureBackend | undefined;
    host.addService(
      FeatureStoreServiceService,
      'recsys.v1.FeatureStoreService',
      featureStoreHandlers(
        () => {
          if (!backend) throw new UnavailableError('feature store backend not ready');
          return backend;
        },
        { maxRecentItems: config.DEFAULT_MAX_RECENT_ITEMS },
        (view, reason, n) => defaulted.inc({ view, reason }, n),
      ),
    );
    host.onShutdown(() => backend?.close());
    return async () => {
      if (kind === 'memory') {
        // Hot reload: the same watcher as the candidate generator and the ranker.
        const watcher = await ArtifactWatcher.loadAndWatch({
          root: config.ARTIFACTS_DIR,
          intervalMs: DEFAULT_ARTIFACT_POLL_MS,
          load: (d) => {
            // The real-time state lives outside the snapshot and carries over to the new one.
            const previous = backend instanceof MemoryBackend ? backend.realtimeState : undefined;
            backend = new MemoryBackend(loadArtifacts(d, ['itemFeatures', 'userFeatures', 'userHistory']), { realtime, realtimeState: previous });
            metrics.setVersion(backend.version());
            log.info({ backend: kind, version: backend.version() }, 'feature snapshot loaded');
          },
          onError: (err, d) => log.error({ err: (err as Error).message, dir: d }, 'new snapshot not loaded; the old one keeps serving'),
        });
        host.onShutdown(() => watcher.stop());
      } else {
        const mode = config.REDIS_MODE === 'cluster' ? 'cluster' : 'single';
        const redis = createRedisClient(config.REDIS_URL, config.REDIS_COMMAND_TIMEOUT_MS, mode);
        redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis error'));
        const itemCache = config.ITEM_CACHE_MAX_ENTRIES > 0 ? new TtlCache<DecodedEntity | null>(config.ITEM_CACHE_MAX_ENTRIES, config.ITEM_CACHE_TTL_MS) : undefined;
        const b = new RedisBackend(redis, new RedisKeys(config.REDIS_KEY_PREFIX), { realtime, itemCache });
        await waitForSnapshot(
          async () => {
            // ioredis keeps reconnecting by itself once started; start it only when idle.
            if (redis.status === 'wait' || redis.status === 'end') await connectRedis(redis);
            else if (redis.status !== 'ready') throw new Error(`Redis not reachable yet (${redis.status})`);
            await b.refresh();
          },
          config.SNAPSHOT_WAIT_MS,
          config.REDIS_POINTER_REFRESH_MS,
          (err) => log.warn({ err: (err as Error).message }, 'NOT_SERVING: waiting for Redis and a first snapshot'),
        );
        b.startRefreshing(
          config.REDIS_POINTER_REFRESH_MS,
          (err) => log.warn({ err: (err as Error).message }, 'snapshot pointer refresh failed'),
          (version) => {
            metrics.setVersion(version);
            log.info({ version }, 'switched to a new feature snapshot');
          },
        );
        backend = b;
      }
      const live: FeatureBackend | undefined = backend;
      if (!live) throw new Error('no feature backend was loaded');
      metrics.setVersion(live.version());
      log.info({ backend: kind, version: live.version() }, 'feature snapshot ready');
    };
  },
});
