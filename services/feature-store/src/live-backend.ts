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
import { MemoryRealtime, type MemoryRealtimeCaps, type RealtimeOptions } from './realtime';
import { CachedItem, RedisBackend } from './redis-backend';
import { createRedisClient, ensureConnected, masterNodes, type RedisMode } from './redis-client';
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
  /** memory: bounds of the real-time state held in process, and who counts evictions. */
  memoryCaps?: MemoryRealtimeCaps;
  onEvict?: (users: number) => void;
  /** redis: told when the live snapshot is lost from Redis (false) and when it is whole again (true). */
  onServing?: (serving: boolean, why: string) => void;
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
        const state = this.backend instanceof MemoryBackend ? this.backend.realtimeState : new MemoryRealtime(realtime, this.settings.memoryCaps, this.settings.onEvict);
        this.backend = new MemoryBackend(loadArtifacts(dir, ['itemFeatures', 'userFeatures', 'userHistory']), { realtime, realtimeState: state });
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
    const itemCache = s.itemCacheMaxEntries > 0 ? new TtlCache<CachedItem>(s.itemCacheMaxEntries, s.itemCacheTtlMs) : undefined;
    const backend = new RedisBackend(redis, new RedisKeys(s.keyPrefix), {
      realtime: this.settings.realtime,
      itemCache,
      onServing: (serving, why) => {
        if (serving) this.log.info({ why }, 'feature snapshot whole again: SERVING');
        else this.log.error({ why }, 'feature snapshot lost from Redis: NOT_SERVING, reads fail UNAVAILABLE');
        this.settings.onServing?.(serving, why);
      },
    });
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
    await this.checkEvictionPolicy(redis);
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

  /** Logs an error when Redis may evict keys: the deployment must run maxmemory-policy noeviction (README). */
  private async checkEvictionPolicy(redis: RedisLike): Promise<void> {
    try {
      for (const node of masterNodes(redis)) {
        const info = await node.info('memory');
        const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1] ?? 'unknown';
        const max = Number(/maxmemory:(\d+)/.exec(info)?.[1] ?? 0);
        if (max > 0 && policy !== 'noeviction') {
          this.log.error(
            { policy, maxmemory: max },
            `Redis maxmemory-policy is ${policy}: it may evict the snapshot and acknowledged events; set noeviction (the store reports NOT_SERVING when it sees evictions)`,
          );
        }
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not read the Redis eviction policy');
    }
  }

  /** Stops the hot reload and closes the backend (the Redis connection). */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.stop();
    if (this.backend) await this.backend.close();
    else this.redis?.disconnect();
  }
}
