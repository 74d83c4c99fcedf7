import * as os from 'node:os';
import { AsyncHandlers, InvalidArgumentError, checkId, checkIdList } from '@recsys/grpc-kit';
import { FeatureBatch, FeatureStoreServiceService } from '@recsys/proto';
import type { FeatureBackend, FeatureRead } from './backend';
import { validateEvents } from './realtime';

/** Largest batch a GetOnlineFeatures call may read. */
export const MAX_ENTITIES_PER_READ = 10_000;

/**
 * Converts a backend read to the wire's columnar batch: a repeated float per column, or
 * with `packed` every column in one float32 little-endian block (column-major).
 */
export function toFeatureBatch(read: FeatureRead, packed = false): FeatureBatch {
  if (!packed) {
    return {
      featureView: read.view,
      entityCount: read.entityCount,
      columns: read.columns.map((c) => ({ name: c.name, values: Array.from(c.values), missingIndices: c.missing })),
      unknownEntityIndices: read.unknown,
      packedValues: EMPTY,
    };
  }
  const n = read.entityCount;
  const block = new Float32Array(n * read.columns.length);
  read.columns.forEach((c, i) => block.set(c.values, i * n));
  return {
    featureView: read.view,
    entityCount: n,
    columns: read.columns.map((c) => ({ name: c.name, values: [], missingIndices: c.missing })),
    unknownEntityIndices: read.unknown,
    packedValues: toLittleEndianBytes(block),
  };
}

const EMPTY = Buffer.alloc(0);
const LITTLE_ENDIAN = os.endianness() === 'LE';

/** The bytes of a Float32Array as float32 little-endian (a view on little-endian hosts). */
function toLittleEndianBytes(values: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const out = Buffer.allocUnsafe(values.length * 4);
  values.forEach((v, i) => out.writeFloatLE(v, i * 4));
  return out;
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
): AsyncHandlers<typeof FeatureStoreServiceService> {
  return {
    async getOnlineFeatures(req) {
      checkIdList('entity_ids', req.entityIds, MAX_ENTITIES_PER_READ);
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
      const ctx = await b.userContext(req.userId, req.maxRecentItems || defaults.maxRecentItems);
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
      const events = validateEvents(req.events, Date.now());
      return backend().ingest(events);
    },
  };
}
