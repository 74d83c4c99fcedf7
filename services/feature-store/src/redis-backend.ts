import type { FeatureViewSpec } from '@recsys/core';
import { Cluster } from 'ioredis';
import { DomainError, UnavailableError, readFloat32LE } from '@recsys/core';
import { endianness } from 'node:os';
import { columnsFromRows, EntityRows, FeatureBackend, FeatureRead, isExpired, mergeContext, ROW_EXPIRED, ROW_UNKNOWN, UserContextRead } from './backend';
import { DEFAULT_REALTIME, IngestResult, InteractionEvent, RealtimeOptions } from './realtime';
import { ingestRedis, readRealtimeRedis, RedisLike } from './redis-realtime';
import { ENTITY_HEADER_BYTES, RedisKeys, bucketOf, decodeEntity } from './redis-keys';
import { TtlCache } from './item-cache';
import { FeatureRegistry, NO_TTL, ResolvedFeature, ViewName, ViewTtls } from './registry';

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

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
   * Rows of many entities. Items found in the in-process cache skip Redis. A single node
   * takes one MGET of the rest; a cluster one MGET per hash-tag bucket (one slot each), all
   * in flight together and auto-pipelined per node. Each reply Buffer's values are copied
   * straight into the rows (no object per entity); only the cache keeps decoded entities.
   */
  private async entities(live: Live, view: ViewName, ids: readonly string[], nowMs: number): Promise<EntityRows> {
    const width = live.registry.width(view);
    const ttl = live.registry.ttlSeconds[view];
    const cache = view === 'item' ? this.itemCache : undefined;
    const n = ids.length;
    const rows = new Float32Array(n * width);
    const rowBytes = new Uint8Array(rows.buffer);
    const state = new Uint8Array(n);
    const fill = (r: number, writtenAtSec: number, values: Uint8Array | Float32Array): void => {
      if (isExpired(writtenAtSec, ttl, nowMs)) state[r] = ROW_EXPIRED;
      else if (values instanceof Float32Array) rows.set(values, r * width);
      else if (LITTLE_ENDIAN_HOST) rowBytes.set(values, r * width * 4);
      else for (let i = 0; i < width; i++) rows[r * width + i] = readFloat32LE(values, 4 * i, 1)[0] as number;
    };
    const cluster = this.redis instanceof Cluster;
    const byBucket = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const id = ids[i] as string;
      if (cache) {
        const cached = cache.get(`${live.version}\n${id}`);
        if (cached) {
          if (cached.value === null) state[i] = ROW_UNKNOWN;
          else fill(i, cached.value.writtenAtSec, cached.value.values);
          continue;
        }
      }
      const b = cluster ? bucketOf(id, live.buckets) : 0;
      const list = byBucket.get(b);
      if (list) list.push(i);
      else byBucket.set(b, [i]);
    }
    const expectBytes = ENTITY_HEADER_BYTES + width * 4;
    await Promise.all(
      [...byBucket.values()].map(async (list) => {
        const keys = this.keys.entities(live.version, view, list.length === n ? ids : list.map((r) => ids[r] as string), live.buckets);
        const values = await this.redis.mgetBuffer(...keys);
        for (let j = 0; j < list.length; j++) {
          const r = list[j] as number;
          const buf = values[j];
          if (!buf) {
            state[r] = ROW_UNKNOWN;
            cache?.set(`${live.version}\n${ids[r] as string}`, null);
            continue;
          }
          if (buf.length !== expectBytes) decodeEntity(buf, width, keys[j] as string); // throws naming the key
          if (cache) {
            const d = decodeEntity(buf, width, keys[j] as string);
            cache.set(`${live.version}\n${ids[r] as string}`, d);
            fill(r, d.writtenAtSec, d.values);
          } else fill(r, buf.readUInt32LE(0), buf.subarray(ENTITY_HEADER_BYTES));
        }
      }),
    );
    return { rows, width, state };
  }

  async read(view: ViewName, entityIds: readonly string[], features: readonly ResolvedFeature[]): Promise<FeatureRead> {
    const live = this.snapshot();
    return unavailableOnRedisError(async () => columnsFromRows(view, await this.entities(live, view, entityIds, Date.now()), features));
  }

  async userContext(userId: string, maxRecent: number): Promise<UserContextRead> {
    const live = this.snapshot();
    const now = Date.now();
    return unavailableOnRedisError(async () => {
      const [vec, hist, realtime] = await Promise.all([
        this.entities(live, 'user', [userId], now),
        this.redis.get(this.keys.history(live.version, userId, live.buckets)),
        readRealtimeRedis(this.redis, this.keys, userId, now, maxRecent, this.rtOpts),
      ]);
      const features = columnsFromRows('user', vec, live.registry.resolve('user', []).features);
      return mergeContext(hist ? hist.split('\n') : [], realtime, maxRecent, features, vec.state[0] !== ROW_UNKNOWN);
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
