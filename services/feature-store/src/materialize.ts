import type { LoadedArtifacts } from '@recsys/core';
import type { Redis } from 'ioredis';
import { RedisKeys, encodeVector } from './redis-keys';
import type { SnapshotMeta } from './redis-backend';

export interface MaterializeProgress {
  phase: 'users' | 'items' | 'histories';
  done: number;
  total: number;
}

export interface MaterializeSummary {
  version: string;
  keys: number;
  seconds: number;
  keysPerSecond: number;
}

/**
 * Writes an artifact's feature snapshot into Redis under the artifact's version
 * namespace, in pipelined batches, then marks the snapshot complete and switches the
 * live pointer to it. Readers see either the old or the new version, never a mix: the
 * pointer is switched only after every key is written. Re-running is safe (same keys,
 * same values).
 */
export async function materialize(
  redis: Redis,
  keys: RedisKeys,
  artifacts: LoadedArtifacts,
  onProgress: (p: MaterializeProgress) => void = () => {},
  batchSize = 1000,
): Promise<MaterializeSummary> {
  const started = process.hrtime.bigint();
  const { manifest } = artifacts;
  const version = manifest.version;
  let written = 0;
  const meta = (complete: boolean): string =>
    JSON.stringify({ version, feature_views: manifest.feature_views, complete } satisfies SnapshotMeta);
  await redis.set(keys.meta(version), meta(false));

  const writeRows = async (
    phase: MaterializeProgress['phase'],
    ids: readonly string[],
    value: (row: number, id: string) => Buffer | string | undefined,
    key: (id: string) => string,
  ): Promise<void> => {
    for (let start = 0; start < ids.length; start += batchSize) {
      const pipe = redis.pipeline();
      const end = Math.min(ids.length, start + batchSize);
      for (let row = start; row < end; row++) {
        const id = ids[row] as string;
        const v = value(row, id);
        if (v !== undefined) pipe.set(key(id), v);
      }
      const results = await pipe.exec();
      for (const [err] of results ?? []) if (err) throw err;
      written += end - start;
      onProgress({ phase, done: end, total: ids.length });
    }
  };

  const userWidth = manifest.feature_views.user.features.length;
  const itemWidth = manifest.feature_views.item.features.length;
  await writeRows(
    'users',
    artifacts.userIds,
    (row) => encodeVector(artifacts.userFeatures.subarray(row * userWidth, (row + 1) * userWidth)),
    (id) => keys.entity(version, 'user', id),
  );
  await writeRows(
    'items',
    artifacts.itemIds,
    (row) => encodeVector(artifacts.itemFeatures.subarray(row * itemWidth, (row + 1) * itemWidth)),
    (id) => keys.entity(version, 'item', id),
  );
  const historyUsers = [...artifacts.userHistory.keys()];
  await writeRows(
    'histories',
    historyUsers,
    (_row, id) => (artifacts.userHistory.get(id) ?? []).join('\n'),
    (id) => keys.history(version, id),
  );
  // Complete, then switch: MULTI makes the two writes one step for readers.
  await redis.multi().set(keys.meta(version), meta(true)).set(keys.current(), version).exec();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { version, keys: written + 2, seconds, keysPerSecond: written / Math.max(seconds, 1e-9) };
}
