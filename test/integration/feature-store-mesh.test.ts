/**
 * The Redis feature store inside the real mesh (four processes, a real redis-server):
 * events sent through IngestEvents change the next Recommend, and a stopped or
 * black-holed Redis makes reads fail fast while the gateway answers degraded, until
 * Redis returns and the store recovers by itself.
 */
import * as grpc from '@grpc/grpc-js';
import { loadArtifacts } from '@recsys/core';
import { callUnary } from '@recsys/grpc-kit';
import { FeatureStoreServiceClient, RecommendResponse, Stage } from '@recsys/proto';
import { RedisServer, counterValue, probe, runNode, startRedis, testArtifactsRoot } from '../support/helpers';
import { useMesh } from '../support/mesh';

jest.setTimeout(180_000);

const COMMAND_TIMEOUT_MS = 500;
let redis: RedisServer;
let store: FeatureStoreServiceClient;
/** Same store, without the mesh's retry policy: measures one attempt's latency. */
let storeOneAttempt: FeatureStoreServiceClient;
let user: string;
let history: string[];

const materialize = () => runNode('cli/dist/materialize.js', ['--artifacts', testArtifactsRoot(), '--redis', redis.url, '--grace-seconds', '0']);
const recommend = (userId = user): Promise<RecommendResponse> => mesh.recommend({ userId, k: 10 }, 10_000);
const degradedStages = (res: RecommendResponse) => res.degradedStages.map((d) => d.stage).sort();

beforeAll(async () => {
  const a = loadArtifacts(testArtifactsRoot(), ['userIds', 'userHistory']);
  user = a.userIds.find((u) => (a.userHistory.get(u)?.length ?? 0) >= 5) as string;
  history = a.userHistory.get(user) as string[];
  redis = await startRedis();
  await materialize();
});
// A test that failed while Redis was stopped must not leave it stopped while the mesh drains.
afterAll(() => {
  if (redis && redis.process.exitCode === null) redis.process.kill('SIGCONT');
});

const mesh = useMesh(() => ({
  serviceEnv: { 'feature-store': { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS), ARTIFACTS_DIR: '/nonexistent' } },
}));

beforeAll(() => {
  store = mesh.client(FeatureStoreServiceClient, 'feature-store');
  storeOneAttempt = mesh.client(FeatureStoreServiceClient, 'feature-store', { channelOptions: { 'grpc.enable_retries': 0 } });
});

// After the mesh has stopped (afterAll hooks run in declaration order).
afterAll(() => redis?.stop());

describe('real-time events', () => {
  it('an event sent through IngestEvents (as grpcurl would) changes the next Recommend for that user', async () => {
    const first = await recommend();
    expect(first.degradedStages).toEqual([]);
    const clicked = first.items[0]!.itemId;
    expect(history).not.toContain(clicked);

    const event = { eventId: `it-${Date.now()}`, userId: user, itemId: clicked, eventType: 'click', eventTimeUnixMs: 0 };
    const sent = await probe(mesh.services['feature-store'].address, 'call', 'recsys.v1.FeatureStoreService/IngestEvents', JSON.stringify({ events: [event] }));
    expect(sent.stderr).toBe('');
    expect(JSON.parse(sent.stdout)).toEqual({ applied: 1 });
    // A retried batch is not applied twice.
    const again = await callUnary(store.ingestEvents.bind(store), { events: [event] }, { deadline: Date.now() + 5000 });
    expect(again).toEqual({ applied: 0, duplicates: 1 });

    const ctx = await callUnary(store.getUserContext.bind(store), { userId: user, maxRecentItems: 0 }, { deadline: Date.now() + 5000 });
    expect(ctx.recentItemIds[0]).toBe(clicked);
    expect(ctx.seenItemIds).toContain(clicked);
    expect(ctx.realtime?.recentEventItemIds).toEqual([clicked]);
    expect(ctx.realtime?.counts.filter((c) => c.eventType === 'click').map((c) => c.count)).toEqual([1, 1, 1]);
    expect(ctx.realtime?.lastInteractionUnixMs).toBeGreaterThan(0);

    const next = await recommend();
    expect(next.degradedStages).toEqual([]);
    expect(next.items).toHaveLength(10);
    expect(next.items.map((i) => i.itemId)).not.toContain(clicked);
  });

  it('rejects a bad event naming the field', async () => {
    const err = (await callUnary(
      store.ingestEvents.bind(store),
      { events: [{ eventId: 'x', userId: user, itemId: 'i', eventType: 'Bad Type', eventTimeUnixMs: 0 }] },
      { deadline: Date.now() + 5000 },
    ).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^events\[0\]\.event_type: must match/);
  });

  it('counts defaulted values in recsys_feature_defaults_total', async () => {
    const port = mesh.services['feature-store'].metricsPort;
    const before = await counterValue(port, 'recsys_feature_defaults_total', { view: 'item', reason: 'missing' });
    const res = await callUnary(store.getOnlineFeatures.bind(store), { featureView: 'item', entityIds: ['nope-1', 'nope-2'], featureNames: [], packedValues: false }, { deadline: Date.now() + 5000 });
    const columns = res.features?.columns.length ?? 0;
    expect(columns).toBeGreaterThan(0);
    expect(await counterValue(port, 'recsys_feature_defaults_total', { view: 'item', reason: 'missing' })).toBe(before + 2 * columns);
  });
});

describe('Redis faults', () => {
  /** A feature read that must fail fast; returns its status code and how long it took. */
  async function failingRead(): Promise<{ code: number | undefined; ms: number }> {
    const t0 = Date.now();
    const err = (await callUnary(storeOneAttempt.getOnlineFeatures.bind(storeOneAttempt), { featureView: 'item', entityIds: ['1', '2', '3'], featureNames: [], packedValues: false }, { deadline: Date.now() + 10_000 }).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    return { code: err.code, ms: Date.now() - t0 };
  }

  async function expectDegradedThenRecovered(restore: () => Promise<void>): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const { code, ms } = await failingRead();
      expect(code).toBe(grpc.status.UNAVAILABLE);
      // Generous: the command timeout plus 1.5 s for a loaded machine; a hang would take the 10 s deadline.
      expect(ms).toBeLessThan(COMMAND_TIMEOUT_MS + 1500);
    }
    const res = await recommend();
    expect(res.items).toHaveLength(10);
    expect(degradedStages(res)).toEqual([Stage.STAGE_USER_CONTEXT, Stage.STAGE_ITEM_FEATURES].sort());
    const health = await probe(mesh.services['feature-store'].address, 'health', 'recsys.v1.FeatureStoreService');
    expect(health.stdout.trim()).toBe('SERVING');

    await restore();
    // Recovers by itself (no restart): poll until a Recommend is whole again.
    const until = Date.now() + 30_000;
    let last = await recommend();
    while (last.degradedStages.length > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      last = await recommend();
    }
    expect(last.degradedStages).toEqual([]);
    for (const it of last.items) expect(history).not.toContain(it.itemId);
  }

  it('black-holed Redis (SIGSTOP): reads fail within the command timeout, the gateway degrades, SIGCONT recovers', async () => {
    redis.process.kill('SIGSTOP');
    try {
      await expectDegradedThenRecovered(async () => {
        redis.process.kill('SIGCONT');
      });
    } finally {
      redis.process.kill('SIGCONT'); // never leave a stopped redis-server behind (it would ignore SIGTERM)
    }
  });

  it('stopped Redis: reads fail fast, the gateway degrades; a new redis-server on the same port (reloaded) is picked up', async () => {
    const port = redis.port;
    await redis.stop();
    await expectDegradedThenRecovered(async () => {
      redis = await startRedis(port);
      await materialize();
    });
  });
});
