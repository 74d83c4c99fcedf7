import { ArtifactWatcher, DEFAULT_ARTIFACT_POLL_MS, loadArtifacts, resolveArtifactDir } from '@recsys/core';
import { FeatureStoreServiceService } from '@recsys/proto';
import { ConfigError, UnavailableError, runService } from '@recsys/grpc-kit';
import type { FeatureBackend } from './backend';
import { featureStoreConfig } from './config';
import { MemoryBackend } from './memory-backend';
import { RedisBackend } from './redis-backend';
import { createRedisClient } from './redis-client';
import { RedisKeys } from './redis-keys';
import { featureStoreHandlers } from './server';

void runService({
  name: 'feature-store',
  spec: featureStoreConfig,
  setup({ config, host, log, metrics }) {
    const kind = config.FEATURE_STORE_BACKEND === 'auto' ? (config.REDIS_URL ? 'redis' : 'memory') : config.FEATURE_STORE_BACKEND;
    if (kind === 'redis' && !config.REDIS_URL) throw new ConfigError('REDIS_URL', 'is required when FEATURE_STORE_BACKEND=redis');
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
      ),
    );
    host.onShutdown(() => backend?.close());
    return async () => {
      if (kind === 'memory') {
        const dir = resolveArtifactDir(config.ARTIFACTS_DIR);
        backend = new MemoryBackend(loadArtifacts(dir, ['itemFeatures', 'userFeatures', 'userHistory']));
        // Hot reload: the same watcher as the candidate generator and the ranker.
        const watcher = new ArtifactWatcher({
          root: config.ARTIFACTS_DIR,
          initialDir: dir,
          intervalMs: DEFAULT_ARTIFACT_POLL_MS,
          load: (d) => {
            backend = new MemoryBackend(loadArtifacts(d, ['itemFeatures', 'userFeatures', 'userHistory']));
            metrics.setVersion(backend.version());
            log.info({ backend: kind, version: backend.version() }, 'feature snapshot reloaded');
          },
          onError: (err, d) => log.error({ err: (err as Error).message, dir: d }, 'new snapshot not loaded; the old one keeps serving'),
        });
        watcher.start();
        host.onShutdown(() => watcher.stop());
      } else {
        const redis = createRedisClient(config.REDIS_URL, config.REDIS_COMMAND_TIMEOUT_MS);
        redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis error'));
        await redis.connect();
        const b = new RedisBackend(redis, new RedisKeys(config.REDIS_KEY_PREFIX));
        await b.refresh();
        b.startRefreshing(config.REDIS_POINTER_REFRESH_MS, (err) => log.warn({ err: (err as Error).message }, 'snapshot pointer refresh failed'));
        backend = b;
      }
      metrics.setVersion(backend.version());
      log.info({ backend: kind, version: backend.version() }, 'feature snapshot ready');
    };
  },
});
