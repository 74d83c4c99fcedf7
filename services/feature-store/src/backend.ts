import type { IngestResult, InteractionEvent, RealtimeRead } from './realtime';
import type { FeatureRegistry, ResolvedFeature, ViewName } from './registry';

/** One column of a read: a value per entity (defaults filled in) and where it was missing. */
export interface ColumnRead {
  name: string;
  values: Float32Array;
  missing: number[];
}

/** Features of many entities of one view, columnar. */
export interface FeatureRead {
  view: ViewName;
  entityCount: number;
  columns: ColumnRead[];
  /** Entities the store has no vector for. */
  unknown: number[];
  /** Entities whose vector is older than the view's TTL (values defaulted, also in `missing`). */
  expired: number[];
}

/** What the gateway needs about a user before retrieval. */
export interface UserContextRead {
  /** Real-time recent items first, then the batch history; no repeats. */
  recent: string[];
  /** Batch history and the real-time seen set. */
  seen: string[];
  features: FeatureRead;
  known: boolean;
  realtime: RealtimeRead;
}

/**
 * A feature store backend. `memory` and `redis` implement it and pass the same tests.
 */
export interface FeatureBackend {
  readonly kind: 'memory' | 'redis';
  /** Version of the snapshot reads are served from. */
  version(): string;
  /** Feature views of that snapshot. */
  registry(): FeatureRegistry;
  read(view: ViewName, entityIds: readonly string[], features: readonly ResolvedFeature[]): Promise<FeatureRead>;
  userContext(userId: string, maxRecent: number): Promise<UserContextRead>;
  /** The snapshot's `serving.recent_items` (artifact manifest), when it records one. */
  servingRecentItems(): number | undefined;
  /** Applies interaction events to the real-time features; idempotent per event id. */
  ingest(events: readonly InteractionEvent[]): Promise<IngestResult>;
  close(): Promise<void>;
}

/** A stored entity as read: its values, or unknown (undefined), or too old for the view's TTL. */
export type EntityValue = ArrayLike<number> | undefined | 'expired';

/**
 * Builds the columns of a read from per-entity vectors, applying each feature's default
 * where the entity is unknown or expired or the value is NaN.
 */
export function columnsFromVectors(view: ViewName, entities: readonly EntityValue[], features: readonly ResolvedFeature[]): FeatureRead {
  const n = entities.length;
  const unknown: number[] = [];
  const expired: number[] = [];
  const vectors = entities.map((v, e) => {
    if (v === 'expired') expired.push(e);
    else if (v === undefined) unknown.push(e);
    return v === 'expired' ? undefined : v;
  });
  const columns = features.map((f) => {
    const values = new Float32Array(n);
    const missing: number[] = [];
    for (let e = 0; e < n; e++) {
      const vec = vectors[e];
      const v = vec === undefined ? NaN : (vec[f.offset] ?? NaN);
      if (Number.isNaN(v)) {
        values[e] = f.default;
        missing.push(e);
      } else values[e] = v;
    }
    return { name: f.name, values, missing };
  });
  return { view, entityCount: n, columns, unknown, expired };
}

/** Whether a value written at `writtenAtSec` is past a TTL of `ttlSeconds` (0 = never) at `nowMs`. */
export function isExpired(writtenAtSec: number, ttlSeconds: number, nowMs: number): boolean {
  return ttlSeconds > 0 && nowMs / 1000 - writtenAtSec > ttlSeconds;
}

/** Merges batch history with real-time features into the user's context. */
export function mergeContext(history: readonly string[], realtime: RealtimeRead, maxRecent: number, features: FeatureRead, hasVector: boolean): UserContextRead {
  const recent = [...new Set([...realtime.recent, ...history])].slice(0, maxRecent);
  const seen = [...new Set([...history, ...realtime.seen])];
  return { recent, seen, features, known: hasVector || seen.length > 0, realtime };
}
