/**
 * `npm run materialize -- [--artifacts <dir>] [--redis <url>] [--cluster] [--prefix <p>]
 *   [--version <v>] [--buckets <n>] [--user-ttl-seconds <s>] [--item-ttl-seconds <s>]
 *   [--grace-seconds <s>] [--batch-size <n>] [--lease-seconds <s>] [--lease-wait-seconds <s>]`
 *
 * Loads the artifact's feature snapshot into Redis under a new version namespace, switches
 * the live pointer to it, and deletes the replaced version after the grace period.
 * Defaults come from ARTIFACTS_DIR, REDIS_URL, REDIS_MODE and REDIS_KEY_PREFIX.
 */
import { parseArgs } from 'node:util';
import { loadArtifacts, resolveArtifactDir } from '@recsys/core';
import { DEFAULT_BUCKETS, MaterializeProgress, materialize } from '@recsys/feature-store/materialize';
import { connectRedis, createRedisClient } from '@recsys/feature-store/redis-client';
import { RedisKeys } from '@recsys/feature-store/redis-keys';

const USAGE = `Usage: npm run materialize -- [--artifacts DIR] [--redis URL] [--cluster] [--prefix P] [--version V]
  [--buckets N] [--user-ttl-seconds S] [--item-ttl-seconds S] [--grace-seconds S] [--batch-size N]
  [--lease-seconds S] [--lease-wait-seconds S]

Loads the artifact's feature snapshot into Redis under a new version namespace, switches
the live pointer to it, and deletes the replaced version after the grace period.

  --artifacts DIR         artifact root (with CURRENT) or version directory (default: ARTIFACTS_DIR or artifacts)
  --redis URL             Redis URL, or with --cluster a comma-separated list of seed nodes (default: REDIS_URL)
  --cluster               Redis Cluster (default: REDIS_MODE=cluster)
  --prefix P              key prefix (default: REDIS_KEY_PREFIX or recsys)
  --version V             namespace name (default: the artifact version)
  --buckets N             hash-tag buckets per view (default ${DEFAULT_BUCKETS})
  --user-ttl-seconds S    TTL of user entities, 0 = never expire (default 0)
  --item-ttl-seconds S    TTL of item entities, 0 = never expire (default 0)
  --grace-seconds S       how long the replaced version stays before it is deleted (default 30)
  --batch-size N          keys per write batch (default 1000)
  --lease-seconds S       the materialize lease (one run at a time; renewed every third of it): a run that
                          loses it (paused longer) stops, does not switch the pointer and removes its
                          namespace (default 30)
  --lease-wait-seconds S  how long a run waits for another run's lease (it finishing, or expiring after
                          a crash) before failing (default 60; 0 = fail at once)
  -h, --help              show this help`;

function intOption(name: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      artifacts: { type: 'string', default: process.env.ARTIFACTS_DIR ?? 'artifacts' },
      redis: { type: 'string', default: process.env.REDIS_URL ?? '' },
      cluster: { type: 'boolean', default: process.env.REDIS_MODE === 'cluster' },
      prefix: { type: 'string', default: process.env.REDIS_KEY_PREFIX ?? 'recsys' },
      version: { type: 'string' },
      buckets: { type: 'string', default: String(DEFAULT_BUCKETS) },
      'user-ttl-seconds': { type: 'string', default: '0' },
      'item-ttl-seconds': { type: 'string', default: '0' },
      'grace-seconds': { type: 'string', default: '30' },
      'batch-size': { type: 'string', default: '1000' },
      'lease-seconds': { type: 'string', default: '30' },
      'lease-wait-seconds': { type: 'string', default: '60' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!values.redis) throw new Error('--redis (or REDIS_URL) is required, e.g. --redis redis://127.0.0.1:6379');
  const buckets = intOption('buckets', values.buckets, 1);
  const ttlSeconds = { user: intOption('user-ttl-seconds', values['user-ttl-seconds'], 0), item: intOption('item-ttl-seconds', values['item-ttl-seconds'], 0) };
  const graceMs = intOption('grace-seconds', values['grace-seconds'], 0) * 1000;
  const batchSize = intOption('batch-size', values['batch-size'], 1);
  const leaseMs = intOption('lease-seconds', values['lease-seconds'], 1) * 1000;
  const leaseWaitMs = intOption('lease-wait-seconds', values['lease-wait-seconds'], 0) * 1000;
  const dir = resolveArtifactDir(values.artifacts);
  const artifacts = loadArtifacts(dir, ['itemFeatures', 'userFeatures', 'userHistory']);
  const redis = createRedisClient(values.redis, 10_000, values.cluster ? 'cluster' : 'single');
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    await connectRedis(redis);
  } catch (err) {
    redis.disconnect();
    throw new Error(`cannot connect to Redis at ${values.redis}: ${(lastError ?? (err as Error)).message}`);
  }
  const isTty = process.stderr.isTTY;
  let lastShown = '';
  try {
    const summary = await materialize(redis, new RedisKeys(values.prefix), artifacts, {
      version: values.version,
      buckets,
      ttlSeconds,
      graceMs,
      batchSize,
      leaseMs,
      leaseWaitMs,
      onLeaseWait: (holder, ttl) => process.stderr.write(`materialize: waiting for another run's lease (${holder}, ${ttl} ms left)\n`),
      onProgress: ({ phase, done, total }: MaterializeProgress) => {
        const pct = Math.floor((100 * done) / Math.max(total, 1));
        const line = `materialize ${phase.padEnd(9)} ${bar(pct)} ${String(pct).padStart(3)}% ${done}/${total}`;
        if (isTty) process.stderr.write(`\r${line}${done === total ? '\n' : ''}`);
        else {
          // Without a terminal: one line per 10 % step of each phase.
          const step = `${phase}:${Math.floor(pct / 10)}`;
          if (step !== lastShown) process.stderr.write(`${line}\n`);
          lastShown = step;
        }
      },
      onGrace: (old, ms) => process.stderr.write(`materialize: live pointer switched; deleting ${old} after a ${ms / 1000} s grace period (interrupting leaves it for the next run)\n`),
    });
    process.stdout.write(
      `materialized ${summary.version} into ${values.redis} (prefix ${values.prefix}): ` +
        `${summary.keys} keys in ${summary.seconds.toFixed(2)} s (${Math.round(summary.keysPerSecond)} keys/s); live pointer switched` +
        `${summary.previous && summary.previous !== summary.version ? ` from ${summary.previous}` : ''}` +
        `${summary.deleted.length ? `; deleted ${summary.deleted.join(', ')} (${summary.deletedKeys} keys)` : ''}\n`,
    );
  } finally {
    redis.disconnect();
  }
}

function bar(pct: number): string {
  const width = 30;
  const full = Math.round((pct / 100) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

main().catch((err: unknown) => {
  process.stderr.write(`materialize: ${(err as Error).message}\n`);
  process.exit(1);
});
