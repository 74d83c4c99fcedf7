/**
 * One suite, three backends: the memory store, a real single redis-server and a real local
 * 3-master Redis Cluster must read, default, expire and ingest exactly alike.
 */
import { LoadedArtifacts, loadArtifacts } from '@recsys/core';
import type { FeatureBackend } from '@recsys/feature-store/backend';
import { materialize } from '@recsys/feature-store/materialize';
import { MemoryBackend } from '@recsys/feature-store/memory-backend';
import { DEFAULT_REALTIME, InteractionEvent, RealtimeOptions } from '@recsys/feature-store/realtime';
import { CachedItem, RedisBackend } from '@recsys/feature-store/redis-backend';
import { TtlCache } from '@recsys/feature-store/item-cache';
import { connectRedis, createRedisClient, masterNodes } from '@recsys/feature-store/redis-client';
import { RedisKeys } from '@recsys/feature-store/redis-keys';
import type { Redis } from 'ioredis';
import type { ViewTtls } from '@recsys/feature-store/registry';
import { RedisCluster, keysPerNode, startRedisCluster } from '../support/redis-cluster';
import { RedisServer, startRedis, testArtifactsRoot } from '../support/helpers';

jest.setTimeout(120_000);

type Kind = 'memory' | 'redis' | 'cluster';
interface Setup {
  ttlSeconds?: ViewTtls;
  writtenAtSec?: number;
  itemCache?: TtlCache<CachedItem>;
  commandTimeoutMs?: number;
}

let artifacts: LoadedArtifacts;
let redis: RedisServer;
let cluster: RedisCluster;
const opened: FeatureBackend[] = [];
let prefixes = 0;
const REALTIME: RealtimeOptions = { ...DEFAULT_REALTIME, maxRecent: 5 };

beforeAll(async () => {
  artifacts = loadArtifacts(testArtifactsRoot(), ['itemFeatures', 'userFeatures', 'userHistory']);
  [redis, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
});

afterAll(async () => {
  await Promise.all(opened.map((b) => b.close()));
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

/** A backend of `kind` serving the test artifact (Redis ones materialized under a fresh prefix). */
async function open(kind: Kind, setup: Setup = {}): Promise<FeatureBackend> {
  let b: FeatureBackend;
  if (kind === 'memory') b = new MemoryBackend(artifacts, { ...setup, realtime: REALTIME });
  else {
    const client = createRedisClient(kind === 'redis' ? redis.url : cluster.url, setup.commandTimeoutMs ?? 5000, kind === 'redis' ? 'single' : 'cluster');
    client.on('error', () => {}); // a fault test stops a node on purpose; failures surface on the calls
    await connectRedis(client);
    const keys = new RedisKeys(`t${prefixes++}`);
    await materialize(client, keys, artifacts, { ...setup, graceMs: 0, buckets: 16 });
    const rb = new RedisBackend(client, keys, { realtime: REALTIME, itemCache: setup.itemCache });
    await rb.refresh();
    b = rb;
  }
  opened.push(b);
  return b;
}

function row(view: 'user' | 'item', id: string): number[] {
  const index = view === 'user' ? artifacts.userIndex : artifacts.itemIndex;
  const m = view === 'user' ? artifacts.userFeatures : artifacts.itemFeatures;
  const width = artifacts.manifest.feature_views[view].features.length;
  const r = index.get(id) as number;
  return Array.from(m.subarray(r * width, (r + 1) * width));
}

describe('memory backend hot reload', () => {
  it('keeps the real-time state when the snapshot is swapped', async () => {
    const before = new MemoryBackend(artifacts, { realtime: REALTIME });
    const user = artifacts.userIds[0] as string;
    await before.ingest([{ eventId: 'reload-1', userId: user, itemId: 'item-x', eventType: 'click', timeMs: Date.now() }]);
    const after = new MemoryBackend(artifacts, { realtime: REALTIME, realtimeState: before.realtimeState });
    expect((await after.userContext(user, 5)).recent[0]).toBe('item-x');
    // And without handing the state over, a fresh backend knows nothing of the event.
    expect((await new MemoryBackend(artifacts, { realtime: REALTIME }).userContext(user, 5)).recent[0]).not.toBe('item-x');
  });
});

describe.each<Kind>(['memory', 'redis', 'cluster'])('%s backend', (kind) => {
  let b: FeatureBackend;
  beforeAll(async () => {
    b = await open(kind);
  });

  it('serves the registry of the artifact: views, features, defaults, version', () => {
    const views = b.registry().describe();
    expect(views.map((v) => v.name)).toEqual(['user', 'item']);
    const item = views[1]!;
    expect(item.features.map((f) => [f.name, f.default])).toEqual(artifacts.manifest.feature_views.item.features.map((f) => [f.name, f.default]));
    expect(item.features.every((f) => f.type === 'float32')).toBe(true);
    expect(item.ttlSeconds).toBe(0);
    expect(b.version()).toBe(artifacts.manifest.version);
  });

  it('reads 300 items in request order with exact values; unknown ids get the declared defaults', async () => {
    const ids = [...artifacts.itemIds.slice(0, 299), 'no-such-item'];
    const { features } = b.registry().resolve('item', []);
    const read = await b.read('item', ids, features);
    expect(read.entityCount).toBe(300);
    expect(read.unknown).toEqual([299]);
    expect(read.expired).toEqual([]);
    for (const [c, col] of read.columns.entries()) {
      expect(col.name).toBe(features[c]!.name);
      for (let e = 0; e < 299; e++) expect(col.values[e]).toBe(row('item', ids[e]!)[c]);
      expect(col.values[299]).toBe(Math.fround(features[c]!.default));
      expect(col.missing).toContain(299);
    }
  });

  it('reads only the named features, in the order asked', async () => {
    const names = artifacts.manifest.feature_views.item.features.map((f) => f.name).reverse();
    const id = artifacts.itemIds[7]!;
    const read = await b.read('item', [id], b.registry().resolve('item', names).features);
    expect(read.columns.map((c) => c.name)).toEqual(names);
    expect(read.columns.map((c) => c.values[0])).toEqual([...row('item', id)].reverse());
  });

  it('returns an empty batch for no entities', async () => {
    const read = await b.read('user', [], b.registry().resolve('user', []).features);
    expect(read.entityCount).toBe(0);
    expect(read.columns.every((c) => c.values.length === 0)).toBe(true);
  });

  it('gives a known user their history, recent items and features; an unknown user defaults', async () => {
    const user = artifacts.userIds.find((u) => (artifacts.userHistory.get(u)?.length ?? 0) >= 6)!;
    const history = artifacts.userHistory.get(user)!;
    const ctx = await b.userContext(user, 3);
    expect(ctx.known).toBe(true);
    expect(ctx.recent).toEqual(history.slice(0, 3));
    expect(new Set(ctx.seen)).toEqual(new Set(history));
    expect(ctx.features.columns.map((c) => c.values[0])).toEqual(row('user', user));
    const nobody = await b.userContext('nobody-at-all', 3);
    expect(nobody).toMatchObject({ known: false, recent: [], seen: [] });
    expect(nobody.features.unknown).toEqual([0]);
  });

  it('applies events: recent newest first (bounded, no repeats), seen set, counts per window, last time', async () => {
    const user = `rt-user-${kind}`;
    const now = Date.now();
    const ev = (id: string, item: string, type: string, ago: number): InteractionEvent => ({ eventId: id, userId: user, itemId: item, eventType: type, timeMs: now - ago });
    const batch = [
      ev('e1', 'i1', 'view', 2 * 86_400_000),
      ev('e2', 'i2', 'view', 120_000),
      ev('e3', 'i3', 'click', 60_000),
      ev('e4', 'i1', 'purchase', 1000),
      ev('e5', 'i4', 'view', 900),
      ev('e6', 'i5', 'view', 800),
      ev('e7', 'i6', 'view', 700),
      ev('old', 'i9', 'view', 40 * 86_400_000),
    ];
    expect(await b.ingest(batch)).toEqual({ applied: 8, duplicates: 0 });
    const ctx = await b.userContext(user, 10);
    // i9's event is older than the longest window and the seen TTL: kept in recent only.
    expect(ctx.realtime.recent).toEqual(['i6', 'i5', 'i4', 'i1', 'i3']);
    expect(ctx.recent).toEqual(['i6', 'i5', 'i4', 'i1', 'i3']);
    expect(new Set(ctx.seen)).toEqual(new Set(['i1', 'i2', 'i3', 'i4', 'i5', 'i6']));
    expect(ctx.known).toBe(true);
    expect(ctx.realtime.lastInteractionMs).toBe(now - 700);
    expect(ctx.realtime.counts).toEqual([
      { eventType: 'click', windowSeconds: 3600, count: 1 },
      { eventType: 'click', windowSeconds: 86_400, count: 1 },
      { eventType: 'click', windowSeconds: 604_800, count: 1 },
      { eventType: 'purchase', windowSeconds: 3600, count: 1 },
      { eventType: 'purchase', windowSeconds: 86_400, count: 1 },
      { eventType: 'purchase', windowSeconds: 604_800, count: 1 },
      { eventType: 'view', windowSeconds: 3600, count: 4 },
      { eventType: 'view', windowSeconds: 86_400, count: 4 },
      { eventType: 'view', windowSeconds: 604_800, count: 5 },
    ]);
  });

  it('is idempotent on the event id: a retried batch is not counted twice', async () => {
    const user = `retry-user-${kind}`;
    const batch: InteractionEvent[] = [
      { eventId: 'r1', userId: user, itemId: 'a', eventType: 'click', timeMs: Date.now() - 10 },
      { eventId: 'r2', userId: user, itemId: 'b', eventType: 'click', timeMs: Date.now() - 5 },
    ];
    expect(await b.ingest(batch)).toEqual({ applied: 2, duplicates: 0 });
    expect(await b.ingest([...batch, { ...batch[0]!, eventId: 'r3' }])).toEqual({ applied: 1, duplicates: 2 });
    const ctx = await b.userContext(user, 10);
    expect(ctx.realtime.counts.find((c) => c.windowSeconds === 3600)).toEqual({ eventType: 'click', windowSeconds: 3600, count: 3 });
    expect(ctx.realtime.recent).toEqual(['a', 'b']);
  });

  it('puts events of many users in one batch, each applied to its own user', async () => {
    const users = Array.from({ length: 20 }, (_, i) => `many-${kind}-${i}`);
    const res = await b.ingest(users.map((u, i) => ({ eventId: `m${i}`, userId: u, itemId: `item-${i}`, eventType: 'view', timeMs: Date.now() })));
    expect(res).toEqual({ applied: 20, duplicates: 0 });
    for (const [i, u] of users.entries()) expect((await b.userContext(u, 5)).realtime.recent).toEqual([`item-${i}`]);
  });

  it('marks values older than the view TTL expired and serves the defaults', async () => {
    const old = await open(kind, { ttlSeconds: { user: 0, item: 3600 }, writtenAtSec: Math.floor(Date.now() / 1000) - 7200 });
    expect(old.registry().describe()[1]!.ttlSeconds).toBe(3600);
    const ids = [artifacts.itemIds[0]!, 'no-such-item', artifacts.itemIds[1]!];
    const { features } = old.registry().resolve('item', []);
    const read = await old.read('item', ids, features);
    expect(read.expired).toEqual([0, 2]);
    expect(read.unknown).toEqual([1]);
    for (const [c, col] of read.columns.entries()) {
      expect(Array.from(col.values)).toEqual([0, 1, 2].map(() => Math.fround(features[c]!.default)));
      expect(col.missing).toEqual([0, 1, 2]);
    }
    // The user view has no TTL: still present.
    const u = artifacts.userIds[0]!;
    expect((await old.userContext(u, 1)).features.columns.map((c) => c.values[0])).toEqual(row('user', u));
  });
});

it('the cluster really spreads the snapshot over all three masters', async () => {
  await open('cluster');
  const counts = await keysPerNode(cluster);
  expect(counts).toHaveLength(3);
  for (const c of counts) expect(c).toBeGreaterThan(0);
});

describe('redis backend socket writes', () => {
  it('writes a user context in one socket write, and a 300-item read in one', async () => {
    const client = createRedisClient(redis.url, 5000, 'single');
    await connectRedis(client);
    const keys = new RedisKeys(`t${prefixes++}`);
    await materialize(client, keys, artifacts, { graceMs: 0, buckets: 16 });
    const rb = new RedisBackend(client, keys, { realtime: REALTIME });
    await rb.refresh();
    opened.push(rb);
    const user = artifacts.userIds.find((u) => (artifacts.userHistory.get(u)?.length ?? 0) >= 6)!;
    const writes = jest.spyOn((client as Redis).stream, 'write');
    try {
      // The user's row, history and four real-time reads: six commands, one write.
      const ctx = await rb.userContext(user, 5);
      expect(ctx.features.columns.map((c) => c.values[0])).toEqual(row('user', user));
      expect(ctx.seen.length).toBeGreaterThanOrEqual(6);
      expect(writes).toHaveBeenCalledTimes(1);
      writes.mockClear();
      const ids = artifacts.itemIds.slice(0, 300);
      const read = await rb.read('item', ids, rb.registry().resolve('item', []).features);
      expect(read.columns[0]!.values[299]).toBe(row('item', ids[299]!)[0]);
      expect(writes).toHaveBeenCalledTimes(1);
    } finally {
      writes.mockRestore();
    }
  });
});

describe.each<Kind>(['redis', 'cluster'])('%s backend with the in-process item cache', (kind) => {
  it('serves repeated items from the cache with the same values, and unknown ids stay unknown', async () => {
    const cache = new TtlCache<CachedItem>(1000, 60_000);
    const cached = await open(kind, { itemCache: cache });
    const plain = await open(kind);
    const ids = [...artifacts.itemIds.slice(0, 299), 'no-such-item'];
    const { features } = cached.registry().resolve('item', []);
    const first = await cached.read('item', ids, features);
    expect([cache.hits, cache.misses, cache.size]).toEqual([0, 300, 300]);
    const second = await cached.read('item', ids, features);
    expect([cache.hits, cache.misses]).toEqual([300, 300]);
    expect(second).toEqual(first);
    expect(second).toEqual(await plain.read('item', ids, features));
    expect(second.unknown).toEqual([299]);
    // An entry of another snapshot version is never served: it is a miss, replaced by the live one.
    const id = ids[5]!;
    cache.set(id, { version: 'some-other-version', entity: { values: new Float32Array(features.length).fill(999), writtenAtSec: 0 } });
    const third = await cached.read('item', ids, features);
    expect(third).toEqual(first);
    expect(cache.get(id)?.value.version).toBe(cached.version());
  });
});

describe.each<Kind>(['redis', 'cluster'])('%s bulk loads', (kind) => {
  it('a second load switches the pointer and deletes the replaced version from every node', async () => {
    const client = createRedisClient(kind === 'redis' ? redis.url : cluster.url, 5000, kind === 'redis' ? 'single' : 'cluster');
    await connectRedis(client);
    const keys = new RedisKeys(`switch${prefixes++}`);
    const countKeys = async (version: string): Promise<number> => {
      let n = 0;
      for (const node of masterNodes(client)) {
        let cursor = '0';
        do {
          const [next, found] = await node.scan(cursor, 'MATCH', keys.versionPattern(version), 'COUNT', 1000);
          cursor = next;
          n += found.length;
        } while (cursor !== '0');
      }
      return n;
    };
    try {
      const a = await materialize(client, keys, artifacts, { version: 'a', graceMs: 0, buckets: 16 });
      expect(a).toMatchObject({ version: 'a', previous: undefined, deleted: [] });
      const loaded = await countKeys('a');
      // Entities, histories, meta, and one marker per bucket of each view.
      expect(loaded).toBe(artifacts.userIds.length + artifacts.itemIds.length + artifacts.userHistory.size + 1 + 2 * 16);
      const b = await materialize(client, keys, artifacts, { version: 'b', graceMs: 0, buckets: 16 });
      expect(b).toMatchObject({ version: 'b', previous: 'a', deleted: ['a'], deletedKeys: loaded });
      expect(await client.get(keys.current())).toBe('b');
      expect(await countKeys('a')).toBe(0);
      expect(await countKeys('b')).toBe(loaded);
      expect(await client.hkeys(keys.versions())).toEqual(['b']);
    } finally {
      client.disconnect();
    }
  });
});

describe('cluster faults', () => {
  it('a black-holed master (SIGSTOP) fails reads within the command timeout, and SIGCONT recovers them', async () => {
    const b = await open('cluster', { commandTimeoutMs: 500 });
    const ids = artifacts.itemIds.slice(0, 300);
    const { features } = b.registry().resolve('item', []);
    const good = await b.read('item', ids, features);
    const node = cluster.nodes[1]!;
    node.process.kill('SIGSTOP');
    try {
      for (let i = 0; i < 2; i++) {
        const t0 = Date.now();
        const err = (await b.read('item', ids, features).catch((e: unknown) => e)) as Error;
        // 300 ids over 16 buckets touch every master. Generous bound: command timeout + 1.5 s.
        expect(err.message).toMatch(/^feature store: Redis unavailable/);
        expect(Date.now() - t0).toBeLessThan(500 + 1500);
      }
    } finally {
      node.process.kill('SIGCONT');
    }
    const until = Date.now() + 20_000;
    let again = await b.read('item', ids, features).catch(() => undefined);
    while (!again && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      again = await b.read('item', ids, features).catch(() => undefined);
    }
    expect(again).toEqual(good);
  });
});
