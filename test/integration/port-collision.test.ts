/**
 * A service whose port another process already holds. The launcher picks free ports and
 * the service binds them later; in between another process can take one (tests running in
 * parallel do). Before the launcher pipe's `ready` line, the readiness poll reached the
 * other process, which answered health SERVING, while the service itself died with
 * EADDRINUSE: every call of the test then went to a server without the service's methods
 * (108,454 UNIMPLEMENTED in one hot-reload run). Now the start fails naming EADDRINUSE.
 */
import * as grpc from '@grpc/grpc-js';
import { freePort, ServiceStartError, startServiceProcess } from '@recsys/local';
import { health } from '@recsys/proto';
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
