/**
 * The feature store's backend from start to shutdown, so main.ts only wires: which
 * backend the configuration asks for, the memory snapshot with hot reload, or the Redis
 * client that waits (NOT_SERVING) for Redis and a first materialized snapshot and then
 * follows the live pointer.
 */
import { ArtifactWatcher, ConfigError, UnavailableError, loadArtifacts } from '@recsys/core';
import type { Logger } from '@recsys/grpc-kit';
import type { FeatureBackend } from './backend';
import { TtlCache } from './item-cache';
import { MemoryBackend } from './memory-backend';
import type { RealtimeOptions } from './realtime';
import { DecodedEntity, RedisBackend } from './redis-backend';
import { createRedisClient, ensureConnected, type RedisMode } from './redis-client';
import { RedisKeys } from './redis-keys';
import type { RedisLike } from './redis-realtime';
import { waitForSnapshot } from './startup';

/** The backends the store can serve from. */
export type BackendKind = 'memory' | 'redis';

/**
 * The backend FEATURE_STORE_BACKEND asks for; `auto` means redis when REDIS_URL is set.
 *
 * @throws ConfigError naming REDIS_URL when redis is asked for without it
 */
export function chooseBackend(setting: 'auto' | BackendKind, redisUrl: string | undefined): BackendKind {
  const kind = setting === 'auto' ? (redisUrl ? 'redis' : 'memory') : setting;
  if (kind === 'redis' && !redisUrl) throw new ConfigError('REDIS_URL', 'is required when FEATURE_STORE_BACKEND=redis');
  return kind;
}

/** What the backends need from the configuration. */
export interface BackendSettings {
  kind: BackendKind;
  realtime: RealtimeOptions;
  /** memory: the artifact root (or version directory) and how often CURRENT is polled (0 = never). */
  artifactsDir: string;
  artifactsPollMs: number;
  /** redis: where and how. */
  redis: {
    url: string;
    mode: RedisMode;
    keyPrefix: string;
    commandTimeoutMs: number;
    pointerRefreshMs: number;
    /** How long to wait NOT_SERVING for Redis and a first snapshot (0 = fail at once). */
    snapshotWaitMs: number;
    /** In-process item cache in front of Redis (0 entries = none). */
    itemCacheMaxEntries: number;
    itemCacheTtlMs: number;
  };
}

/**
 * The backend the handlers read. {@link current} throws UNAVAILABLE until {@link start}
 * has loaded a first snapshot; a memory snapshot is swapped on hot reload, keeping the
 * real-time state (events live beside the snapshot, not in it).
 */
export class LiveBackend {
  private backend: FeatureBackend | undefined;
  private watcher: ArtifactWatcher | undefined;
  private redis: RedisLike | undefined;
  private closed = false;

  constructor(
    private readonly settings: BackendSettings,
    private readonly log: Pick<Logger, 'info' | 'warn' | 'error'>,
    /** Called with the snapshot version whenever the served one changes. */
    private readonly onVersion: (version: string) => void = () => {},
  ) {}

  /** The backend serving now. @throws UnavailableError before the first snapshot */
  current(): FeatureBackend {
    if (!this.backend) throw new UnavailableError('feature store backend not ready');
    return this.backend;
  }

  /** Loads the first snapshot (memory) or waits for Redis and one (redis); rejects when that fails. */
  async start(): Promise<void> {
    if (this.settings.kind === 'memory') await this.startMemory();
    else await this.startRedis();
    const live = this.current();
    this.onVersion(live.version());
    this.log.info({ backend: this.settings.kind, version: live.version() }, 'feature snapshot ready');
  }

  private async startMemory(): Promise<void> {
    const { realtime } = this.settings;
    this.watcher = await ArtifactWatcher.loadAndWatch({
      root: this.settings.artifactsDir,
      intervalMs: this.settings.artifactsPollMs,
      load: (dir) => {
        const previous = this.backend instanceof MemoryBackend ? this.backend.realtimeState : undefined;
        this.backend = new MemoryBackend(loadArtifacts(dir, ['itemFeatures', 'userFeatures', 'userHistory']), { realtime, realtimeState: previous });
        this.onVersion(this.backend.version());
        this.log.info({ backend: 'memory', version: this.backend.version() }, 'feature snapshot loaded');
      },
      onError: (err, dir) => this.log.error({ err: (err as Error).message, dir }, 'new snapshot not loaded; the old one keeps serving'),
    });
  }

  private async startRedis(): Promise<void> {
    const s = this.settings.redis;
    const redis = createRedisClient(s.url, s.commandTimeoutMs, s.mode);
    this.redis = redis;
    redis.on('error', (err: Error) => this.log.warn({ err: err.message }, 'redis error'));
    const itemCache = s.itemCacheMaxEntries > 0 ? new TtlCache<DecodedEntity | null>(s.itemCacheMaxEntries, s.itemCacheTtlMs) : undefined;
    const backend = new RedisBackend(redis, new RedisKeys(s.keyPrefix), { realtime: this.settings.realtime, itemCache });
    await waitForSnapshot(
      async () => {
        if (this.closed) throw new Error('feature store is shutting down');
        await ensureConnected(redis);
        await backend.refresh();
      },
      s.snapshotWaitMs,
      s.pointerRefreshMs,
      (err) => this.log.warn({ err: (err as Error).message }, 'NOT_SERVING: waiting for Redis and a first snapshot'),
    );
    backend.startRefreshing(
      s.pointerRefreshMs,
      (err) => this.log.warn({ err: (err as Error).message }, 'snapshot pointer refresh failed'),
      (version) => {
        this.onVersion(version);
        this.log.info({ version }, 'switched to a new feature snapshot');
      },
    );
    this.backend = backend;
  }

  /** Stops the hot reload and closes the backend (the Redis connection). */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.stop();
    if (this.backend) await this.backend.close();
    else this.redis?.disconnect();
  }
}
