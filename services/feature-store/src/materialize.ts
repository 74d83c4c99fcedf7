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
  /** How long the lease lasts without renewal, in ms (renewed every third of it); default 30 s. */
  leaseMs?: number;
  /** How long to wait for another run's lease (it finishing, or expiring after a crash), in ms; default 60 s, 0 = fail at once. */
  leaseWaitMs?: number;
  /** Told once when the run has to wait for another run's lease. */
  onLeaseWait?: (holder: string, ttlMs: number) => void;
}

/** Another run holds the materialize lease, or this run lost it: nothing was switched. */
export class LeaseError extends Error {
  override name = 'LeaseError';
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
  /** Fencing token of the run that claimed it. */
  fence?: number;
}

/** Takes the lease: SET NX PX, value `<fence>:<run>`; the fence is the INCR of the fence counter. */
const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
/**
 * Switches the pointer only while this run holds the lease and the namespace's claim is
 * still its fence (no other run claimed, or collected, the namespace meanwhile). KEYS:
 * current, lease, claim (one slot: the lease and claim keys carry the pointer key as their
 * hash tag). ARGV: lease token, fence, version.
 */
const SWITCH_SCRIPT = `if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'lease' end
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 'claim' end
redis.call('SET', KEYS[1], ARGV[3])
return 'ok'`;

/** Keys of the lease protocol, all in the slot of the pointer key. */
function leaseKeys(keys: RedisKeys) {
  const tag = `{${keys.current()}}`;
  return { lease: `${tag}:materialize-lease`, fence: `${tag}:materialize-fence`, claim: (v: string) => `${tag}:claim:${v}` };
}

/**
 * The materialize lease: one run at a time may load and switch. It is a Redis key set
 * NX with an expiry and renewed every third of it; its fencing token (an INCR) marks
 * the namespace the run claims, and the switch of the live pointer checks both
 * atomically. A run paused past its lease (a stopped process, a long GC) finds on waking
 * that it lost it: it stops writing, refuses to switch, and collects its own namespace
 * unless another run claimed it.
 */
class Lease {
  private timer: NodeJS.Timeout | undefined;
  lost = false;

  private constructor(
    private readonly redis: RedisLike,
    private readonly key: string,
    readonly token: string,
    readonly fence: number,
    private readonly ms: number,
  ) {}

  static async take(redis: RedisLike, keys: RedisKeys, ms: number, waitMs: number, onWait: (holder: string, ttlMs: number) => void): Promise<Lease> {
    const k = leaseKeys(keys);
    const until = Date.now() + waitMs;
    let told = false;
    let fence: number;
    let token: string;
    for (;;) {
      fence = await redis.incr(k.fence);
      token = `${fence}:${process.pid}:${Math.random().toString(36).slice(2, 10)}`;
      if ((await redis.set(k.lease, token, 'PX', ms, 'NX')) === 'OK') break;
      const [holder, ttl] = await Promise.all([redis.get(k.lease), redis.pttl(k.lease)]);
      if (Date.now() >= until) {
        throw new LeaseError(
          `another materialize run holds the lease (${holder ?? 'unknown'}, ${Math.max(0, ttl)} ms left)${waitMs > 0 ? ` after waiting ${waitMs / 1000} s` : ''}: it may still be loading; run again once it has finished (a run that died frees the lease within its --lease-seconds)`,
        );
      }
      if (!told) onWait(holder ?? 'unknown', Math.max(0, ttl));
      told = true;
      await new Promise((r) => setTimeout(r, 200));
    }
    const lease = new Lease(redis, k.lease, token, fence, ms);
    lease.timer = setInterval(() => void lease.renew(), Math.max(50, Math.floor(ms / 3)));
    lease.timer.unref();
    return lease;
  }

  /** Renews, or records that the lease is gone. */
  async renew(): Promise<boolean> {
    if (this.lost) return false;
    try {
      const ok = Number(await this.redis.eval(RENEW_SCRIPT, 1, this.key, this.token, this.ms)) === 1;
      if (!ok) this.lost = true;
    } catch {
      /* Redis unreachable: the next renewal (or the switch) decides */
    }
    return !this.lost;
  }

  /** Throws LeaseError unless the lease is still held (checked against Redis). */
  async check(what: string): Promise<void> {
    if (!(await this.renew())) throw new LeaseError(`lost the materialize lease (fence ${this.fence}) before ${what}: another run took over; nothing switched`);
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.redis.eval(RELEASE_SCRIPT, 1, this.key, this.token).catch(() => {});
  }
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
      markers: true,
      materialized_at: Date.now(),
      ...(manifest.serving ? { serving_recent_items: manifest.serving.recent_items } : {}),
    } satisfies SnapshotMeta);

  const lease = await Lease.take(redis, keys, opts.leaseMs ?? 30_000, opts.leaseWaitMs ?? 60_000, opts.onLeaseWait ?? (() => {}));
  try {
    return await load();
  } catch (err) {
    if (lease.lost || err instanceof LeaseError) await collectOwn(redis, keys, version, lease.fence).catch(() => {});
    throw err;
  } finally {
    await lease.release();
  }

  async function load(): Promise<MaterializeSummary> {
  const lk = leaseKeys(keys);
  const previous = (await redis.get(keys.current())) ?? undefined;
  const garbage = await collectGarbage(redis, keys, [version, previous], graceMs);
  const deleted = garbage.versions;
  let deletedKeys = garbage.keys;
  const setState = (v: string, state: VersionState['state']) => redis.hset(keys.versions(), v, JSON.stringify({ state, since: Date.now(), fence: lease.fence } satisfies VersionState));
  // Claim the namespace with this run's fence: a run that claimed it before (and lost its
  // lease) can no longer switch to it.
  await redis.set(lk.claim(version), String(lease.fence));
  if (previous !== version) {
    await setState(version, 'loading');
    await redis.set(keys.meta(version), meta(false));
  }

  let written = 0;
  const writeRows = async (phase: MaterializeProgress['phase'], ids: readonly string[], value: (row: number, id: string) => Buffer | string, key: (id: string) => string): Promise<void> => {
    for (let start = 0; start < ids.length; start += batchSize) {
      if (lease.lost) throw new LeaseError(`lost the materialize lease (fence ${lease.fence}) while loading ${phase}: another run took over; nothing switched`);
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

  // The markers every read checks (one per bucket of each view, in the bucket's slot).
  const markers: Promise<unknown>[] = [];
  for (const view of ['user', 'item'] as const) for (let b = 0; b < buckets; b++) markers.push(redis.set(keys.marker(version, view, b), version));
  await Promise.all(markers);
  written += markers.length;

  // Complete first, then the pointer: a reader that sees the new pointer finds complete meta.
  await lease.check('switching the live pointer');
  await redis.set(keys.meta(version), meta(true));
  const switched = String(await redis.eval(SWITCH_SCRIPT, 3, keys.current(), lk.lease, lk.claim(version), lease.token, String(lease.fence), version));
  if (switched !== 'ok') {
    throw new LeaseError(
      switched === 'lease'
        ? `lost the materialize lease (fence ${lease.fence}) before switching the live pointer: another run took over; the pointer still names ${previous ?? 'nothing'}`
        : `namespace ${version} was claimed or collected by another run while this one (fence ${lease.fence}) loaded it; the pointer was not switched`,
    );
  }
  await setState(version, 'live');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (previous && previous !== version) {
    await setState(previous, 'retired');
    opts.onGrace?.(previous, graceMs);
    if (graceMs > 0) await new Promise((r) => setTimeout(r, graceMs));
    // Only while still holding the lease: otherwise the next run's clean-up collects it.
    if (!lease.lost && (await redis.get(keys.current())) !== previous) {
      deletedKeys += await deleteVersion(redis, keys, previous);
      deleted.push(previous);
    }
  }
  return { version, previous, keys: written + 2, seconds, keysPerSecond: written / Math.max(seconds, 1e-9), deleted, deletedKeys };
  }
}

/**
 * A run that lost its lease collects the namespace it was writing, unless another run
 * claimed it since (same version loaded again) or it is live.
 */
async function collectOwn(redis: RedisLike, keys: RedisKeys, version: string, fence: number): Promise<void> {
  const claim = await redis.get(leaseKeys(keys).claim(version));
  if (claim !== null && claim !== String(fence)) return;
  if ((await redis.get(keys.current())) === version) return;
  await deleteVersion(redis, keys, version);
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
  // Markers first: from here on every read of this version fails (snapshot gone) instead
  // of finding some entities deleted and others not.
  const raw = await redis.get(keys.meta(version));
  const buckets = raw ? Number((JSON.parse(raw) as Partial<SnapshotMeta>).buckets ?? 0) : 0;
  if (buckets > 0) {
    const unlinks: Promise<number>[] = [];
    for (const view of ['user', 'item'] as const) for (let b = 0; b < buckets; b++) unlinks.push(redis.unlink(keys.marker(version, view, b)));
    removed += (await Promise.all(unlinks)).reduce((a, n) => a + n, 0);
  }
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
  await redis.del(leaseKeys(keys).claim(version));
  return removed;
}
