/**
 * A service whose port another process already holds. The launcher picks free ports and
 * the service binds them later; in between another process can take one (tests running in
 * parallel do). Before the launcher pipe's `ready` line, the readiness poll reached the
 * other process, which answered health SERVING, while the service itself died with
 * EADDRINUSE: every call of the test then went to a server without the service's methods
 * (108,454 UNIMPLEMENTED in one hot-reload run). Now the start fails naming EADDRINUSE,
 * and startMesh with free ports starts that service again on new ones.
 */
import * as grpc from '@grpc/grpc-js';
import { callUnary, createClient } from '@recsys/grpc-kit';
import { freePort, SERVICE_NAMES, ServiceStartError, startMesh, startServiceProcess } from '@recsys/local';
import { GatewayServiceClient, health, RecommendRequest } from '@recsys/proto';
import * as processes from '../../deploy/local/src/processes';
import { testArtifactsRoot } from '../support/helpers';

jest.setTimeout(60_000);

/** A bare gRPC server on 127.0.0.1:`port` whose health says SERVING for every name. */
async function impostor(port: number): Promise<grpc.Server> {
  const server = new grpc.Server();
  server.addService(health.HealthService, {
    check: (_call: unknown, cb: grpc.sendUnaryData<health.HealthCheckResponse>) => cb(null, { status: health.HealthCheckResponse_ServingStatus.SERVING }),
    watch: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return server;
}

it('a service whose gRPC port is held by a process answering SERVING fails its start with EADDRINUSE, not a start that looks ready', async () => {
  const port = await freePort();
  const other = await impostor(port);
  try {
    const started = startServiceProcess('ranker', { port, metricsPort: await freePort(), env: { ARTIFACTS_DIR: testArtifactsRoot(), LOG_LEVEL: 'warn' }, readyTimeoutMs: 30_000 });
    const err = await started.then(
      async (p) => {
        await p.stop('SIGKILL');
        return new Error('the start resolved although another process holds the port');
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ServiceStartError);
    expect((err as ServiceStartError).message).toMatch(/ranker exited before it was SERVING/);
    expect((err as ServiceStartError).output.join('\n')).toContain('EADDRINUSE');
  } finally {
    other.forceShutdown();
  }
});

it('startMesh with free ports starts a service whose picked port was taken again on new ports, and the mesh answers', async () => {
  const taken = await freePort();
  const other = await impostor(taken);
  // The first port startMesh picks (the first service's gRPC port) is the taken one.
  const real = processes.freePort;
  let calls = 0;
  const spy = jest.spyOn(processes, 'freePort').mockImplementation(() => (calls++ === 0 ? Promise.resolve(taken) : real()));
  const lines: string[] = [];
  try {
    const mesh = await startMesh({ artifactsDir: testArtifactsRoot(), ports: 'free', env: { LOG_LEVEL: 'warn' }, onLine: (name, line) => lines.push(`${name}: ${line}`) });
    try {
      const first = SERVICE_NAMES[0]!;
      expect(mesh.services[first].port).not.toBe(taken);
      expect(lines.filter((l) => l.startsWith(`${first}: a port was taken by another process (EADDRINUSE)`))).toHaveLength(1);
      const client = createClient(GatewayServiceClient, mesh.gatewayAddress);
      try {
        const res = await callUnary(client.recommend.bind(client), RecommendRequest.fromPartial({ userId: 'port-collision', k: 5 }), { deadline: Date.now() + 10_000 });
        expect(res.items).toHaveLength(5);
      } finally {
        client.close();
      }
    } finally {
      await mesh.stop();
    }
  } finally {
    spy.mockRestore();
    other.forceShutdown();
  }
});
