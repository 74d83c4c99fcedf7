import { DEFAULT_SERVING_CONFIG, InvalidArgumentError, checkId, checkIdList, checkNoDuplicates } from '@recsys/core';
import type { AsyncHandlers } from '@recsys/grpc-kit';
import { FeatureBatch, FeatureStoreServiceService, encodeFeatureBatch } from '@recsys/proto';
import type { FeatureBackend, FeatureRead } from './backend';
import { DEFAULT_EVENT_LIMITS, EventLimits, validateEvents } from './realtime';

/** Request bounds of the feature store (environment variables in config.ts, the README's limits table). */
export interface FeatureStoreLimits {
  /** Entity ids one GetOnlineFeatures call may read. */
  maxEntitiesPerRead: number;
  /** feature_names one GetOnlineFeatures call may list (each at most once). */
  maxFeatureNames: number;
  events: EventLimits;
}

export const DEFAULT_FEATURE_STORE_LIMITS: FeatureStoreLimits = { maxEntitiesPerRead: 10_000, maxFeatureNames: 256, events: DEFAULT_EVENT_LIMITS };

/**
 * Converts a backend read to the wire's columnar batch: a repeated float per column, or
 * with `packed` every column in one float32 little-endian block (the codec of @recsys/proto).
 */
export function toFeatureBatch(read: FeatureRead, packed = false): FeatureBatch {
  return encodeFeatureBatch(read.view, read.entityCount, read.columns, read.unknown, packed);
}

/** Called once per read with how many values were defaulted, by reason. */
export type DefaultsObserver = (view: string, reason: 'missing' | 'expired', values: number) => void;

/** Counts the defaulted values of a read: values of expired entities apart from the rest. */
export function countDefaults(read: FeatureRead, observe: DefaultsObserver): void {
  const expiredValues = read.expired.length * read.columns.length;
  const allMissing = read.columns.reduce((n, c) => n + c.missing.length, 0);
  if (allMissing - expiredValues > 0) observe(read.view, 'missing', allMissing - expiredValues);
  if (expiredValues > 0) observe(read.view, 'expired', expiredValues);
}

/** The gRPC handlers over the live backend. */
export function featureStoreHandlers(
  backend: () => FeatureBackend,
  defaults: { maxRecentItems: number },
  onDefaults: DefaultsObserver = () => {},
  limits: FeatureStoreLimits = DEFAULT_FEATURE_STORE_LIMITS,
): AsyncHandlers<typeof FeatureStoreServiceService> {
  return {
    async getOnlineFeatures(req) {
      // Every bound before any work: a read costs entities × features.
      if (req.featureNames.length > limits.maxFeatureNames) {
        throw new InvalidArgumentError('feature_names', `at most ${limits.maxFeatureNames} entries allowed, got ${req.featureNames.length}`);
      }
      checkNoDuplicates('feature_names', req.featureNames);
      checkIdList('entity_ids', req.entityIds, limits.maxEntitiesPerRead);
      const b = backend();
      const { view, features } = b.registry().resolve(req.featureView, req.featureNames);
      const read = await b.read(view, req.entityIds, features);
      countDefaults(read, onDefaults);
      return { features: toFeatureBatch(read, req.packedValues), snapshotVersion: b.version(), expiredEntityIndices: read.expired };
    },
    async getUserContext(req) {
      checkId('user_id', req.userId);
      if (req.maxRecentItems < 0 || req.maxRecentItems > 1000) {
        throw new InvalidArgumentError('max_recent_items', `must be between 0 and 1000, got ${req.maxRecentItems}`);
      }
      const b = backend();
      // 0 asks for the default: DEFAULT_MAX_RECENT_ITEMS when set, else the snapshot's serving.recent_items, else 20.
      const ctx = await b.userContext(req.userId, req.maxRecentItems || defaults.maxRecentItems || b.servingRecentItems() || DEFAULT_SERVING_CONFIG.recent_items);
      countDefaults(ctx.features, onDefaults);
      return {
        recentItemIds: ctx.recent,
        seenItemIds: ctx.seen,
        userFeatures: toFeatureBatch(ctx.features),
        userKnown: ctx.known,
        snapshotVersion: b.version(),
        realtime: {
          counts: ctx.realtime.counts,
          lastInteractionUnixMs: ctx.realtime.lastInteractionMs,
          recentEventItemIds: ctx.realtime.recent,
        },
      };
    },
    async listFeatureViews() {
      const b = backend();
      return {
        views: b.registry().describe().map((v) => ({
          name: v.name,
          entity: v.entity,
          features: v.features.map((f) => ({ name: f.name, type: f.type, defaultValue: f.default, description: f.description })),
          ttlSeconds: v.ttlSeconds,
          version: v.version,
          description: v.description,
        })),
        snapshotVersion: b.version(),
      };
    },
    async ingestEvents(req) {
      const events = validateEvents(req.events, Date.now(), limits.events);
      return backend().ingest(events);
    },
  };
}
