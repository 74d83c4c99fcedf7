/**
 * A Redis-backed feature store started before the first materialization: with
 * SNAPSHOT_WAIT_MS it waits NOT_SERVING and turns SERVING once a snapshot exists (no
 * crash loop on a first Kubernetes apply); without it, it stops at once naming the key.
 */
import { checkHealth, freePort, startServiceProcess } from '@recsys/local';
import { health } from '@recsys/proto';
import { RedisServer, runNode, startRedis, testArtifactsRoot } from '../support/helpers';

jest.setTimeout(120_000);

let redis: RedisServer;
beforeEach(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  await redis?.stop();
});

it('without SNAPSHOT_WAIT_MS: exits 1 naming the missing pointer key', async () => {
  const err = (await startServiceProcess('feature-store', {
    port: await freePort(),
    metricsPort: -1,
    env: { REDIS_URL: redis.url, LOG_LEVEL: 'warn' },
  }).then(
    async (p) => {
      await p.stop();
      return new Error('started');
    },
    (e: unknown) => e,
  )) as Error;
  expect(err.message).toMatch(/exited before it was SERVING \(code 1/);
  expect(err.message).toContain('key recsys:current is missing (Redis restarted empty or evicted it; run npm run materialize)');
});

it('with SNAPSHOT_WAIT_MS: NOT_SERVING until the first snapshot is materialized, then SERVING', async () => {
  const port = await freePort();
  const starting = startServiceProcess('feature-store', {
    port,
    metricsPort: -1,
    env: { REDIS_URL: redis.url, LOG_LEVEL: 'warn', SNAPSHOT_WAIT_MS: '60000', REDIS_POINTER_REFRESH_MS: '200' },
  });
  // The server answers health while it waits, and says NOT_SERVING.
  let status: number | undefined;
  for (let i = 0; i < 100 && status === undefined; i++) {
    status = await checkHealth(`127.0.0.1:${port}`).catch(() => undefined);
    if (status === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  expect(status).toBe(health.HealthCheckResponse_ServingStatus.NOT_SERVING);
  await new Promise((r) => setTimeout(r, 1000));
  expect(await checkHealth(`127.0.0.1:${port}`)).toBe(health.HealthCheckResponse_ServingStatus.NOT_SERVING);

  await runNode('cli/dist/materialize.js', ['--artifacts', testArtifactsRoot(), '--redis', redis.url]);
  const store = await starting;
  try {
    expect(await checkHealth(store.address)).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
    expect(store.output.join('\n')).toContain('waiting for Redis and a first snapshot');
  } finally {
    expect(await store.stop()).toEqual({ code: 0, signal: null });
  }
});

it('with SNAPSHOT_WAIT_MS: waits for a Redis that starts after it, then for the snapshot', async () => {
  await redis.stop();
  const redisPort = await freePort();
  const port = await freePort();
  const starting = startServiceProcess('feature-store', {
    port,
    metricsPort: -1,
    env: { REDIS_URL: `redis://127.0.0.1:${redisPort}`, LOG_LEVEL: 'warn', SNAPSHOT_WAIT_MS: '60000', REDIS_POINTER_REFRESH_MS: '200' },
  });
  await new Promise((r) => setTimeout(r, 1500));
  expect(await checkHealth(`127.0.0.1:${port}`)).toBe(health.HealthCheckResponse_ServingStatus.NOT_SERVING);
  redis = await startRedis(redisPort);
  await runNode('cli/dist/materialize.js', ['--artifacts', testArtifactsRoot(), '--redis', redis.url]);
  const store = await starting;
  expect(await checkHealth(store.address)).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
  expect(await store.stop()).toEqual({ code: 0, signal: null });
});
