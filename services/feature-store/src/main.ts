import { FeatureStoreServiceService } from '@recsys/proto';
import { runService } from '@recsys/grpc-kit';
import { Counter } from 'prom-client';
import { featureStoreConfig } from './config';
import { LiveBackend, chooseBackend } from './live-backend';
import { DEFAULT_REALTIME } from './realtime';
import { featureStoreHandlers } from './server';

void runService({
  name: 'feature-store',
  spec: featureStoreConfig,
  setup({ config, host, log, metrics }) {
    const backend = new LiveBackend(
      {
        kind: chooseBackend(config.FEATURE_STORE_BACKEND as 'auto' | 'memory' | 'redis', config.REDIS_URL),
        realtime: { ...DEFAULT_REALTIME, maxRecent: config.REALTIME_MAX_RECENT, seenTtlMs: config.REALTIME_SEEN_TTL_SECONDS * 1000 },
        artifactsDir: config.ARTIFACTS_DIR,
        artifactsPollMs: config.ARTIFACTS_POLL_MS,
        redis: {
          url: config.REDIS_URL ?? '',
          mode: config.REDIS_MODE === 'cluster' ? 'cluster' : 'single',
          keyPrefix: config.REDIS_KEY_PREFIX,
          commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
          pointerRefreshMs: config.REDIS_POINTER_REFRESH_MS,
          snapshotWaitMs: config.SNAPSHOT_WAIT_MS,
          itemCacheMaxEntries: config.ITEM_CACHE_MAX_ENTRIES,
          itemCacheTtlMs: config.ITEM_CACHE_TTL_MS,
        },
      },
      log,
      (version) => metrics.setVersion(version),
    );
    const defaulted = new Counter({
      name: 'recsys_feature_defaults_total',
      help: 'Feature values served as the declared default, by view and reason (missing or expired).',
      labelNames: ['view', 'reason'],
      registers: [metrics.registry],
    });
    host.addService(
      FeatureStoreServiceService,
      'recsys.v1.FeatureStoreService',
      featureStoreHandlers(() => backend.current(), { maxRecentItems: config.DEFAULT_MAX_RECENT_ITEMS }, (view, reason, n) => defaulted.inc({ view, reason }, n)),
    );
    host.onShutdown(() => backend.close());
    return () => backend.start();
  },
});
