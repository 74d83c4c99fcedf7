import type { FeatureViewSpec } from '@recsys/core';
import { Cluster } from 'ioredis';
import { DomainError, UnavailableError, readFloat32LE } from '@recsys/core';
import { endianness } from 'node:os';
import { columnsFromRows, EntityRows, FeatureBackend, FeatureRead, isExpired, mergeContext, ROW_EXPIRED, ROW_UNKNOWN, UserContextRead } from './backend';
import { DEFAULT_REALTIME, IngestResult, InteractionEvent, RealtimeOptions } from './realtime';
import { PartialIngestError, ingestRedis, readRealtimeRedis, RedisLike } from './redis-realtime';
import { ENTITY_HEADER_BYTES, RedisKeys, bucketOf, decodeEntity } from './redis-keys';
import { EntityMget } from './entity-mget';
import { masterNodes } from './redis-client';
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
  /** True when every bucket of each view has its marker key (see redis-keys.ts); older snapshots have none. */
  markers?: boolean;
  /** Unix ms the load completed. */
  materialized_at?: number;
  /** The artifact manifest's `serving.recent_items`, when it has one. */
  serving_recent_items?: number;
}

/** Keys of one MGET at most (a larger read is split, pipelined in the same round trip). */
const MAX_KEYS_PER_MGET = 1000;

/**
 * Reads of fewer ids than this on a single node go through ioredis's own MGET, which its
 * auto-pipelining writes together with the other commands of the same tick (a user
 * context's row, history and real-time reads: one socket write for all six commands, where
 * a command of its own costs a write of its own, about 50 µs of the feature store's CPU
 * on loopback in a profile at c = 16). Larger
 * reads are written by {@link EntityMget}, cheaper than ioredis's key strings from a few
 * dozen keys on.
 */
const ENTITY_MGET_MIN_IDS = 16;

/** An item in the in-process cache: its entity in snapshot `version` (null = not in Redis). */
export interface CachedItem {
  version: string;
  entity: DecodedEntity | null;
}

/** Thrown by a read when the live snapshot is no longer in Redis. */
export class SnapshotLostError extends UnavailableError {}

/** Options of the Redis backend. */
export interface RedisBackendOptions {
  realtime?: RealtimeOptions;
  /** In-process cache of item entities by id; off when absent. */
  itemCache?: TtlCache<CachedItem>;
  /**
   * Told when the snapshot is lost (pointer or marker gone, Redis evicted keys) and when a
   * complete one is back: the store reports NOT_SERVING meanwhile.
   */
  onServing?: (serving: boolean, why: string) => void;
}

/** An entity as decoded from Redis. */
export type DecodedEntity = ReturnType<typeof decodeEntity>;

interface Live {
  version: string;
  registry: FeatureRegistry;
  buckets: number;
  markers: boolean;
  materializedAt: number;
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
  private readonly itemCache: TtlCache<CachedItem> | undefined;
  private readonly onServing: (serving: boolean, why: string) => void;
  /** Why the live snapshot cannot be trusted now (undefined = it can). */
  private lost: string | undefined;
  /** Redis's evicted_keys when the live snapshot was taken up (per version + load time). */
  private evictedBaseline: { key: string; evicted: number } | undefined;

  constructor(
    private readonly redis: RedisLike,
    private readonly keys: RedisKeys,
    opts: RedisBackendOptions = {},
  ) {
    this.rtOpts = opts.realtime ?? DEFAULT_REALTIME;
    this.itemCache = opts.itemCache;
    this.onServing = opts.onServing ?? (() => {});
  }

  private markLost(why: string): void {
    if (this.lost === undefined) this.onServing(false, why);
    this.lost = why;
  }

  /**
   * Reads the pointer and the snapshot's metadata, and checks that the snapshot is still
   * whole (its marker key there, no keys evicted by Redis since it was loaded); throws if
   * nothing was materialized or the snapshot is gone. True when the version changed.
   */
  async refresh(): Promise<boolean> {
    try {
      const changed = await this.refreshOnce();
      if (this.lost !== undefined) {
        this.lost = undefined;
        this.onServing(true, `snapshot ${this.live?.version} is complete again`);
      }
      return changed;
    } catch (err) {
      if (err instanceof SnapshotLostError && this.live) this.markLost(err.message);
      throw err;
    }
  }

  private async refreshOnce(): Promise<boolean> {
    const version = await this.redis.get(this.keys.current());
    if (!version) {
      throw new SnapshotLostError(`no snapshot materialized in Redis: key ${this.keys.current()} is missing (Redis restarted empty or evicted it; run npm run materialize)`);
    }
    const raw = await this.redis.get(this.keys.meta(version));
    if (!raw) throw new SnapshotLostError(`snapshot ${version} has no metadata key ${this.keys.meta(version)} (deleted or evicted; run npm run materialize)`);
    const meta = JSON.parse(raw) as SnapshotMeta;
    if (!meta.complete) throw new Error(`snapshot ${version} is marked incomplete`);
    if (meta.markers && !(await this.redis.exists(this.keys.marker(version, 'item', 0)))) {
      throw new SnapshotLostError(`snapshot ${version} is incomplete in Redis: marker ${this.keys.marker(version, 'item', 0)} is missing (keys evicted?)`);
    }
    await this.checkEvictions(`${version}@${meta.materialized_at ?? 0}`);
    const changed = this.live?.version !== version || this.live.materializedAt !== (meta.materialized_at ?? 0);
    if (changed) {
      this.live = {
        version,
        registry: new FeatureRegistry(meta.feature_views, meta.ttl_seconds ?? NO_TTL, version),
        buckets: meta.buckets,
        markers: meta.markers === true,
        materializedAt: meta.materialized_at ?? 0,
        ...(meta.serving_recent_items === undefined ? {} : { servingRecentItems: meta.serving_recent_items }),
      };
    }
    return this.live?.version !== undefined && changed;
  }

  /**
   * Redis's `evicted_keys` (summed over the masters) must not grow while a snapshot is
   * live: with an evicting maxmemory-policy any key, entity or pointer, may be gone. The
   * deployment must run `noeviction` (README, deploy/); this catches one that does not.
   */
  private async checkEvictions(snapshotKey: string): Promise<void> {
    let evicted = 0;
    for (const node of masterNodes(this.redis)) {
      const info = await node.info('stats');
      evicted += Number(/evicted_keys:(\d+)/.exec(info)?.[1] ?? 0);
    }
    if (this.evictedBaseline?.key !== snapshotKey) this.evictedBaseline = { key: snapshotKey, evicted };
    else if (evicted > this.evictedBaseline.evicted) {
      throw new SnapshotLostError(
        `Redis evicted ${evicted - this.evictedBaseline.evicted} keys since snapshot ${snapshotKey.split('@')[0]} was loaded: it may be incomplete; set maxmemory-policy noeviction and run npm run materialize`,
      );
    }
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
   * takes one MGET of the rest, written as one Buffer ({@link EntityMget}) unless it is
   * small enough to ride in ioredis's auto-pipeline ({@link ENTITY_MGET_MIN_IDS}); a cluster one MGET
   * per hash-tag bucket (one slot each), all in flight together and auto-pipelined per node.
   * Each reply Buffer's values are copied
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
        const cached = cache.get(id, nowMs)?.value;
        // An entry of another snapshot version is a miss (and is replaced below).
        if (cached !== undefined && cached.version === live.version) {
          if (cached.entity === null) state[i] = ROW_UNKNOWN;
          else fill(i, cached.entity.writtenAtSec, cached.entity.values);
          continue;
        }
      }
      const b = cluster ? bucketOf(id, live.buckets) : 0;
      const list = byBucket.get(b);
      if (list) list.push(i);
      else byBucket.set(b, [i]);
    }
    // No command over MAX_KEYS_PER_MGET keys: each stays short for Redis (still one round trip, pipelined).
    const groups: [number, number[]][] = [];
    for (const [b, list] of byBucket) for (let k = 0; k < list.length; k += MAX_KEYS_PER_MGET) groups.push([b, list.length <= MAX_KEYS_PER_MGET ? list : list.slice(k, k + MAX_KEYS_PER_MGET)]);
    if (this.lost !== undefined) throw new SnapshotLostError(`feature store: ${this.lost}`);
    const expectBytes = ENTITY_HEADER_BYTES + width * 4;
    await Promise.all(
      groups.map(async ([bucket, list]) => {
        const groupIds = list.length === n ? ids : list.map((r) => ids[r] as string);
        const idBuckets = cluster || groupIds.length < ENTITY_MGET_MIN_IDS ? undefined : new Int32Array(groupIds.length);
        const keys = this.keys.entities(live.version, view, groupIds, live.buckets, idBuckets);
        // The bucket's marker rides in the same MGET (same slot): no extra round trip.
        const marker = live.markers ? this.keys.marker(live.version, view, bucket) : undefined;
        // A large read on a single node is one MGET written as one Buffer. A cluster gets one
        // per bucket, and ioredis's auto-pipelining writes those of one node together (one
        // write instead of one per bucket), so there the commands stay ioredis's own, as do
        // small reads (see ENTITY_MGET_MIN_IDS).
        const values = (
          idBuckets === undefined
            ? await this.redis.mgetBuffer(...(marker === undefined ? keys : [marker, ...keys]))
            : await this.redis.sendCommand(new EntityMget(marker, groupIds, this.keys.entityPrefixBytes(live.version, view, live.buckets), keys, idBuckets))
        ) as (Buffer | null)[];
        const first = marker ? 1 : 0;
        if (marker && !values[0]) {
          const why = `snapshot ${live.version} is gone from Redis (marker ${marker} missing: Redis restarted empty or keys were evicted); run npm run materialize`;
          if (this.lost === undefined) void this.refresh().catch(() => {});
          this.markLost(why);
          throw new SnapshotLostError(`feature store: ${why}`);
        }
        for (let j = 0; j < list.length; j++) {
          const r = list[j] as number;
          const buf = values[first + j];
          if (!buf) {
            state[r] = ROW_UNKNOWN;
            cache?.set(ids[r] as string, { version: live.version, entity: null }, nowMs);
            continue;
          }
          if (buf.length !== expectBytes) decodeEntity(buf, width, keys[j] as string); // throws naming the key
          if (cache) {
            const d = decodeEntity(buf, width, keys[j] as string);
            cache.set(ids[r] as string, { version: live.version, entity: d }, nowMs);
            fill(r, d.writtenAtSec, d.values);
          } else if (LITTLE_ENDIAN_HOST && !isExpired(buf.readUInt32LE(0), ttl, nowMs)) {
            // Straight from the reply into the row: no view object per entity.
            buf.copy(rowBytes, r * width * 4, ENTITY_HEADER_BYTES, expectBytes);
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
    const message = (err as Error)?.message ?? String(err);
    if (/^OOM\b/.test(message) || (err instanceof PartialIngestError && err.outOfMemory)) {
      throw new DomainError('RESOURCE_EXHAUSTED', `feature store: Redis is out of memory (maxmemory reached): ${message}`, { cause: err });
    }
    throw new UnavailableError(`feature store: Redis unavailable (${message})`, { cause: err });
  }
}
