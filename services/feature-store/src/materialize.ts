import type { LoadedArtifacts } from '@recsys/core';
import type { SnapshotMeta } from './redis-backend';
import { masterNodes } from './redis-client';
import { RedisKeys, encodeEntity } from './redis-keys';
import type { RedisLike } from './redis-realtime';
import { NO_TTL, ViewTtls } from './registry';

export interface MaterializeProgress {
  phase: 'users' | 'items' | 'histories';
  done: number;
  total: number;
}

export interface MaterializeOptions {
  /** Namespace to write (default: the artifact's version). */
  version?: string;
  /** Hash-tag buckets per view (spreads a view over that many cluster slots). */
  buckets?: number;
  /** Per-view TTL recorded in the snapshot (values older read as expired). */
  ttlSeconds?: ViewTtls;
  /** When the snapshot's values were computed, unix seconds (default: now); TTLs count from it. */
  writtenAtSec?: number;
  /** Keys written per batch (one progress step). */
  batchSize?: number;
  /** How long a replaced version stays readable before it is deleted, in ms. */
  graceMs?: number;
  onProgress?: (p: MaterializeProgress) => void;
  /** Told before waiting out the grace period. */
  onGrace?: (oldVersion: string, ms: number) => void;
}

export interface MaterializeSummary {
  version: string;
  previous: string | undefined;
  keys: number;
  /** Time of the load itself (not the grace period). */
  seconds: number;
  keysPerSecond: number;
  /** Versions whose keys were deleted (replaced ones past their grace, abandoned loads). */
  deleted: string[];
  /** Keys those deletions removed. */
  deletedKeys: number;
}

/** State of a version in `<prefix>:versions`. */
interface VersionState {
  state: 'loading' | 'live' | 'retired';
  since: number;
}

export const DEFAULT_BUCKETS = 64;

/**
 * Loads an artifact's feature snapshot into Redis under a version namespace and then
 * switches the live pointer to it:
 *
 * 1. versions retired more than the grace period ago, and loads abandoned by a crash as
 *    long ago, are deleted;
 * 2. every entity and history is written under `<prefix>:{<version>…}` in batches (meta
 *    says `complete: false` meanwhile, and the pointer still names the old version);
 * 3. meta is marked complete, then the pointer is set: one single-key write, so readers
 *    switch atomically and never see a half-loaded version;
 * 4. the old version is marked retired, and deleted after `graceMs` (readers that picked
 *    it up just before the switch finish first).
 *
 * A crash anywhere leaves the old version live; running again rewrites the same keys with
 * the same values and completes.
 */
export async function materialize(redis: RedisLike, keys: RedisKeys, artifacts: LoadedArtifacts, opts: MaterializeOptions = {}): Promise<MaterializeSummary> {
  const started = process.hrtime.bigint();
  const { manifest } = artifacts;
  const version = opts.version ?? manifest.version;
  const buckets = opts.buckets ?? DEFAULT_BUCKETS;
  const batchSize = opts.batchSize ?? 1000;
  const graceMs = opts.graceMs ?? 30_000;
  const onProgress = opts.onProgress ?? (() => {});
  const writtenAtSec = opts.writtenAtSec ?? Math.floor(Date.now() / 1000);
  const meta = (complete: boolean): string =>
    JSON.stringify({
      version,
      feature_views: manifest.feature_views,
      complete,
      buckets,
      ttl_seconds: opts.ttlSeconds ?? NO_TTL,
      ...(manifest.serving ? { serving_recent_items: manifest.serving.recent_items } : {}),
    } satisfies SnapshotMeta);

  const previous = (await redis.get(keys.current())) ?? undefined;
  const garbage = await collectGarbage(redis, keys, [version, previous], graceMs);
  const deleted = garbage.versions;
  let deletedKeys = garbage.keys;
  const setState = (v: string, state: VersionState['state']) => redis.hset(keys.versions(), v, JSON.stringify({ state, since: Date.now() } satisfies VersionState));
  if (previous !== version) {
    await setState(version, 'loading');
    await redis.set(keys.meta(version), meta(false));
  }

  let written = 0;
  const writeRows = async (phase: MaterializeProgress['phase'], ids: readonly string[], value: (row: number, id: string) => Buffer | string, key: (id: string) => string): Promise<void> => {
    for (let start = 0; start < ids.length; start += batchSize) {
      const end = Math.min(ids.length, start + batchSize);
      const writes: Promise<unknown>[] = [];
      // Auto-pipelined: one write per node for the whole batch.
      for (let row = start; row < end; row++) writes.push(redis.set(key(ids[row] as string), value(row, ids[row] as string)));
      await Promise.all(writes);
      written += end - start;
      onProgress({ phase, done: end, total: ids.length });
    }
  };

  const userWidth = manifest.feature_views.user.features.length;
  const itemWidth = manifest.feature_views.item.features.length;
  await writeRows(
    'users',
    artifacts.userIds,
    (row) => encodeEntity(artifacts.userFeatures.subarray(row * userWidth, (row + 1) * userWidth), writtenAtSec),
    (id) => keys.entity(version, 'user', id, buckets),
  );
  await writeRows(
    'items',
    artifacts.itemIds,
    (row) => encodeEntity(artifacts.itemFeatures.subarray(row * itemWidth, (row + 1) * itemWidth), writtenAtSec),
    (id) => keys.entity(version, 'item', id, buckets),
  );
  await writeRows('histories', [...artifacts.userHistory.keys()], (_row, id) => (artifacts.userHistory.get(id) ?? []).join('\n'), (id) => keys.history(version, id, buckets));

  // Complete first, then the pointer: a reader that sees the new pointer finds complete meta.
  await redis.set(keys.meta(version), meta(true));
  await redis.set(keys.current(), version);
  await setState(version, 'live');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (previous && previous !== version) {
    await setState(previous, 'retired');
    opts.onGrace?.(previous, graceMs);
    if (graceMs > 0) await new Promise((r) => setTimeout(r, graceMs));
    if ((await redis.get(keys.current())) !== previous) {
      deletedKeys += await deleteVersion(redis, keys, previous);
      deleted.push(previous);
    }
  }
  return { version, previous, keys: written + 2, seconds, keysPerSecond: written / Math.max(seconds, 1e-9), deleted, deletedKeys };
}

/** Deletes versions other than `keep` that were retired, or left loading, more than `graceMs` ago. */
async function collectGarbage(redis: RedisLike, keys: RedisKeys, keep: readonly (string | undefined)[], graceMs: number): Promise<{ versions: string[]; keys: number }> {
  const all = await redis.hgetall(keys.versions());
  const current = await redis.get(keys.current());
  const deleted: string[] = [];
  let removed = 0;
  for (const [v, raw] of Object.entries(all)) {
    if (keep.includes(v) || v === current) continue;
    const s = JSON.parse(raw) as VersionState;
    if (s.state !== 'live' && s.since + graceMs <= Date.now()) {
      removed += await deleteVersion(redis, keys, v);
      deleted.push(v);
    }
  }
  return { versions: deleted, keys: removed };
}

/** Deletes every key of a version (SCAN on each master, UNLINK per key: keys differ in slot). */
async function deleteVersion(redis: RedisLike, keys: RedisKeys, version: string): Promise<number> {
  let removed = 0;
  for (const node of masterNodes(redis)) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', keys.versionPattern(version), 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) {
        const pipe = node.pipeline();
        for (const k of found) pipe.unlink(k);
        await pipe.exec();
        removed += found.length;
      }
    } while (cursor !== '0');
  }
  await redis.hdel(keys.versions(), version);
  return removed;
}
