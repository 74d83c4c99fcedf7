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
}

/** What the gateway needs about a user before retrieval. */
export interface UserContextRead {
  recent: string[];
  seen: string[];
  features: FeatureRead;
  known: boolean;
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
  close(): Promise<void>;
}

/**
 * Builds the columns of a read from per-entity vectors (undefined = unknown entity),
 * applying each feature's default where the entity is unknown or the value is NaN.
 */
export function columnsFromVectors(
  view: ViewName,
  vectors: readonly (ArrayLike<number> | undefined)[],
  features: readonly ResolvedFeature[],
): FeatureRead {
  const n = vectors.length;
  const unknown: number[] = [];
  for (let e = 0; e < n; e++) if (vectors[e] === undefined) unknown.push(e);
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
  return { view, entityCount: n, columns, unknown };
}
