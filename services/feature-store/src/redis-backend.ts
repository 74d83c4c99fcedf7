import type { FeatureViewSpec } from '@recsys/core';
import { Cluster } from 'ioredis';
import { DomainError, UnavailableError } from '@recsys/core';
import { columnsFromVectors, EntityValue, FeatureBackend, FeatureRead, isExpired, mergeContext, UserContextRead } from './backend';
import { DEFAULT_REALTIME, IngestResult, InteractionEvent, RealtimeOptions } from './realtime';
import { ingestRedis, readRealtimeRedis, RedisLike } from './redis-realtime';
import { RedisKeys, bucketOf, decodeEntity } from './redis-keys';
import { TtlCache } from './item-cache';
import { FeatureRegistry, NO_TTL, ResolvedFeature, ViewName, ViewTtls } from './registry';

/** Snapshot metadata stored beside the vectors (`<prefix>:{<version>}:meta`). */
export interface SnapshotMeta {
  version: string;
  feature_views: { user: FeatureViewSpec; item: FeatureViewSpec };
  complete: boolean;
  /** Hash-tag buckets per view the entity keys are spread over. */
  buckets: number;
  /** Per-view TTL in seconds (0 = never expires). */
  ttl_seconds?: ViewTtls;
  /** The artifact manifest's `serving.recent_items`, when it has one. */
  serving_recent_items?: number;
}

/** Options of the Redis backend. */
export interface RedisBackendOptions {
  realtime?: RealtimeOptions;
  /** In-process cache of item entities (null = not in Redis); off when absent. */
  itemCache?: TtlCache<DecodedEntity | null>;
}

/** An entity as decoded from Redis. */
export type DecodedEntity = ReturnType<typeof decodeEntity>;

interface Live {
  version: string;
  registry: FeatureRegistry;
  buckets: number;
  servingRecentItems?: number;
}

/**
 * Feature store backed by Redis (a single node or a Cluster). A feature read is one MGET
 * per hash-tag bucket, all sent in one auto-pipelined batch (one round trip, or one per
 * node on a cluster); a user context reads the vector, history and real-time keys in the
 * same way. The live snapshot version is read from the pointer key and refreshed
 * periodically, so a new materialization is picked up without a restart. Redis errors
 * surface as UNAVAILABLE, which callers treat as a degraded stage.
 */
export class RedisBackend implements FeatureBackend {
  readonly kind = 'redis';
  private live: Live | undefined;
  private timer: NodeJS.Timeout | undefined;

  private readonly rtOpts: RealtimeOptions;
  private readonly itemCache: TtlCache<DecodedEntity | null> | undefined;

  constructor(
    private readonly redis: RedisLike,
    private readonly keys: RedisKeys,
    opts: RedisBackendOptions = {},
  ) {
    this.rtOpts = opts.realtime ?? DEFAULT_REALTIME;
    this.itemCache = opts.itemCache;
  }

  /** Reads the pointer and the snapshot's metadata; throws if nothing was materialized. True when the version changed. */
  async refresh(): Promise<boolean> {
    const version = await this.redis.get(this.keys.current());
    if (!version) throw new Error(`no snapshot materialized in Redis: key ${this.keys.current()} is missing (run npm run materialize)`);
    if (this.live?.version === version) return false;
    const raw = await this.redis.get(this.keys.meta(version));
    if (!raw) throw new Error(`snapshot ${version} has no metadata key ${this.keys.meta(version)}`);
    const meta = JSON.parse(raw) as SnapshotMeta;
    if (!meta.complete) throw new Error(`snapshot ${version} is marked incomplete`);
    this.live = {
      version,
      registry: new FeatureRegistry(meta.feature_views, meta.ttl_seconds ?? NO_TTL, version),
      buckets: meta.buckets,
      ...(meta.serving_recent_items === undefined ? {} : { servingRecentItems: meta.serving_recent_items }),
    };
    return true;
  }

  /** Re-reads the pointer every `ms`; failures keep the last good version. */
  startRefreshing(ms: number, onError: (err: unknown) => void, onSwitch: (version: string) => void = () => {}): void {
    this.timer = setInterval(() => this.refresh().then((changed) => changed && onSwitch(this.version()), onError), ms);
    this.timer.unref();
  }

  private snapshot(): Live {
    if (!this.live) throw new UnavailableError('feature store has no snapshot loaded');
    return this.live;
  }

  version(): string {
    return this.snapshot().version;
  }
  servingRecentItems(): number | undefined {
    return this.live?.servingRecentItems;
  }


  registry(): FeatureRegistry {
    return this.snapshot().registry;
  }

  /**
   * Values of many entities. Items found in the in-process cache skip Redis. A single node
   * takes one MGET of the rest; a cluster one MGET per hash-tag bucket (one slot each), all
   * in flight together and auto-pipelined per node.
   */
  private async entities(live: Live, view: ViewName, ids: readonly string[], nowMs: number): Promise<EntityValue[]> {
    const width = live.registry.width(view);
    const ttl = live.registry.ttlSeconds[view];
    const cache = view === 'item' ? this.itemCache : undefined;
    const resolve = (d: DecodedEntity | null): EntityValue => (d === null ? undefined : isExpired(d.writtenAtSec, ttl, nowMs) ? 'expired' : d.values);
    const out: EntityValue[] = new Array<EntityValue>(ids.length).fill(undefined);
    const byBucket = new Map<number, number[]>();
    ids.forEach((id, i) => {
      const cached = cache?.get(`${live.version}\n${id}`);
      if (cached) {
        out[i] = resolve(cached.value);
        return;
      }
      const b = this.redis instanceof Cluster ? bucketOf(id, live.buckets) : 0;
      const list = byBucket.get(b);
      if (list) list.push(i);
      else byBucket.set(b, [i]);
    });
    await Promise.all(
      [...byBucket.values()].map(async (rows) => {
        const keys = rows.map((r) => this.keys.entity(live.version, view, ids[r] as string, live.buckets));
        const values = await this.redis.mgetBuffer(...keys);
        rows.forEach((r, j) => {
          const buf = values[j];
          const d = buf ? decodeEntity(buf, width, keys[j] as string) : null;
          cache?.set(`${live.version}\n${ids[r] as string}`, d);
          out[r] = resolve(d);
        });
      }),
    );
    return out;
  }

  async read(view: ViewName, entityIds: readonly string[], features: readonly ResolvedFeature[]): Promise<FeatureRead> {
    const live = this.snapshot();
    return unavailableOnRedisError(async () => columnsFromVectors(view, await this.entities(live, view, entityIds, Date.now()), features));
  }

  async userContext(userId: string, maxRecent: number): Promise<UserContextRead> {
    const live = this.snapshot();
    const now = Date.now();
    return unavailableOnRedisError(async () => {
      const [[vec], hist, realtime] = await Promise.all([
        this.entities(live, 'user', [userId], now),
        this.redis.get(this.keys.history(live.version, userId, live.buckets)),
        readRealtimeRedis(this.redis, this.keys, userId, now, maxRecent, this.rtOpts),
      ]);
      const features = columnsFromVectors('user', [vec], live.registry.resolve('user', []).features);
      return mergeContext(hist ? hist.split('\n') : [], realtime, maxRecent, features, vec !== undefined);
    });
  }

  async ingest(events: readonly InteractionEvent[]): Promise<IngestResult> {
    return unavailableOnRedisError(() => ingestRedis(this.redis, this.keys, events, Date.now(), this.rtOpts));
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Redis failures (down, timed out, refused) become UNAVAILABLE naming the cause, so callers can degrade. */
async function unavailableOnRedisError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof DomainError) throw err;
    throw new UnavailableError(`feature store: Redis unavailable (${(err as Error).message})`, { cause: err });
  }
}
