/**
 * The request log through the real mesh: JSON lines in a file when no Redis is configured, a
 * capped Redis Stream when one is; a stopped sink never fails or slows a request, and its
 * drops are counted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { parseRecord, type RequestLogRecord } from '@recsys/gateway/request-log';
import { RetrievalSource, type RecommendResponse } from '@recsys/proto';
import { counterValue, startRedis, type RedisServer } from '../support/helpers';
import { useMesh } from '../support/mesh';

jest.setTimeout(120_000);

const SOURCE_NAME: Record<number, string> = {
  [RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING]: 'embedding',
  [RetrievalSource.RETRIEVAL_SOURCE_POPULARITY]: 'popularity',
  [RetrievalSource.RETRIEVAL_SOURCE_COVISITATION]: 'covisitation',
};

function expectRecordOf(rec: RequestLogRecord, res: RecommendResponse, req: { userId: string; k: number; excludeItemIds: string[] }): void {
  expect(rec).toMatchObject({
    format: 1,
    request_id: res.requestId,
    user_id: req.userId,
    k: req.k,
    exclude_item_ids: req.excludeItemIds,
    model_version: res.modelVersion,
    artifact_version: res.artifactVersion,
    variant: res.variant,
    degraded_stages: [],
  });
  expect(rec.items).toEqual(res.items.map((i) => ({ item_id: i.itemId, score: i.score, source: SOURCE_NAME[i.source] })));
  expect(Number.isNaN(Date.parse(rec.time))).toBe(false);
  expect(Math.abs(Date.parse(rec.time) - Date.now())).toBeLessThan(60_000);
  for (const s of ['user_context', 'candidates', 'item_features', 'ranking', 'total']) expect(rec.timings_ms[s]).toBeGreaterThanOrEqual(0);
  expect(rec.timings_ms.total).toBeGreaterThanOrEqual(rec.timings_ms.ranking as number);
}

describe('request log to a JSON-lines file (no Redis)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-reqlog-'));
  const file = path.join(dir, 'requests.jsonl');
  const mesh = useMesh({ serviceEnv: { gateway: { REQUEST_LOG_SAMPLE: '1', REQUEST_LOG_FILE: file, REQUEST_TIMEOUT_MS: '20000' } } });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes one complete, parseable record per served Recommend', async () => {
    const reqs = Array.from({ length: 20 }, (_, i) => ({ userId: String(1 + (i % 7)), k: 1 + (i % 12), excludeItemIds: i % 3 === 0 ? ['1', '2'] : [] }));
    const replies: RecommendResponse[] = [];
    for (const r of reqs) replies.push(await mesh.recommend(r));
    for (const r of replies) expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const until = Date.now() + 10_000;
    let lines: string[] = [];
    while (Date.now() < until) {
      lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
      if (lines.length >= reqs.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(lines).toHaveLength(reqs.length);
    const byId = new Map(lines.map((l) => parseRecord(l)).map((r) => [r.request_id, r]));
    reqs.forEach((req, i) => expectRecordOf(byId.get(replies[i]!.requestId) as RequestLogRecord, replies[i]!, req));
    expect(await counterValue(mesh.metricsPort('gateway'), 'recsys_request_log_written_total')).toBe(reqs.length);
  });

  it('refused calls are not served and not logged', async () => {
    const before = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
    await expect(mesh.recommend({ userId: '1', k: 1000 })).rejects.toMatchObject({ code: 3 });
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(before);
  });
});

describe('request log to a Redis Stream', () => {
  let redis: RedisServer;
  let client: Redis;
  const STREAM = 'test:requests';
  const MAXLEN = 50;
  beforeAll(async () => {
    // Small stream nodes, so that MAXLEN ~ trims close to the bound.
    redis = await startRedis(undefined, ['--stream-node-max-entries', '10']);
    client = new Redis(redis.url, { retryStrategy: () => null });
  });
  afterAll(async () => {
    if (client && client.status !== 'end') client.disconnect();
    await redis?.stop();
  });
  const mesh = useMesh(() => ({
    serviceEnv: { gateway: { REQUEST_LOG_SAMPLE: '1', REQUEST_LOG_REDIS_URL: redis.url, REQUEST_LOG_STREAM: STREAM, REQUEST_LOG_MAXLEN: String(MAXLEN), LOG_LEVEL: 'warn', REQUEST_TIMEOUT_MS: '20000' } },
  }));

  it('records parse and the stream stays capped (XADD MAXLEN ~)', async () => {
    const replies: RecommendResponse[] = [];
    for (let i = 0; i < 200; i++) replies.push(await mesh.recommend({ userId: String(1 + (i % 20)), k: 5 }));
    const until = Date.now() + 10_000;
    while ((await counterValue(mesh.metricsPort('gateway'), 'recsys_request_log_written_total')) < 200 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(await counterValue(mesh.metricsPort('gateway'), 'recsys_request_log_written_total')).toBe(200);
    const len = await client.xlen(STREAM);
    expect(len).toBeGreaterThanOrEqual(MAXLEN);
    expect(len).toBeLessThanOrEqual(MAXLEN + 10);
    const entries = await client.xrange(STREAM, '-', '+');
    const last = replies[replies.length - 1] as RecommendResponse;
    const records = entries.map(([, fields]) => parseRecord(fields[fields.indexOf('record') + 1] as string));
    expectRecordOf(records[records.length - 1] as RequestLogRecord, last, { userId: '20', k: 5, excludeItemIds: [] });
  });

  it('with the sink stopped, requests still succeed and the drops are counted and warned about once', async () => {
    client.disconnect();
    await redis.stop();
    for (let i = 0; i < 30; i++) {
      const res = await mesh.recommend({ userId: '1', k: 5 });
      expect(res.items).toHaveLength(5);
      expect(res.degradedStages).toEqual([]);
    }
    const until = Date.now() + 10_000;
    const dropped = (): Promise<number> => counterValue(mesh.metricsPort('gateway'), 'recsys_request_log_dropped_total', { reason: 'sink_error' });
    while ((await dropped()) < 30 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(await dropped()).toBe(30);
    const warnings = mesh.services.gateway.output.filter((l) => l.includes('request log records dropped'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0] as string)).toMatchObject({ sink: `redis stream ${STREAM}` });
  });
});
