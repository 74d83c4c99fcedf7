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

/** Whether entity e of {@link EntityRows} was found: stored, unknown to the store, or older than the view's TTL. */
export const ROW_FOUND = 0;
export const ROW_UNKNOWN = 1;
export const ROW_EXPIRED = 2;

/**
 * The stored vectors of a read's entities as one row-major matrix: entity e's vector is
 * `rows[e·width … (e+1)·width)`, valid where `state[e]` is {@link ROW_FOUND}. The Redis
 * backend copies each reply's bytes straight into `rows` (one aligned buffer, no object
 * per entity).
 */
export interface EntityRows {
  rows: Float32Array;
  width: number;
  state: Uint8Array;
}

/**
 * Builds the columns of a read from the entities' rows, applying each feature's default
 * where the entity is unknown or expired or the value is NaN. The columns are consecutive
 * views of one column-major block (column c at `[c·n, (c+1)·n)`), which the packed wire
 * encoding sends as it is.
 */
export function columnsFromRows(view: ViewName, entities: EntityRows, features: readonly ResolvedFeature[]): FeatureRead {
  const { rows, width, state } = entities;
  const n = state.length;
  const unknown: number[] = [];
  const expired: number[] = [];
  for (let e = 0; e < n; e++) {
    if (state[e] === ROW_UNKNOWN) unknown.push(e);
    else if (state[e] === ROW_EXPIRED) expired.push(e);
  }
  const block = new Float32Array(n * features.length);
  const columns = features.map((f, c) => {
    const values = block.subarray(c * n, (c + 1) * n);
    const missing: number[] = [];
    const { offset } = f;
    for (let e = 0; e < n; e++) {
      const v = state[e] === ROW_FOUND && offset < width ? (rows[e * width + offset] as number) : NaN;
      if (v !== v) {
        values[e] = f.default;
        missing.push(e);
      } else values[e] = v;
    }
    return { name: f.name, values, missing };
  });
  return { view, entityCount: n, columns, unknown, expired };
}

/**
 * As {@link columnsFromRows}, from one vector (or unknown, or expired) per entity: the
 * vectors are copied into rows first.
 */
export function columnsFromVectors(view: ViewName, entities: readonly EntityValue[], features: readonly ResolvedFeature[]): FeatureRead {
  const n = entities.length;
  let width = 0;
  for (const v of entities) if (v !== undefined && v !== 'expired') width = Math.max(width, v.length);
  for (const f of features) width = Math.max(width, f.offset + 1);
  const rows = new Float32Array(n * width).fill(NaN);
  const state = new Uint8Array(n);
  entities.forEach((v, e) => {
    if (v === undefined) state[e] = ROW_UNKNOWN;
    else if (v === 'expired') state[e] = ROW_EXPIRED;
    else for (let i = 0; i < v.length; i++) rows[e * width + i] = v[i] as number;
  });
  return columnsFromRows(view, { rows, width, state }, features);
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
