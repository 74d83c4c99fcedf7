/**
 * Hardening, transport (issue 11, rows 4, 5, 6, 17): limits of the HTTP/2 listener and
 * connections of every service, the per-connection share of the call slots, and the safe defaults (loopback bind, gateway reflection
 * limited to its public service). Raw frames come from test/support/raw_h2.py (python3-h2's
 * hyperframe + hpack under /usr/bin/python3); idle connections are plain TCP sockets.
 */
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { REPO_ROOT, freePort, serviceEntry } from '@recsys/local';
import { createClient } from '@recsys/grpc-kit';
import { GatewayServiceClient, RecommendRequest, health } from '@recsys/proto';
import { DelayProxy, eventually, gatewayCaller, loadFor, summary } from '../support/fault-helpers';
import { failure, listenAddresses, rawH2, rssMb } from '../support/hardening';
import { counterValue, probe, testArtifactsRoot } from '../support/helpers';
import { freeMeshPorts, recommendOn, useMesh } from '../support/mesh';

jest.setTimeout(300_000);

let proxy: DelayProxy;
let ports: Awaited<ReturnType<typeof freeMeshPorts>>;
beforeAll(async () => {
  ports = await freeMeshPorts();
  // Row 6 makes ranking slow through this proxy, so a hog's calls hold their slots.
  proxy = await new DelayProxy(ports.ranker.grpc).start();
});
afterAll(() => proxy?.stop());

const mesh = useMesh(() => ({
  ports,
  serviceEnv: {
    gateway: {
      RANKER_ADDR: proxy.address,
      REQUEST_TIMEOUT_MS: '3000',
      MAX_CONCURRENT_CALLS: '8',
      MAX_CALLS_PER_CONNECTION: '4',
      MAX_CONNECTIONS: '40',
      GRPC_MAX_CONNECTION_IDLE_MS: '1500',
    },
  },
}));

const healthCheck = (client: grpc.Client): Promise<unknown> =>
  new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (m: health.HealthCheckRequest) => Buffer.from(health.HealthCheckRequest.encode(m).finish()),
      (b: Buffer) => health.HealthCheckResponse.decode(b),
      { service: '' },
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );

describe('row 4: streams per connection', () => {
  it('the server advertises SETTINGS_MAX_CONCURRENT_STREAMS 256 and refuses streams beyond it; 20,000 half-open streams leave RSS bounded', async () => {
    const pid = mesh.services['feature-store'].child.pid!;
    const before = rssMb(pid);
    const r = await rawH2<{ settings: Record<string, number>; rst: Record<string, number>; sent: number; closed: boolean }>([
      'streams',
      '127.0.0.1',
      String(mesh.services['feature-store'].port),
      '/recsys.v1.FeatureStoreService/GetUserContext',
      '20000',
    ]);
    // SETTINGS_MAX_CONCURRENT_STREAMS is setting 3.
    expect(r.settings['3']).toBe(256);
    // Every stream past the 256th is refused (RST_STREAM REFUSED_STREAM = 7), or the
    // connection is cut once too many were refused (nghttp2's rejected-stream bound).
    expect((r.rst['7'] ?? 0) > 0 || r.closed).toBe(true);
    expect(rssMb(pid) - before).toBeLessThan(150);
    expect(await healthCheck(mesh.client(GatewayServiceClient, 'feature-store'))).toEqual({ status: health.HealthCheckResponse_ServingStatus.SERVING });
  });
  it('a client pinging back to back is told too_many_pings and disconnected', async () => {
    const r = await rawH2<{ goaway: { error_code: number; debug: string } | null; closed: boolean }>(['pings', '127.0.0.1', String(mesh.services.ranker.port), '50']);
    expect(r.goaway).toEqual({ error_code: 11, debug: 'too_many_pings' });
  });
});

describe('row 5: idle connections and the connection cap', () => {
  it('idle TCP connections are closed after GRPC_MAX_CONNECTION_IDLE_MS; past MAX_CONNECTIONS a new caller is told so, also behind a flood of silent sockets', async () => {
    const port = mesh.services.gateway.port;
    const refusedBefore = await counterValue(mesh.metricsPort('gateway'), 'grpc_server_connections_refused_total');
    const sockets: net.Socket[] = [];
    const closed = new Set<net.Socket>();
    // 40 fill the cap; 60 more are refused, six times the refused connections the gateway
    // keeps open (a quarter of the cap): the silent ones are cut first, never a real caller.
    for (let i = 0; i < 100; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      s.resume(); // read (and drop) the server's SETTINGS, so its close is seen
      s.on('close', () => closed.add(s));
      sockets.push(s);
    }
    await Promise.all(sockets.map((s) => new Promise((r) => (s.connecting ? s.once('connect', r).once('close', r) : r(undefined)))));
    await new Promise((r) => setTimeout(r, 200));
    // Three callers in a row, each on its own connection, each refused with the reason.
    for (let i = 0; i < 3; i++) {
      const late = createClient(GatewayServiceClient, mesh.gatewayAddress, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
      try {
        const err = await failure(recommendOn(late, { k: 5 }));
        expect({ code: grpc.status[err.code], details: err.details }).toEqual({
          code: 'RESOURCE_EXHAUSTED',
          details: 'gateway is at its limit of 40 connections; this connection is closed, retry later',
        });
      } finally {
        late.close();
      }
    }
    expect((await counterValue(mesh.metricsPort('gateway'), 'grpc_server_connections_refused_total')) - refusedBefore).toBeGreaterThanOrEqual(63);
    // The idle ones are closed by the server (idle timeout 1.5 s; the refused ones sooner).
    await eventually('every idle connection closed by the server', 10_000, async () => closed.size === sockets.length);
    const ok = gatewayCaller(mesh.gatewayAddress);
    try {
      expect((await ok.recommend({ k: 5 })).items).toHaveLength(5);
    } finally {
      ok.close();
    }
  });
});

describe('row 6: one connection cannot take every call slot', () => {
  it('a hog with 16 slow calls in flight on one connection holds at most 4 of 8 slots; another client is served throughout', async () => {
    proxy.delayMs = 400;
    try {
      // Two clients, two connections (grpc-js would otherwise share one subchannel between them).
      const own = { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } };
      const hogClient = createClient(GatewayServiceClient, mesh.gatewayAddress, own);
      const normalClient = createClient(GatewayServiceClient, mesh.gatewayAddress, own);
      const hog = { recommend: (req: Partial<RecommendRequest>) => recommendOn(hogClient, req), close: () => hogClient.close() };
      const normal = { recommend: (req: Partial<RecommendRequest>) => recommendOn(normalClient, req), close: () => normalClient.close() };
      let hogRefused = 0;
      try {
        const hogRun = loadFor(4000, 16, () =>
          hog.recommend({ k: 5 }).catch((e: grpc.ServiceError) => {
            if (e.code === grpc.status.RESOURCE_EXHAUSTED) hogRefused++;
            throw e;
          }),
        );
        await new Promise((r) => setTimeout(r, 300));
        const normalRun = await loadFor(3000, 2, () => normal.recommend({ k: 5 }));
        await hogRun;
        expect({ why: summary(normalRun), failed: normalRun.filter((o) => o.code !== grpc.status.OK).length }).toEqual({ why: summary(normalRun), failed: 0 });
        expect(normalRun.length).toBeGreaterThanOrEqual(2);
        expect(hogRefused).toBeGreaterThan(0);
      } finally {
        hog.close();
        normal.close();
      }
    } finally {
      proxy.delayMs = 0;
    }
  });
});

describe('row 6: a client that never reads', () => {
  it('300 calls from a client that never reads a byte (flow-control window 0) hold no call slot: another client is served throughout, the gateway stays bounded', async () => {
    const pid = mesh.services.gateway.child.pid!;
    const before = rssMb(pid);
    const handled = async (): Promise<number> => {
      const method = '/recsys.v1.GatewayService/Recommend';
      const port = mesh.metricsPort('gateway');
      return (await counterValue(port, 'grpc_server_handled_total', { method, code: 'OK' })) + (await counterValue(port, 'grpc_server_handled_total', { method, code: 'RESOURCE_EXHAUSTED' }));
    };
    const handledBefore = await handled();
    const message = Buffer.from(RecommendRequest.encode(RecommendRequest.fromPartial({ userId: '1', k: 10 })).finish()).toString('hex');
    const stuck = rawH2<{ sent: number; closed: boolean }>(['noread', '127.0.0.1', String(mesh.services.gateway.port), '/recsys.v1.GatewayService/Recommend', message, '300', '6']);
    await new Promise((r) => setTimeout(r, 1000));
    const normal = gatewayCaller(mesh.gatewayAddress);
    let run: Awaited<ReturnType<typeof loadFor>> = [];
    try {
      // 2 callers against MAX_CONCURRENT_CALLS 8: every call is answered while the stuck client holds its streams.
      run = await loadFor(3000, 2, () => normal.recommend({ k: 5 }));
      expect({ why: summary(run), failed: run.filter((o) => o.code !== grpc.status.OK).length }).toEqual({ why: summary(run), failed: 0 });
      expect(run.length).toBeGreaterThanOrEqual(2);
    } finally {
      normal.close();
    }
    expect((await stuck).sent).toBeGreaterThan(0);
    // The stuck client's calls were all answered (up to the 256 streams a connection may open;
    // past its share of 4 in flight, RESOURCE_EXHAUSTED), none of them kept a slot.
    expect((await handled()) - handledBefore).toBeGreaterThanOrEqual(run.length + 200);
    expect(rssMb(pid) - before).toBeLessThan(100);
  });
});

describe('row 17: safe defaults', () => {
  it("a service started without GRPC_HOST listens on 127.0.0.1 only", async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, GRPC_PORT: String(port), METRICS_PORT: '-1', ARTIFACTS_DIR: testArtifactsRoot(), LOG_LEVEL: 'error' };
    delete env.GRPC_HOST;
    const child = spawn(process.execPath, [serviceEntry('candidate-generator')], { env, stdio: 'ignore', cwd: REPO_ROOT });
    try {
      await eventually('the candidate generator listening', 60_000, async () => listenAddresses(port).length > 0);
      expect(listenAddresses(port)).toEqual(['127.0.0.1']);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
  it('the gateway reflection lists and describes only its public service', async () => {
    const list = await probe(mesh.gatewayAddress, 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('recsys.v1.GatewayService');
    expect(list.stdout).not.toMatch(/RankerService|FeatureStoreService|CandidateGeneratorService/);
    const internal = await probe(mesh.gatewayAddress, 'describe', 'recsys.v1.RankerService');
    expect(internal.code).not.toBe(0);
    const pub = await probe(mesh.gatewayAddress, 'describe', 'recsys.v1.GatewayService.Recommend');
    expect(pub.code).toBe(0);
    // The internal services still describe themselves (REFLECTION_SCOPE=all is their default).
    expect((await probe(mesh.address('ranker'), 'describe', 'recsys.v1.RankerService')).code).toBe(0);
  });
});
