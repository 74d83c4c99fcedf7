/**
 * The mesh end to end: four real service processes on free ports, called through the
 * independent reflection client (grpc_probe.py --strict, what grpcurl sees) and grpc-js.
 */
import * as grpc from '@grpc/grpc-js';
import { loadArtifacts } from '@recsys/core';
import { SERVICE_NAMES, ServiceName, startServiceProcess, freePort, ServiceProcess } from '@recsys/local';
import { GatewayServiceClient, RecommendRequest, RecommendResponse, RetrievalSource } from '@recsys/proto';
import { RedisServer, counterValue, probe, runNode, startRedis, testArtifactsRoot } from '../support/helpers';
import { recommendOn, useMesh } from '../support/mesh';

jest.setTimeout(120_000);

const SERVICES: Record<ServiceName, { service: string; methods: string[] }> = {
  gateway: { service: 'recsys.v1.GatewayService', methods: ['Recommend'] },
  'candidate-generator': { service: 'recsys.v1.CandidateGeneratorService', methods: ['GenerateCandidates'] },
  'feature-store': { service: 'recsys.v1.FeatureStoreService', methods: ['GetOnlineFeatures', 'GetUserContext', 'ListFeatureViews', 'IngestEvents'] },
  ranker: { service: 'recsys.v1.RankerService', methods: ['Rank'] },
};

const mesh = useMesh({ env: { LOG_LEVEL: 'warn' } });
let user: string;
let history: Set<string>;
let someUsers: string[];

const recommendVia = (c: GatewayServiceClient, req: Partial<RecommendRequest>): Promise<RecommendResponse> => recommendOn(c, { userId: user, ...req });
const recommend = (req: Partial<RecommendRequest>) => mesh.recommend({ userId: user, ...req });

beforeAll(() => {
  const a = loadArtifacts(testArtifactsRoot(), ['userIds', 'userHistory']);
  user = a.userIds.find((u) => (a.userHistory.get(u)?.length ?? 0) >= 5) as string;
  history = new Set(a.userHistory.get(user));
  someUsers = a.userIds.slice(0, 5);
});

describe('through reflection (grpc_probe --strict, as grpcurl)', () => {
  it.each(SERVICE_NAMES)('%s: health is SERVING', async (name) => {
    const res = await probe(mesh.services[name].address, 'health');
    expect(res).toMatchObject({ code: 0 });
    expect(res.stdout.trim()).toBe('SERVING');
    const svc = await probe(mesh.services[name].address, 'health', SERVICES[name].service);
    expect(svc.stdout.trim()).toBe('SERVING');
  });

  it.each(SERVICE_NAMES)('%s: lists its recsys.v1 service and grpc.health.v1.Health', async (name) => {
    const res = await probe(mesh.services[name].address, 'list');
    expect(res.stderr).toBe('');
    const listed = res.stdout.trim().split('\n');
    expect(listed).toEqual(expect.arrayContaining([SERVICES[name].service, 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']));
    const methods = await probe(mesh.services[name].address, 'list', SERVICES[name].service);
    expect(methods.stdout.trim().split('\n')).toEqual(SERVICES[name].methods.map((m) => `${SERVICES[name].service}.${m}`));
  });

  it.each(SERVICE_NAMES)('%s: describes every RPC and its messages', async (name) => {
    const { service, methods } = SERVICES[name];
    const svc = await probe(mesh.services[name].address, 'describe', service);
    expect(svc.code).toBe(0);
    for (const m of methods) {
      const res = await probe(mesh.services[name].address, 'describe', `${service}.${m}`);
      expect(res).toMatchObject({ code: 0 });
      expect(res.stdout).toContain(`${m}Request`);
      for (const msg of [`recsys.v1.${m}Request`, `recsys.v1.${m}Response`]) {
        const d = await probe(mesh.services[name].address, 'describe', msg);
        expect(d.code).toBe(0);
      }
    }
    // A message that crosses files (google.protobuf.Duration inside StageTiming).
    const timing = await probe(mesh.services[name].address, 'describe', 'recsys.v1.StageTiming');
    expect(timing.stdout).toContain('google.protobuf.Duration');
  });

  it('calls Recommend: 10 distinct items, descending scores, none from the user history', async () => {
    const res = await probe(mesh.gatewayAddress, 'call', 'recsys.v1.GatewayService/Recommend', JSON.stringify({ userId: user, k: 10 }));
    expect(res.stderr).toBe('');
    const body = JSON.parse(res.stdout) as { items: { itemId: string; score: number; source: string }[]; modelVersion: string };
    expect(body.items).toHaveLength(10);
    expect(new Set(body.items.map((i) => i.itemId)).size).toBe(10);
    for (let i = 1; i < body.items.length; i++) expect(body.items[i - 1]!.score).toBeGreaterThanOrEqual(body.items[i]!.score);
    for (const it of body.items) expect(history.has(it.itemId)).toBe(false);
    expect(body.modelVersion).not.toBe('');
  });

  it('calls every other service', async () => {
    const cg = await probe(
      mesh.services['candidate-generator'].address,
      'call',
      'recsys.v1.CandidateGeneratorService/GenerateCandidates',
      JSON.stringify({ userId: user, numCandidates: 5 }),
    );
    expect(cg.stderr).toBe('');
    const cands = JSON.parse(cg.stdout) as { candidates: { itemIds: string[] }; userKnown: boolean };
    expect(cands.candidates.itemIds).toHaveLength(5);
    expect(cands.userKnown).toBe(true);

    const fs = await probe(
      mesh.services['feature-store'].address,
      'call',
      'recsys.v1.FeatureStoreService/GetOnlineFeatures',
      JSON.stringify({ featureView: 'item', entityIds: cands.candidates.itemIds }),
    );
    expect(fs.stderr).toBe('');
    const features = JSON.parse(fs.stdout) as { features: { entityCount: number; columns: { name: string; values: number[] }[] } };
    expect(features.features.entityCount).toBe(5);
    expect(features.features.columns.length).toBeGreaterThan(0);
    for (const c of features.features.columns) expect(c.values).toHaveLength(5);

    const ctx = await probe(mesh.services['feature-store'].address, 'call', 'recsys.v1.FeatureStoreService/GetUserContext', JSON.stringify({ userId: user }));
    expect(ctx.stderr).toBe('');
    expect(new Set((JSON.parse(ctx.stdout) as { seenItemIds: string[] }).seenItemIds)).toEqual(history);

    const rank = await probe(
      mesh.services.ranker.address,
      'call',
      'recsys.v1.RankerService/Rank',
      JSON.stringify({ userId: user, candidates: { itemIds: cands.candidates.itemIds, scores: [5, 4, 3, 2, 1] }, topK: 3 }),
    );
    expect(rank.stderr).toBe('');
    const ranked = JSON.parse(rank.stdout) as { itemIds: string[]; scores: number[] };
    expect(ranked.itemIds).toHaveLength(3);
    expect(ranked.scores[0]).toBeGreaterThanOrEqual(ranked.scores[2]!);
  });
});

describe('Recommend semantics', () => {
  it('honours exclusions and reports per-stage timings only with debug', async () => {
    const first = await recommend({ k: 5 });
    const excluded = first.items.slice(0, 2).map((i) => i.itemId);
    const second = await recommend({ k: 5, excludeItemIds: excluded, debug: true });
    for (const it of second.items) expect(excluded).not.toContain(it.itemId);
    expect(second.timings.length).toBeGreaterThanOrEqual(4);
    expect(first.timings).toEqual([]);
    expect(second.degradedStages).toEqual([]);
  });

  it('uses the documented default k = 10 for k = 0', async () => {
    expect((await recommend({ k: 0 })).items).toHaveLength(10);
  });

  it('gives an unknown user cold-start (popularity) recommendations, not an error', async () => {
    const res = await recommend({ userId: 'nobody-knows-me' });
    expect(res.items).toHaveLength(10);
    for (const it of res.items) expect(it.source).toBe(RetrievalSource.RETRIEVAL_SOURCE_POPULARITY);
  });

  const bad: [string, Partial<RecommendRequest>, RegExp][] = [
    ['empty user_id', { userId: '' }, /^user_id: must not be empty/],
    ['over-long user_id', { userId: 'u'.repeat(129) }, /^user_id: must be at most 128 bytes/],
    ['negative k', { k: -1 }, /^k: must be between 0 and 100/],
    ['k above the maximum', { k: 101 }, /^k: must be between 0 and 100/],
    ['too many exclusions', { excludeItemIds: Array.from({ length: 1001 }, (_, i) => `x${i}`) }, /^exclude_item_ids: at most 1000 entries/],
    ['over-long exclusion', { excludeItemIds: ['ok', 'e'.repeat(129)] }, /^exclude_item_ids\[1\]: must be at most 128 bytes/],
    ['empty exclusion', { excludeItemIds: [''] }, /^exclude_item_ids\[0\]: must not be empty/],
  ];

  it.each(bad)('rejects %s with INVALID_ARGUMENT naming the field, and calls nothing downstream', async (_what, req, message) => {
    const downstream = ['candidate-generator', 'feature-store', 'ranker'] as const;
    const before = await Promise.all(downstream.map((n) => counterValue(mesh.services[n].metricsPort, 'grpc_server_handled_total')));
    const err = (await recommend(req).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(message);
    const after = await Promise.all(downstream.map((n) => counterValue(mesh.services[n].metricsPort, 'grpc_server_handled_total')));
    expect(after).toEqual(before);
    // And a good request right after does reach them (the counter works).
    await recommend({});
    const later = await Promise.all(downstream.map((n) => counterValue(mesh.services[n].metricsPort, 'grpc_server_handled_total')));
    for (let i = 0; i < downstream.length; i++) expect(later[i]).toBeGreaterThan(after[i]!);
  });
});

describe('Redis feature store', () => {
  let redis: RedisServer;
  let fsRedis: ServiceProcess;
  let gwRedis: ServiceProcess;
  let redisClient: GatewayServiceClient;

  beforeAll(async () => {
    redis = await startRedis();
    const out = await runNode('cli/dist/materialize.js', ['--artifacts', testArtifactsRoot(), '--redis', redis.url]);
    expect(out.stdout).toMatch(/live pointer switched/);
    fsRedis = await startServiceProcess('feature-store', {
      port: await freePort(),
      metricsPort: -1,
      env: { ARTIFACTS_DIR: '/nonexistent-the-redis-backend-does-not-read-artifacts', REDIS_URL: redis.url, LOG_LEVEL: 'warn' },
    });
    gwRedis = await startServiceProcess('gateway', {
      port: await freePort(),
      metricsPort: -1,
      env: {
        CANDIDATE_GENERATOR_ADDR: mesh.services['candidate-generator'].address,
        RANKER_ADDR: mesh.services.ranker.address,
        FEATURE_STORE_ADDR: fsRedis.address,
        LOG_LEVEL: 'warn',
      },
    });
    redisClient = mesh.client(GatewayServiceClient, gwRedis.address);
  });

  afterAll(async () => {
    await gwRedis?.stop();
    await fsRedis?.stop();
    await redis?.stop();
  });

  it('returns the same items and scores as the memory backend', async () => {
    for (const u of [...someUsers, 'nobody-knows-me']) {
      const viaMemory = await recommend({ userId: u, k: 10 });
      const viaRedis = await recommendVia(redisClient, { userId: u, k: 10 });
      expect(viaRedis.degradedStages).toEqual([]);
      expect(viaRedis.items).toEqual(viaMemory.items);
      expect(viaRedis.items).toHaveLength(10);
    }
  });
});
