/**
 * Bulk loads through the real CLI: a load killed halfway (SIGKILL, a real child process)
 * leaves the previous version serving; running it again completes, the feature store
 * switches without a restart, readers only ever see a complete version, and the old
 * version is deleted after its grace period.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { loadArtifacts } from '@recsys/core';
import { callUnary, createClient } from '@recsys/grpc-kit';
import { REPO_ROOT, ServiceProcess, freePort, startServiceProcess } from '@recsys/local';
import { FeatureStoreServiceClient, GetOnlineFeaturesResponse } from '@recsys/proto';
import { Redis } from 'ioredis';
import { RedisServer, runNode, startRedis, testArtifactsRoot } from '../support/helpers';

jest.setTimeout(180_000);

const CLI = 'cli/dist/materialize.js';
let redis: RedisServer;
let r: Redis;
let fs: ServiceProcess;
let client: FeatureStoreServiceClient;
let itemIds: string[];

const read = (): Promise<GetOnlineFeaturesResponse> =>
  callUnary(client.getOnlineFeatures.bind(client), { featureView: 'item', entityIds: itemIds, featureNames: [], packedValues: false }, { deadline: Date.now() + 5000 });

async function keysOf(version: string): Promise<number> {
  let n = 0;
  let cursor = '0';
  do {
    const [next, found] = await r.scan(cursor, 'MATCH', `recsys:{${version}*`, 'COUNT', 1000);
    cursor = next;
    n += found.length;
  } while (cursor !== '0');
  return n;
}

beforeAll(async () => {
  redis = await startRedis();
  r = new Redis(redis.url);
  itemIds = loadArtifacts(testArtifactsRoot(), ['itemIds']).itemIds.slice(0, 50);
  const first = await runNode(CLI, ['--artifacts', testArtifactsRoot(), '--redis', redis.url, '--version', 'v1', '--grace-seconds', '0']);
  expect(first.stdout).toMatch(/materialized v1 .* keys in .* s \(\d+ keys\/s\); live pointer switched/);
  fs = await startServiceProcess('feature-store', {
    port: await freePort(),
    metricsPort: -1,
    env: { ARTIFACTS_DIR: '/nonexistent', REDIS_URL: redis.url, REDIS_POINTER_REFRESH_MS: '200', LOG_LEVEL: 'warn' },
  });
  client = createClient(FeatureStoreServiceClient, fs.address);
});

afterAll(async () => {
  client?.close();
  await fs?.stop();
  r?.disconnect();
  await redis?.stop();
});

it('a load killed halfway leaves the previous version serving; a re-run completes and switches', async () => {
  const before = await read();
  expect(before.snapshotVersion).toBe('v1');
  expect(before.features?.unknownEntityIndices).toEqual([]);

  // Start loading v2 one key per batch and SIGKILL it at its first progress line.
  const child = spawn(process.execPath, [path.join(REPO_ROOT, CLI), '--artifacts', testArtifactsRoot(), '--redis', redis.url, '--version', 'v2', '--batch-size', '1', '--lease-seconds', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (/materialize users/.test(stderr)) child.kill('SIGKILL');
  });
  expect(await exited).toBe('SIGKILL');

  // Killed mid-load: v2 is partial and marked incomplete, the pointer still names v1.
  expect(JSON.parse((await r.get('recsys:{v2}:meta')) as string)).toMatchObject({ complete: false });
  expect(await r.get('recsys:current')).toBe('v1');
  const partial = await keysOf('v2');
  expect(partial).toBeGreaterThan(0);
  expect(partial).toBeLessThan(await keysOf('v1'));
  await new Promise((res) => setTimeout(res, 1000)); // several pointer refreshes
  const during = await read();
  expect(during.snapshotVersion).toBe('v1');
  expect(during.features).toEqual(before.features);

  // Re-run while reading continuously: every read is a complete v1 or v2, never a mix.
  let reading = true;
  const seen: GetOnlineFeaturesResponse[] = [];
  const reader = (async () => {
    while (reading) seen.push(await read());
  })();
  const rerun = await runNode(CLI, ['--artifacts', testArtifactsRoot(), '--redis', redis.url, '--version', 'v2', '--grace-seconds', '3']);
  expect(rerun.stdout).toMatch(/materialized v2 .*live pointer switched from v1; deleted v1 \((\d+) keys\)/);
  expect(rerun.stderr).toMatch(/deleting v1 after a 3 s grace period/);
  const until = Date.now() + 15_000;
  while ((await read()).snapshotVersion !== 'v2' && Date.now() < until) await new Promise((res) => setTimeout(res, 100));
  reading = false;
  await reader;
  const after = await read();
  expect(after.snapshotVersion).toBe('v2');
  expect(after.features).toEqual(before.features);
  expect(seen.length).toBeGreaterThan(0);
  for (const s of seen) {
    expect(['v1', 'v2']).toContain(s.snapshotVersion);
    expect(s.features).toEqual(before.features);
  }
  // The old version is gone, its bookkeeping too.
  expect(await keysOf('v1')).toBe(0);
  expect(Number(/deleted v1 \((\d+) keys\)/.exec(rerun.stdout)?.[1])).toBe(await keysOf('v2'));
  expect(await r.hkeys('recsys:versions')).toEqual(['v2']);
});

it('shows the registry of the live version through ListFeatureViews', async () => {
  const res = await callUnary(client.listFeatureViews.bind(client), {}, { deadline: Date.now() + 5000 });
  expect(res.snapshotVersion).toBe('v2');
  expect(res.views.map((v) => [v.name, v.version])).toEqual([
    ['user', 'v2'],
    ['item', 'v2'],
  ]);
  const manifest = loadArtifacts(testArtifactsRoot(), []).manifest;
  expect(res.views[1]!.features.map((f) => f.name)).toEqual(manifest.feature_views.item.features.map((f) => f.name));
});
