import { FeatureStoreService } from '@recsys/proto';
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
    const evictions = new Counter({
      name: 'recsys_realtime_evictions_total',
      help: 'Users whose real-time state the memory backend evicted (least recently written first) to stay within REALTIME_MAX_USERS / REALTIME_MAX_ENTRIES.',
      registers: [metrics.registry],
    });
    const backend = new LiveBackend(
      {
        kind: chooseBackend(config.FEATURE_STORE_BACKEND as 'auto' | 'memory' | 'redis', config.REDIS_URL),
        realtime: {
          ...DEFAULT_REALTIME,
          maxRecent: config.REALTIME_MAX_RECENT,
          seenTtlMs: config.REALTIME_SEEN_TTL_SECONDS * 1000,
          maxSeen: config.REALTIME_MAX_SEEN,
          maxDedup: config.REALTIME_MAX_EVENT_IDS,
        },
        memoryCaps: { maxUsers: config.REALTIME_MAX_USERS, maxEntries: config.REALTIME_MAX_ENTRIES },
        onEvict: (n) => evictions.inc(n),
        onServing: (serving) => host.setServing(serving),
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
      FeatureStoreService,
      'recsys.v1.FeatureStoreService',
      featureStoreHandlers(
        () => backend.current(),
        { maxRecentItems: config.DEFAULT_MAX_RECENT_ITEMS },
        (view, reason, n) => defaulted.inc({ view, reason }, n),
        {
          maxEntitiesPerRead: config.MAX_ENTITIES_PER_READ,
          maxFeatureNames: config.MAX_FEATURE_NAMES,
          events: {
            maxPerBatch: config.MAX_EVENTS_PER_BATCH,
            maxPerUser: config.MAX_EVENTS_PER_USER,
            maxFutureSkewMs: config.EVENT_MAX_FUTURE_SKEW_MS,
            maxAgeMs: config.EVENT_MAX_AGE_SECONDS * 1000,
          },
        },
      ),
    );
    host.onShutdown(() => backend.close());
    return () => backend.start();
  },
});
