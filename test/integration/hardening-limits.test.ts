/**
 * Hardening, input limits (issue 11, rows 1, 2, 3, 7, 8, 13, 14, 15), through the real
 * services (memory feature store). Each case sends what a hostile or careless client
 * would — most as raw bytes on a plain grpc-js client, so nothing is checked on our side
 * before the wire — and expects the limit the README's limits table documents.
 */
import * as grpc from '@grpc/grpc-js';
import { callUnary } from '@recsys/grpc-kit';
import {
  FeatureStoreServiceClient,
  GetOnlineFeaturesRequest,
  GetUserContextResponse,
  IngestEventsRequest,
  RankRequest,
  health,
} from '@recsys/proto';
import { counterValue } from '../support/helpers';
import { failure, rawUnary, rssMb } from '../support/hardening';
import { useMesh } from '../support/mesh';

jest.setTimeout(240_000);

const mesh = useMesh({
  serviceEnv: {
    'feature-store': { REALTIME_MAX_USERS: '2000', REALTIME_MAX_ENTRIES: '200000' },
    gateway: { REQUEST_TIMEOUT_MS: '3000' },
  },
});

const clients: grpc.Client[] = [];
function raw(service: 'gateway' | 'feature-store' | 'ranker' | 'candidate-generator'): grpc.Client {
  const c = new grpc.Client(mesh.address(service), grpc.credentials.createInsecure());
  clients.push(c);
  return c;
}
afterAll(() => clients.forEach((c) => c.close()));

const FS = '/recsys.v1.FeatureStoreService';
const onlineFeatures = (req: Partial<GetOnlineFeaturesRequest>): Buffer =>
  Buffer.from(GetOnlineFeaturesRequest.encode(GetOnlineFeaturesRequest.fromPartial({ featureView: 'item', ...req })).finish());
type Ev = { eventId: string; userId: string; itemId: string; eventType: string; eventTimeUnixMs: number };
const ingestBytes = (events: Partial<Ev>[]): Buffer =>
  Buffer.from(IngestEventsRequest.encode(IngestEventsRequest.fromPartial({ events: events.map((e, i) => ({ eventId: `e${i}`, userId: 'u', itemId: '1', eventType: 'click', eventTimeUnixMs: 0, ...e })) })).finish());

function fsClient(): FeatureStoreServiceClient {
  return mesh.client(FeatureStoreServiceClient, 'feature-store');
}
const ingest = (events: Partial<Ev>[]) =>
  callUnary(fsClient().ingestEvents.bind(fsClient()), IngestEventsRequest.fromPartial({ events: events.map((e, i) => ({ eventId: `e${i}`, userId: 'u', itemId: '1', eventType: 'click', ...e })) }), {
    deadline: Date.now() + 20_000,
  });
const context = (userId: string): Promise<GetUserContextResponse> =>
  callUnary(fsClient().getUserContext.bind(fsClient()), { userId, maxRecentItems: 0 }, { deadline: Date.now() + 10_000 });

describe('row 1: GetOnlineFeatures feature_names', () => {
  it('10,000 ids × 10,000 repeats of one name is refused before any work, naming the field', async () => {
    const bytes = onlineFeatures({ entityIds: Array.from({ length: 10_000 }, (_, i) => String(i)), featureNames: Array(10_000).fill('log_popularity') });
    const rssBefore = rssMb(mesh.services['feature-store'].child.pid!);
    const err = await failure(rawUnary(raw('feature-store'), `${FS}/GetOnlineFeatures`, bytes));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe('feature_names: at most 256 entries allowed, got 10000');
    expect(rssMb(mesh.services['feature-store'].child.pid!) - rssBefore).toBeLessThan(100);
  });
  it('a repeated name is refused, naming both positions', async () => {
    const err = await failure(rawUnary(raw('feature-store'), `${FS}/GetOnlineFeatures`, onlineFeatures({ entityIds: ['1'], featureNames: ['log_popularity', 'log_popularity'] })));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^feature_names\[1\]: repeats feature_names\[0\] \("log_popularity"\)/);
  });
  it('entity ids per read are bounded', async () => {
    const err = await failure(rawUnary(raw('feature-store'), `${FS}/GetOnlineFeatures`, onlineFeatures({ entityIds: Array.from({ length: 10_001 }, (_, i) => String(i)) })));
    expect(err.details).toBe('entity_ids: at most 10000 entries allowed, got 10001');
  });
});

describe('row 2: IngestEvents batch size (memory backend)', () => {
  it('10,000 events for one user are refused whole (nothing applied); a batch at the limits applies and says so', async () => {
    const err = await failure(ingest(Array.from({ length: 10_000 }, (_, i) => ({ userId: 'row2', eventId: `big${i}`, itemId: String(i) }))));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe('events: at most 5000 per batch, got 10000');
    const perUser = await failure(ingest(Array.from({ length: 501 }, (_, i) => ({ userId: 'row2', eventId: `u${i}`, itemId: String(i) }))));
    expect(perUser.details).toBe('events[500].user_id: at most 500 events per user per batch; split the batch');
    expect((await context('row2')).realtime?.recentEventItemIds).toEqual([]);
    // At the limits: 5000 events, 500 for each of 10 users.
    const batch = Array.from({ length: 5000 }, (_, i) => ({ userId: `row2-${i % 10}`, eventId: `ok${i}`, itemId: String(i) }));
    expect(await ingest(batch)).toEqual({ applied: 5000, duplicates: 0 });
    expect(await ingest(batch)).toEqual({ applied: 0, duplicates: 5000 });
    const ctx = await context('row2-3');
    expect(ctx.realtime?.recentEventItemIds.slice(0, 3)).toEqual(['4993', '4983', '4973']);
  });
});

describe('row 3: real-time state of the memory backend is capped', () => {
  it('events for 10,000 distinct users keep at most REALTIME_MAX_USERS (2000) users, evictions counted, newest kept', async () => {
    const fsProc = mesh.services['feature-store'];
    for (let round = 0; round < 10; round++) {
      await ingest(Array.from({ length: 1000 }, (_, i) => ({ userId: `many-${round}-${i}`, eventId: `m${round}-${i}`, itemId: String(i) })));
    }
    const evicted = await counterValue(fsProc.metricsPort, 'recsys_realtime_evictions_total');
    expect(evicted).toBeGreaterThanOrEqual(8000);
    expect((await context('many-9-999')).realtime?.recentEventItemIds).toEqual(['999']);
    expect((await context('many-0-0')).realtime?.recentEventItemIds).toEqual([]);
  });
});

describe('row 7: event times', () => {
  it('events ten years ahead are refused; real clicks after them count', async () => {
    const future = Date.now() + 10 * 365 * 86_400_000;
    const err = await failure(ingest(Array.from({ length: 1000 }, (_, i) => ({ userId: 'row7', eventId: `f${i}`, eventTimeUnixMs: future }))));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^events\[0\]\.event_time_unix_ms: \d+ \(20\d\d-.*\) is more than 60000 ms ahead of the store's clock/);
    const tooOld = await failure(ingest([{ userId: 'row7', eventId: 'old', eventTimeUnixMs: 1000 }]));
    expect(tooOld.details).toMatch(/^events\[0\]\.event_time_unix_ms: 1000 \(1970-.*\) is older than/);
    const t0 = Date.now();
    await ingest(Array.from({ length: 5 }, (_, i) => ({ userId: 'row7', eventId: `c${i}`, itemId: String(10 + i) })));
    const rt = (await context('row7')).realtime!;
    expect(rt.counts.find((c) => c.eventType === 'click' && c.windowSeconds === 3600)?.count).toBe(5);
    expect(rt.lastInteractionUnixMs).toBeGreaterThanOrEqual(t0 - 1000);
    expect(rt.lastInteractionUnixMs).toBeLessThanOrEqual(Date.now());
  });
});

describe('row 8: seen set', () => {
  it('110,000 items for one user keep at most REALTIME_MAX_SEEN (5000); Recommend still excludes them and is not degraded', async () => {
    for (let b = 0; b < 220; b++) {
      await ingest(Array.from({ length: 500 }, (_, i) => ({ userId: 'row8', eventId: `s${b}-${i}`, itemId: `seen-item-${'x'.repeat(100)}-${b * 500 + i}` })));
    }
    const ctx = await context('row8');
    // REALTIME_MAX_RECENT (50) recent events are kept; the manifest's serving.recent_items (1000) asks for up to that many.
    expect(ctx.realtime?.recentEventItemIds.length).toBe(50);
    expect(ctx.seenItemIds.length).toBe(5000);
    const res = await mesh.recommend({ userId: 'row8', k: 10 }, 10_000);
    expect(res.degradedStages).toEqual([]);
    expect(res.items).toHaveLength(10);
  });
});

describe('row 13: ids must be valid UTF-8', () => {
  // `f\xFFa` and `f\xFEa` both decode to "f\uFFFDa" in a lenient decoder: two events, one id.
  const withBadByte = (field: 'eventId' | 'userId', byte: number): Buffer => {
    const marker = 'Q'.repeat(8);
    const enc = ingestBytes([{ [field]: `f${marker}a`, userId: field === 'userId' ? `f${marker}a` : 'row13' }]);
    const at = enc.indexOf(Buffer.from(marker));
    const out = Buffer.concat([enc.subarray(0, at), Buffer.from([byte]), Buffer.alloc(7, 0x51), enc.subarray(at + 8)]);
    return out;
  };
  it('invalid bytes in an event id or user id are refused naming the field; U+FFFD itself is accepted', async () => {
    const c = raw('feature-store');
    const e1 = await failure(rawUnary(c, `${FS}/IngestEvents`, withBadByte('eventId', 0xff)));
    expect(e1.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e1.details).toBe('events[0].event_id: is not valid UTF-8 (protobuf strings must be UTF-8)');
    const e2 = await failure(rawUnary(c, `${FS}/IngestEvents`, withBadByte('userId', 0xfe)));
    expect(e2.details).toBe('events[0].user_id: is not valid UTF-8 (protobuf strings must be UTF-8)');
    // Valid UTF-8 (EF BF BD) is a character like any other.
    await expect(ingest([{ userId: 'row13', eventId: 'f\uFFFDa' }])).resolves.toEqual({ applied: 1, duplicates: 0 });
    const gw = await failure(rawUnary(raw('gateway'), '/recsys.v1.GatewayService/Recommend', Buffer.from([0x0a, 0x02, 0xc3, 0x28, 0x10, 0x05])));
    expect(gw.details).toBe('user_id: is not valid UTF-8 (protobuf strings must be UTF-8)');
  });
});

describe('row 14: error messages quote only a prefix', () => {
  it('a 100 KB feature view name comes back as a short prefix', async () => {
    const err = await failure(rawUnary(raw('feature-store'), `${FS}/GetOnlineFeatures`, onlineFeatures({ featureView: 'v'.repeat(100_000), entityIds: ['1'] })));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^feature_view: unknown view "v{40}"… \(100000 bytes\); known: user, item$/);
  });
});

describe('row 15: Rank input, health and reflection bytes', () => {
  const rank = (req: object): Buffer => Buffer.from(RankRequest.encode(RankRequest.fromPartial(req)).finish());
  it('an empty candidate id or a NaN / infinite score or feature is INVALID_ARGUMENT naming it', async () => {
    const c = raw('ranker');
    const R = '/recsys.v1.RankerService/Rank';
    const empty = await failure(rawUnary(c, R, rank({ userId: '1', candidates: { itemIds: ['1', '', '3'], scores: [3, 2, 1] } })));
    expect(empty.details).toBe('candidates.item_ids[1]: must not be empty');
    const nan = await failure(rawUnary(c, R, rank({ userId: '1', candidates: { itemIds: ['1', '2'], scores: [1, NaN] } })));
    expect(nan.details).toBe('candidates.scores[1]: must be a finite number, got NaN');
    const inf = await failure(
      rawUnary(c, R, rank({ userId: '1', candidates: { itemIds: ['1', '2'], scores: [1, 2] }, itemFeatures: { featureView: 'item', entityCount: 2, columns: [{ name: 'log_popularity', values: [1, Infinity] }] } })),
    );
    expect(inf.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(inf.details).toBe('item_features.columns["log_popularity"].values[1]: must be a finite number, got Infinity');
  });
  it('health and reflection answer undecodable bytes INVALID_ARGUMENT, not INTERNAL', async () => {
    const c = raw('gateway');
    const h = await failure(rawUnary(c, '/grpc.health.v1.Health/Check', Buffer.from([0x0a, 0x7f, 0x01])));
    expect(h.code).toBe(grpc.status.INVALID_ARGUMENT);
    const bad = await failure(rawUnary(c, '/grpc.health.v1.Health/Check', Buffer.from([0x0a, 0x02, 0xff, 0xfe])));
    expect(bad.details).toBe('service: is not valid UTF-8 (protobuf strings must be UTF-8)');
    expect(health.HealthCheckResponse.decode(await rawUnary(c, '/grpc.health.v1.Health/Check', Buffer.alloc(0))).status).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
    const refl = await new Promise<grpc.ServiceError>((resolve) => {
      const call = c.makeBidiStreamRequest('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', (b: Buffer) => b, (b: Buffer) => b, new grpc.Metadata(), { deadline: Date.now() + 5000 });
      call.on('data', () => {});
      call.on('error', (e: grpc.ServiceError) => resolve(e));
      call.write(Buffer.from([0x0a, 0x7f, 0x01]));
    });
    expect(refl.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});
