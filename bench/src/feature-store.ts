/**
 * `npm run bench:feature-store [-- --iterations 2000 --batch 300 --buckets 64 --artifacts <dir>]`
 *
 * Batch-read latency of the Redis feature store: starts its own redis-server on a free
 * port, materializes a synthetic artifact (built into a temporary folder unless
 * --artifacts names one), then times, back to back and one at a time:
 *
 * - `RedisBackend.read` of `--batch` random items, all features (what GetOnlineFeatures
 *   does minus gRPC): one MGET on a single node, decode, columns;
 * - the floor: one raw ioredis `MGET` of the same keys, nothing decoded;
 * - `redis-benchmark` running the same MGET (the server's own floor, C client).
 *
 * Prints p50/p90/p99/max in milliseconds and every command it ran. Speed is measured
 * here, never in `npm test`.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadArtifacts, resolveArtifactDir } from '@recsys/core';
import { Redis } from 'ioredis';
import { DEFAULT_BUCKETS, materialize } from '@recsys/feature-store/materialize';
import { RedisBackend } from '@recsys/feature-store/redis-backend';
import { connectRedis, createRedisClient } from '@recsys/feature-store/redis-client';
import { RedisKeys } from '@recsys/feature-store/redis-keys';
import { REPO_ROOT, startRedis } from '@recsys/local';

function percentiles(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => (s[Math.min(s.length - 1, Math.floor(q * s.length))] as number).toFixed(3);
  return `p50 ${at(0.5)}  p90 ${at(0.9)}  p99 ${at(0.99)}  max ${(s[s.length - 1] as number).toFixed(3)} ms  (n=${s.length})`;
}

async function timeIt(n: number, fn: () => Promise<unknown>, label: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (process.stderr.isTTY && i % 100 === 0) process.stderr.write(`\r${label} ${i}/${n}`);
  }
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  return out;
}

/** `npm run bench:feature-store` with `argv` (its flags); the entry is cli/src/bench-feature-store.ts. */
export async function runFeatureStoreBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      iterations: { type: 'string', default: '2000' },
      batch: { type: 'string', default: '300' },
      artifacts: { type: 'string' },
      buckets: { type: 'string', default: String(DEFAULT_BUCKETS) },
    },
    strict: true,
  });
  const iterations = Number(values.iterations);
  const batch = Number(values.batch);
  const buckets = Number(values.buckets);
  if (!Number.isInteger(buckets) || buckets < 1) throw new Error(`--buckets must be a positive integer, got ${values.buckets}`);
  if (!Number.isInteger(iterations) || iterations < 10) throw new Error(`--iterations must be an integer >= 10, got ${values.iterations}`);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`--batch must be a positive integer, got ${values.batch}`);

  let tmp: string | undefined;
  let dir = values.artifacts;
  if (!dir) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-bench-fs-'));
    const cmd = [path.join(REPO_ROOT, 'cli/dist/artifacts.js'), '--dataset', 'synthetic', '--out', tmp];
    console.log(`$ node ${cmd.join(' ')}`);
    execFileSync(process.execPath, cmd, { stdio: ['ignore', 'ignore', 'inherit'] });
    dir = tmp;
  }
  const artifacts = loadArtifacts(resolveArtifactDir(dir), ['itemFeatures', 'userFeatures', 'userHistory']);
  const redis = await startRedis();
  console.log(`$ redis-server --port ${redis.port} --bind 127.0.0.1 --save '' --appendonly no`);
  const client = createRedisClient(redis.url, 5000);
  const raw = new Redis(redis.url);
  try {
    await connectRedis(client);
    const keys = new RedisKeys('bench');
    const summary = await materialize(client, keys, artifacts, { graceMs: 0, buckets });
    console.log(`materialized ${summary.keys} keys in ${summary.seconds.toFixed(2)} s (${Math.round(summary.keysPerSecond)} keys/s)`);
    const backend = new RedisBackend(client, keys);
    await backend.refresh();
    const features = backend.registry().resolve('item', []).features;
    const pick = (): string[] => Array.from({ length: batch }, () => artifacts.itemIds[Math.floor(Math.random() * artifacts.itemIds.length)] as string);
    const sample = pick();
    const rawKeys = sample.map((id) => keys.entity(artifacts.manifest.version, 'item', id, buckets));

    const check = await raw.mgetBuffer(...rawKeys);
    if (check.some((v) => v === null)) throw new Error('the floor would read missing keys: key layout mismatch');
    await timeIt(200, () => backend.read('item', pick(), features), 'warm-up');
    await timeIt(200, () => raw.mgetBuffer(...rawKeys), 'warm-up');
    const store = await timeIt(iterations, () => backend.read('item', pick(), features), 'RedisBackend.read');
    const floor = await timeIt(iterations, () => raw.mgetBuffer(...rawKeys), 'raw MGET');

    const rb = ['-p', String(redis.port), '-n', String(iterations), '-c', '1', 'MGET', ...rawKeys];
    const rbOut = execFileSync('redis-benchmark', rb, { encoding: 'utf8' });
    const summaryLine = rbOut.split('\n').findIndex((l) => l.includes('latency summary'));
    const rbLatency = summaryLine >= 0 ? rbOut.split('\n').slice(summaryLine + 1, summaryLine + 3).map((l) => l.trim()).join(' | ') : rbOut.trim();

    console.log(`\nbatch read of ${batch} items × ${features.length} features, ${buckets} hash-tag buckets, ${iterations} reads one at a time, machine: ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`  RedisBackend.read (one MGET, decode, columns):                 ${percentiles(store)}`);
    console.log(`  raw ioredis MGET of ${batch} keys (floor, no decode):            ${percentiles(floor)}`);
    console.log(`  $ redis-benchmark -p ${redis.port} -n ${iterations} -c 1 MGET <the same ${batch} keys>`);
    console.log(`    ${rbLatency}`);
  } finally {
    client.disconnect();
    raw.disconnect();
    await redis.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

