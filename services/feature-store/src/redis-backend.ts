import type { FeatureViewSpec } from '@recsys/core';
import { UnavailableError } from '@recsys/grpc-kit';
import type { Redis } from 'ioredis';
import { columnsFromVectors, FeatureBackend, FeatureRead, UserContextRead } from './backend';
import { RedisKeys, decodeVector } from './redis-keys';
import { FeatureRegistry, ResolvedFeature, ViewName } from './registry';

/** Snapshot metadata stored beside the vectors. */
export interface SnapshotMeta {
  version: string;
  feature_views: { user: FeatureViewSpec; item: FeatureViewSpec };
  complete: boolean;
}

/**
 * Feature store backed by Redis: one MGET per feature read, one pipeline per user
 * context. The live snapshot version is read from the pointer key and refreshed
 * periodically, so a new materialization is picked up without a restart.
 */
export class RedisBackend implements FeatureBackend {
  readonly kind = 'redis';
  private live: { version: string; registry: FeatureRegistry } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Reads the pointer and the snapshot's metadata; throws if nothing was materialized. */
  async refresh(): Promise<void> {
    const version = await this.redis.get(this.keys.current());
    if (!version) throw new Error(`no snapshot materialized in Redis: key ${this.keys.current()} is missing (run npm run materialize)`);
    if (this.live?.version === version) return;
    const raw = await this.redis.get(this.keys.meta(version));
    if (!raw) throw new Error(`snapshot ${version} has no metadata key ${this.keys.meta(version)}`);
    const meta = JSON.parse(raw) as SnapshotMeta;
    if (!meta.complete) throw new Error(`snapshot ${version} is marked incomplete`);
    this.live = { version, registry: new FeatureRegistry(meta.feature_views) };
  }

  /** Re-reads the pointer every `ms`; failures keep the last good version. */
  startRefreshing(ms: number, onError: (err: unknown) => void): void {
    this.timer = setInterval(() => this.refresh().catch(onError), ms);
    this.timer.unref();
  }

  private snapshot(): { version: string; registry: FeatureRegistry } {
    if (!this.live) throw new UnavailableError('feature store has no snapshot loaded');
    return this.live;
  }

  version(): string {
    return this.snapshot().version;
  }

  registry(): FeatureRegistry {
    return this.snapshot().registry;
  }

  async read(view: ViewName, entityIds: readonly string[], features: readonly ResolvedFeature[]): Promise<FeatureRead> {
    const { version, registry } = this.snapshot();
    if (entityIds.length === 0) return columnsFromVectors(view, [], features);
    const width = registry.width(view);
    const keys = entityIds.map((id) => this.keys.entity(version, view, id));
    const values = await this.redis.mgetBuffer(...keys);
    const vectors = values.map((buf, i) => (buf ? decodeVector(buf, width, keys[i] as string) : undefined));
    return columnsFromVectors(view, vectors, features);
  }

  async userContext(userId: string, maxRecent: number): Promise<UserContextRead> {
    const { version, registry } = this.snapshot();
    const vecKey = this.keys.entity(version, 'user', userId);
    const [vecBuf, hist] = await Promise.all([
      this.redis.getBuffer(vecKey),
      this.redis.get(this.keys.history(version, userId)),
    ]);
    const vec = vecBuf ? decodeVector(vecBuf, registry.width('user'), vecKey) : undefined;
    const seen = hist ? hist.split('\n') : [];
    return {
      recent: seen.slice(0, maxRecent),
      seen,
      features: columnsFromVectors('user', [vec], registry.resolve('user', []).features),
      known: vec !== undefined || seen.length > 0,
    };
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
