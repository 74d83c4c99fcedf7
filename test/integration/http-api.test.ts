/**
 * The gateway's HTTP/JSON front door through real processes: what `curl` does, route by
 * route, against the same mesh the gRPC client calls, and every bad input answered with
 * a google.rpc.Status naming what is wrong (never a stack trace or a hang).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { loadArtifacts } from '@recsys/core';
import { OPENAPI_PATH, RetrievalSource } from '@recsys/proto';
import { testArtifactsRoot } from '../support/helpers';
import { useMesh } from '../support/mesh';

jest.setTimeout(60_000);

const gatewayLines: string[] = [];
const mesh = useMesh({
  env: { LOG_LEVEL: 'warn', HTTP_MAX_BODY_BYTES: '4096', HTTP_READ_TIMEOUT_MS: '1000' },
  onLine: (service, line) => {
    if (service === 'gateway') gatewayLines.push(line);
  },
});
let base: string;
let user: string;
let items: string[];

beforeAll(() => {
  base = `http://${mesh.mesh.gatewayHttpAddress}`;
  const a = loadArtifacts(testArtifactsRoot(), ['userIds', 'userHistory', 'itemIds']);
  user = a.userIds.find((u) => (a.userHistory.get(u)?.length ?? 0) >= 5) as string;
  items = a.itemIds;
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(method: string, path: string, opts: { body?: string | Json; headers?: Record<string, string> } = {}): Promise<{ status: number; json: Json; headers: Headers; text: string }> {
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const res = await fetch(`${base}${path}`, {
    method,
    body,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    redirect: 'manual',
  });
  const text = await res.text();
  let json: Json = {};
  try {
    json = JSON.parse(text) as Json;
  } catch {
    /* not JSON: the test says so */
  }
  return { status: res.status, json, headers: res.headers, text };
}

/** Asserts a google.rpc.Status error under `status` naming `field`. */
function expectStatus(res: { status: number; json: Json; text: string }, status: number, code: number, field?: string): void {
  expect({ status: res.status, code: res.json.code }).toEqual({ status, code });
  expect(typeof res.json.message).toBe('string');
  expect(res.text).not.toMatch(/\bat [\w.]+ \(|node_modules|\.ts:\d+/); // no stack trace
  if (field !== undefined) {
    expect(res.json.message.startsWith(`${field}: `)).toBe(true);
  }
  if (field !== undefined && code === 3) {
    const bad = (res.json.details as Json[]).find((d) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest');
    expect(bad?.fieldViolations?.[0]?.field).toBe(field);
  }
  const info = (res.json.details as Json[]).find((d) => d['@type'] === 'type.googleapis.com/google.rpc.RequestInfo');
  expect(info?.requestId).toEqual(expect.any(String));
}

describe('POST /v1/recommendations', () => {
  it('returns the same items and scores as the gRPC call, in the proto3 JSON mapping', async () => {
    const grpcRes = await mesh.recommend({ userId: user, k: 10 });
    const res = await call('POST', '/v1/recommendations', { body: { user_id: user, k: 10 } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(grpcRes.items).toHaveLength(10);
    expect(res.json.items).toEqual(grpcRes.items.map((i) => ({ itemId: i.itemId, score: i.score, source: RetrievalSource[i.source] })));
    expect(res.json).toMatchObject({ modelVersion: grpcRes.modelVersion, artifactVersion: grpcRes.artifactVersion, degradedStages: [], timings: [] });
  });

  it('accepts lowerCamelCase names too, and curl -d (labelled form-urlencoded) with a JSON body', async () => {
    const snake = await call('POST', '/v1/recommendations', { body: { user_id: user, k: 5, exclude_item_ids: [items[0]] } });
    const camel = await call('POST', '/v1/recommendations', { body: { userId: user, k: 5, excludeItemIds: [items[0]] } });
    const curlish = await call('POST', '/v1/recommendations', { body: { userId: user, k: 5, excludeItemIds: [items[0]] }, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(snake.status).toBe(200);
    expect(camel.json.items).toEqual(snake.json.items);
    expect(curlish.json.items).toEqual(snake.json.items);
    expect(snake.json.items.map((i: Json) => i.itemId)).not.toContain(items[0]);
  });

  it('with debug, carries per-stage timings as proto3 JSON durations', async () => {
    const res = await call('POST', '/v1/recommendations', { body: { userId: user, debug: true } });
    expect(res.status).toBe(200);
    expect(res.json.items).toHaveLength(10); // k = 0 means the default, 10
    expect(res.json.timings.map((t: Json) => t.stage)).toEqual(['STAGE_USER_CONTEXT', 'STAGE_CANDIDATES', 'STAGE_ITEM_FEATURES', 'STAGE_RANKING', 'STAGE_BUSINESS_RULES']);
    for (const t of res.json.timings) expect(t.duration).toMatch(/^\d+(\.\d+)?s$/);
  });

  it('serves an unknown user cold-start recommendations', async () => {
    const res = await call('POST', '/v1/recommendations', { body: { userId: 'nobody-ever-seen', k: 3 } });
    expect(res.status).toBe(200);
    expect(res.json.items).toHaveLength(3);
  });

  // Checked before any downstream call, so any well-formed user id does.
  const user = 'any-user';
  it.each([
    [{ userId: user, k: 1000 }, 'k'],
    [{ userId: user, k: 'ten' }, 'k'],
    [{ userId: user, k: 2.5 }, 'k'],
    [{ k: 10 }, 'user_id'],
    [{ userId: '' }, 'user_id'],
    [{ userId: 'x'.repeat(129) }, 'user_id'],
    [{ userId: 7 }, 'user_id'],
    [{ userId: user, excludeItemIds: 'i1' }, 'exclude_item_ids'],
    [{ userId: user, excludeItemIds: [''] }, 'exclude_item_ids[0]'],
    [{ userId: user, debug: 'yes' }, 'debug'],
    [{ userId: user, kk: 10 }, 'kk'],
    [{ userId: user, __proto__x: 1 }, '__proto__x'],
  ])('answers 400 naming the field for %j', async (body, field) => {
    const res = await call('POST', '/v1/recommendations', { body: body as Json });
    expectStatus(res, 400, 3, field);
  });

  it('answers malformed JSON, a non-object body, a wrong content type and an oversized body cleanly', async () => {
    expectStatus(await call('POST', '/v1/recommendations', { body: '{"userId": "1", "k": ' }), 400, 3, 'body');
    expectStatus(await call('POST', '/v1/recommendations', { body: '[1,2]' }), 400, 3, 'body');
    expectStatus(await call('POST', '/v1/recommendations', { body: '"1"' }), 400, 3, 'body');
    const wrongType = await call('POST', '/v1/recommendations', { body: 'userId=1', headers: { 'content-type': 'text/plain' } });
    expectStatus(wrongType, 415, 3, 'Content-Type');
    const formNotJson = await call('POST', '/v1/recommendations', { body: 'userId=1&k=3', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expectStatus(formNotJson, 400, 3, 'body');
    const big = await call('POST', '/v1/recommendations', { body: { userId: user, excludeItemIds: Array.from({ length: 1000 }, (_, i) => `item-${i}`) } });
    expectStatus(big, 413, 8, 'body');
    expect(big.json.message).toContain('HTTP_MAX_BODY_BYTES');
  });
});

describe('GET /v1/users/{user_id}/recommendations', () => {
  it('takes the other fields as query parameters and equals the POST form', async () => {
    const post = await call('POST', '/v1/recommendations', { body: { userId: user, k: 4, excludeItemIds: [items[1], items[2]] } });
    const get = await call('GET', `/v1/users/${encodeURIComponent(user)}/recommendations?k=4&exclude_item_ids=${items[1]}&excludeItemIds=${items[2]}`);
    expect(get.status).toBe(200);
    expect(get.json.items).toEqual(post.json.items);
    const debug = await call('GET', `/v1/users/${encodeURIComponent(user)}/recommendations?debug=true`);
    expect(debug.json.timings.length).toBeGreaterThan(0);
  });

  it('answers 400 naming a bad or unknown query parameter', async () => {
    expectStatus(await call('GET', `/v1/users/${user}/recommendations?k=abc`), 400, 3, 'k');
    expectStatus(await call('GET', `/v1/users/${user}/recommendations?k=1&k=2`), 400, 3, 'k');
    expectStatus(await call('GET', `/v1/users/${user}/recommendations?debug=maybe`), 400, 3, 'debug');
    expectStatus(await call('GET', `/v1/users/${user}/recommendations?limit=3`), 400, 3, 'limit');
    expectStatus(await call('GET', `/v1/users/${user}/recommendations?user_id=other`), 400, 3, 'user_id');
    expectStatus(await call('GET', `/v1/users/${'u'.repeat(129)}/recommendations`), 400, 3, 'user_id');
  });
});

describe('events, user context and the registry (through the gateway to the feature store)', () => {
  it('POST /v1/events applies events once; GET /v1/users/{id}/context shows them', async () => {
    const u = `http-user-${Date.now()}`;
    const event = { eventId: `${u}-e1`, userId: u, itemId: items[3], eventType: 'click', eventTimeUnixMs: Date.now() };
    const first = await call('POST', '/v1/events', { body: { events: [event] } });
    expect(first).toMatchObject({ status: 200, json: { applied: 1, duplicates: 0 } });
    // The same event in proto field names, the int64 as a string (both proto3 JSON).
    const snake = { event_id: event.eventId, user_id: u, item_id: items[3], event_type: 'click', event_time_unix_ms: String(event.eventTimeUnixMs) };
    const again = await call('POST', '/v1/events', { body: { events: [snake] } });
    expect(again.json).toEqual({ applied: 0, duplicates: 1 });
    const ctx = await call('GET', `/v1/users/${u}/context`);
    expect(ctx.status).toBe(200);
    expect(ctx.json.recentItemIds[0]).toBe(items[3]);
    expect(ctx.json.realtime.recentEventItemIds).toEqual([items[3]]);
    expect(ctx.json.realtime.lastInteractionUnixMs).toBe(String(event.eventTimeUnixMs)); // int64 as a string
    // The seen item is excluded from the next recommendation.
    const rec = await call('POST', '/v1/recommendations', { body: { userId: u, k: 20 } });
    expect(rec.json.items.map((i: Json) => i.itemId)).not.toContain(items[3]);
  });

  it('GET /v1/users/{id}/context of an unknown user says so', async () => {
    const ctx = await call('GET', '/v1/users/never-seen-anywhere/context?max_recent_items=5');
    expect(ctx.status).toBe(200);
    expect(ctx.json).toMatchObject({ userKnown: false, recentItemIds: [] });
    expectStatus(await call('GET', '/v1/users/x/context?maxRecentItems=5000'), 400, 3, 'max_recent_items');
  });

  it('POST /v1/events answers 400 naming the bad event field', async () => {
    const ok = { eventId: 'e-bad', userId: 'u', itemId: 'i', eventType: 'click' };
    expectStatus(await call('POST', '/v1/events', { body: { events: [{ ...ok, eventType: 'Bad Type' }] } }), 400, 3, 'events[0].event_type');
    expectStatus(await call('POST', '/v1/events', { body: { events: [{ ...ok, eventTimeUnixMs: 'soon' }] } }), 400, 3, 'event_time_unix_ms');
    expectStatus(await call('POST', '/v1/events', { body: { events: {} } }), 400, 3, 'events');
    expectStatus(await call('POST', '/v1/events', { body: { event: [ok] } }), 400, 3, 'event');
    expectStatus(await call('POST', '/v1/events', { body: { events: [{ ...ok, eventId: 'x', event_id: 'y' }] } }), 400, 3, 'event_id');
  });

  it('GET /v1/feature-views lists the registry', async () => {
    const res = await call('GET', '/v1/feature-views');
    expect(res.status).toBe(200);
    expect(res.json.views.map((v: Json) => v.name)).toEqual(expect.arrayContaining(['user', 'item']));
    for (const v of res.json.views) expect(v.features.length).toBeGreaterThan(0);
    expectStatus(await call('GET', '/v1/feature-views?x=1'), 400, 3, 'x');
  });
});

describe('routes, headers and the transport', () => {
  it('answers an unknown route 404 and a wrong method 405, as google.rpc.Status', async () => {
    const nf = await call('GET', '/v1/nothing-here');
    expectStatus(nf, 404, 5);
    expect(nf.json.message).toContain('POST /v1/recommendations');
    const wrong = await call('DELETE', '/v1/recommendations');
    expectStatus(wrong, 405, 12);
    expect(wrong.headers.get('allow')).toBe('POST');
    expectStatus(await call('POST', '/v1/feature-views', { body: {} }), 405, 12);
  });

  it('echoes X-Request-Id (or makes one) and logs it', async () => {
    const given = await call('POST', '/v1/recommendations', { body: { userId: user }, headers: { 'x-request-id': 'req-abc.123' } });
    expect(given.headers.get('x-request-id')).toBe('req-abc.123');
    const made = await call('POST', '/v1/recommendations', { body: { userId: user } });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await call('POST', '/v1/recommendations', { body: { userId: user }, headers: { 'x-request-id': '<script>' } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    // A deadline too short for the chain: degraded (logged as a warning) or failed, with the request id in the log.
    const short = await call('POST', '/v1/recommendations', { body: { userId: user }, headers: { 'x-request-id': 'short-deadline-1', 'x-request-timeout-ms': '1' } });
    expect([200, 503, 504]).toContain(short.status);
    if (short.status === 200) expect(short.json.degradedStages.length).toBeGreaterThan(0);
    else expectStatus(short, short.status, short.status === 503 ? 14 : 4);
    await new Promise((r) => setTimeout(r, 200));
    expect(gatewayLines.some((l) => l.includes('"requestId":"short-deadline-1"'))).toBe(true);
  });

  it('takes the deadline from X-Request-Timeout-Ms or grpc-timeout and rejects malformed ones naming the header', async () => {
    expect((await call('POST', '/v1/recommendations', { body: { userId: user }, headers: { 'x-request-timeout-ms': '2000' } })).status).toBe(200);
    expect((await call('POST', '/v1/recommendations', { body: { userId: user }, headers: { 'grpc-timeout': '2S' } })).status).toBe(200);
    expectStatus(await call('POST', '/v1/recommendations', { body: { userId: user }, headers: { 'x-request-timeout-ms': 'soon' } }), 400, 3, 'X-Request-Timeout-Ms');
    expectStatus(await call('POST', '/v1/recommendations', { body: { userId: user }, headers: { 'x-request-timeout-ms': '0' } }), 400, 3, 'X-Request-Timeout-Ms');
    expectStatus(await call('POST', '/v1/recommendations', { body: { userId: user }, headers: { 'grpc-timeout': '5 seconds' } }), 400, 3, 'grpc-timeout');
  });

  it('closes a request that does not arrive within HTTP_READ_TIMEOUT_MS with 408', async () => {
    const [host, port] = (mesh.mesh.gatewayHttpAddress as string).split(':');
    let s: net.Socket | undefined;
    const answer = await new Promise<string>((resolve, reject) => {
      s = net.connect(Number(port), host as string, () => s?.write('POST /v1/recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"userId"'));
      let got = '';
      if (!s) return;
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', reject);
      setTimeout(() => reject(new Error(`no answer after 8 s: ${got}`)), 8000).unref();
    }).finally(() => s?.destroy());
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it('serves /openapi.json (the committed document), /docs and /console from local files only', async () => {
    const doc = await call('GET', '/openapi.json');
    expect(doc.json).toEqual(JSON.parse(fs.readFileSync(OPENAPI_PATH, 'utf8')));
    const docs = await call('GET', '/docs/');
    expect(docs.status).toBe(200);
    expect(docs.text).toContain('swagger-ui-bundle.js');
    expect(docs.text).not.toMatch(/https?:\/\//);
    expect(docs.headers.get('content-security-policy')).toContain("default-src 'self'");
    const bundle = await fetch(`${base}/docs/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toMatch(/javascript/);
    const consolePage = await call('GET', '/console/');
    expect(consolePage.status).toBe(200);
    expect(consolePage.text).not.toMatch(/<script[^>]*src="https?:/);
    expect((await call('GET', '/docs')).status).toBe(302);
    for (const p of ['/docs/..%2f..%2fpackage.json', '/console/%2e%2e%2fsrc%2fhttp%2fserver.ts', '/docs/swagger-ui-bundle.js.map', '/console/../../package.json']) {
      const r = await call('GET', p);
      expect([p, r.status]).toEqual([p, 404]);
    }
  });
});
