/**
 * Distributed traces: with OTEL_TRACES_EXPORTER=otlp every service exports its spans over
 * OTLP http/json to a plain HTTP receiver the test runs; one Recommend makes one trace with
 * spans from all four services, linked parent → child.
 */
import * as grpc from '@grpc/grpc-js';
import { callUnary } from '@recsys/grpc-kit';
import { SERVICE_NAMES } from '@recsys/local';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { useMesh } from '../support/mesh';

jest.setTimeout(120_000);

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

const mesh = useMesh(() => ({
  env: {
    LOG_LEVEL: 'debug',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
  },
  // A generous budget: on a loaded machine a stage past its budget degrades, and the trace would show it.
  serviceEnv: { gateway: { REQUEST_TIMEOUT_MS: '20000' } },
}));

const SERVER = 2;
const CLIENT = 3;

function ofTrace(traceId: string): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.traceId === traceId);
}

describe('OpenTelemetry traces', () => {
  it('one Recommend is one trace with spans from all four services, linked parent → child', async () => {
    const res = await mesh.recommend({ userId: '1', k: 10, debug: true });
    expect(res.items).toHaveLength(10);
    expect(res.traceId).toMatch(/^[0-9a-f]{32}$/);
    const want = ['recsys.v1.GatewayService/Recommend', 'recsys.v1.FeatureStoreService/GetUserContext', 'recsys.v1.CandidateGeneratorService/GenerateCandidates', 'recsys.v1.FeatureStoreService/GetOnlineFeatures', 'recsys.v1.RankerService/Rank'];
    await receiver.waitFor(() => {
      const names = ofTrace(res.traceId).filter((s) => s.kind === SERVER).map((s) => s.name);
      return want.every((w) => names.includes(w));
    });
    const spans = ofTrace(res.traceId);
    expect(receiver.rejected).toEqual([]);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(SERVICE_NAMES));
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    // Exactly one root: the gateway's SERVER span; every other span's parent is in the trace.
    const roots = spans.filter((s) => s.parentSpanId === '');
    expect(roots.map((r) => [r.service, r.name, r.kind])).toEqual([['gateway', 'recsys.v1.GatewayService/Recommend', SERVER]]);
    for (const s of spans) if (s !== roots[0]) expect(byId.has(s.parentSpanId)).toBe(true);
    const root = roots[0] as ReceivedSpan;
    expect(root.attributes).toMatchObject({ 'recsys.items': 10, 'recsys.degraded': false, 'recsys.k': 10 });
    expect(root.attributes['recsys.model_version']).toBe(res.modelVersion);
    expect(root.attributes['recsys.artifact_version']).toBe(res.artifactVersion);
    // Each downstream SERVER span ← the gateway's CLIENT span ← its stage span ← the root.
    const chain: [string, string][] = [
      ['recsys.v1.FeatureStoreService/GetUserContext', 'gateway.user_context'],
      ['recsys.v1.CandidateGeneratorService/GenerateCandidates', 'gateway.candidates'],
      ['recsys.v1.FeatureStoreService/GetOnlineFeatures', 'gateway.item_features'],
      ['recsys.v1.RankerService/Rank', 'gateway.ranking'],
    ];
    for (const [rpc, stage] of chain) {
      const server = spans.find((s) => s.kind === SERVER && s.name === rpc) as ReceivedSpan;
      expect(server.service).not.toBe('gateway');
      const client = byId.get(server.parentSpanId) as ReceivedSpan;
      expect([client.service, client.kind, client.name]).toEqual(['gateway', CLIENT, rpc]);
      const stageSpan = byId.get(client.parentSpanId) as ReceivedSpan;
      expect([stageSpan.service, stageSpan.name]).toEqual(['gateway', stage]);
      expect(stageSpan.parentSpanId).toBe(root.spanId);
      expect(server.attributes['rpc.grpc.status_code']).toBe(0);
    }
    const candidates = spans.find((s) => s.name === 'gateway.candidates') as ReceivedSpan;
    expect(candidates.attributes['recsys.candidates']).toBeGreaterThan(10);
    expect(candidates.attributes['recsys.artifact_version']).toBe(res.artifactVersion);
    const ranking = spans.find((s) => s.name === 'gateway.ranking') as ReceivedSpan;
    expect(ranking.attributes['recsys.model_version']).toBe(res.modelVersion);
  });

  it("continues the caller's traceparent and puts the trace id in the debug reply only", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const md = new grpc.Metadata();
    md.set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`);
    const gw = mesh.gateway;
    const res = await callUnary(gw.recommend.bind(gw), { userId: '1', k: 5, excludeItemIds: [], debug: true }, { deadline: Date.now() + 5000, metadata: md });
    expect(res.traceId).toBe(traceId);
    const plain = await mesh.recommend({ userId: '1', k: 5 });
    expect(plain.traceId).toBe('');
    await receiver.waitFor(() => ofTrace(traceId).some((s) => s.name === 'recsys.v1.RankerService/Rank'));
    const root = ofTrace(traceId).find((s) => s.name === 'recsys.v1.GatewayService/Recommend') as ReceivedSpan;
    expect(root.parentSpanId).toBe('00f067aa0ba902b7');
  });

  it("writes the trace id into the request's log lines", async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const md = new grpc.Metadata();
    md.set('traceparent', `00-${traceId}-b7ad6b7169203331-01`);
    const gw = mesh.gateway;
    // k = 101 is refused; the kit logs the refusal at debug level, inside the call's span.
    await expect(callUnary(gw.recommend.bind(gw), { userId: '1', k: 101, excludeItemIds: [], debug: false }, { deadline: Date.now() + 5000, metadata: md })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
    });
    const until = Date.now() + 5000;
    let line: Record<string, unknown> | undefined;
    while (!line && Date.now() < until) {
      line = mesh.services.gateway.output
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === 'request failed' && l.trace_id === traceId);
      if (!line) await new Promise((r) => setTimeout(r, 50));
    }
    expect(line).toMatchObject({ trace_id: traceId, method: '/recsys.v1.GatewayService/Recommend' });
    expect(line?.span_id).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('OpenTelemetry traces through the HTTP front door', () => {
  it("an HTTP Recommend continues the caller's traceparent into all four services", async () => {
    const http = mesh.mesh.gatewayHttpAddress;
    expect(http).toBeDefined();
    const traceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const res = await fetch(`http://${http}/v1/users/1/recommendations?k=5&debug=true`, { headers: { traceparent: `00-${traceId}-1122334455667788-01` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { traceId?: string; items?: unknown[] };
    expect(body.items).toHaveLength(5);
    expect(body.traceId).toBe(traceId);
    await receiver.waitFor(() => new Set(ofTrace(traceId).map((s) => s.service)).size === 4);
    const spans = ofTrace(traceId);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(SERVICE_NAMES));
    const root = spans.find((s) => s.name === 'recsys.v1.GatewayService/Recommend') as ReceivedSpan;
    expect(root.parentSpanId).toBe('1122334455667788');
    const byId = new Set(spans.map((s) => s.spanId));
    for (const s of spans) if (s !== root) expect(byId.has(s.parentSpanId)).toBe(true);
  });
});
