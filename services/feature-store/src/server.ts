import { AsyncHandlers, InvalidArgumentError, checkId, checkIdList } from '@recsys/grpc-kit';
import { FeatureBatch, FeatureStoreServiceService } from '@recsys/proto';
import type { FeatureBackend, FeatureRead } from './backend';

/** Largest batch a GetOnlineFeatures call may read. */
export const MAX_ENTITIES_PER_READ = 10_000;

/** Converts a backend read to the wire's columnar batch. */
export function toFeatureBatch(read: FeatureRead): FeatureBatch {
  return {
    featureView: read.view,
    entityCount: read.entityCount,
    columns: read.columns.map((c) => ({ name: c.name, values: Array.from(c.values), missingIndices: c.missing })),
    unknownEntityIndices: read.unknown,
  };
}

/** The gRPC handlers over the live backend. */
export function featureStoreHandlers(
  backend: () => FeatureBackend,
  defaults: { maxRecentItems: number },
): AsyncHandlers<typeof FeatureStoreServiceService> {
  return {
    async getOnlineFeatures(req) {
      checkIdList('entity_ids', req.entityIds, MAX_ENTITIES_PER_READ);
      const b = backend();
      const { view, features } = b.registry().resolve(req.featureView, req.featureNames);
      const read = await b.read(view, req.entityIds, features);
      return { features: toFeatureBatch(read), snapshotVersion: b.version() };
    },
    async getUserContext(req) {
      checkId('user_id', req.userId);
      if (req.maxRecentItems < 0 || req.maxRecentItems > 1000) {
        throw new InvalidArgumentError('max_recent_items', `must be between 0 and 1000, got ${req.maxRecentItems}`);
      }
      const b = backend();
      const ctx = await b.userContext(req.userId, req.maxRecentItems || defaults.maxRecentItems);
      return {
        recentItemIds: ctx.recent,
        seenItemIds: ctx.seen,
        userFeatures: toFeatureBatch(ctx.features),
        userKnown: ctx.known,
        snapshotVersion: b.version(),
      };
    },
  };
}
