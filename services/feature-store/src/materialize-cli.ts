/**
 * `npm run materialize -- [--artifacts <dir>] [--redis <url>] [--prefix <p>]`
 *
 * Loads the artifact's feature snapshot into Redis and switches the live pointer to it.
 * Defaults come from ARTIFACTS_DIR, REDIS_URL and REDIS_KEY_PREFIX.
 */
import { parseArgs } from 'node:util';
import { loadArtifacts, resolveArtifactDir } from '@recsys/core';
import { RedisKeys } from './redis-keys';
import { createRedisClient } from './redis-client';
import { materialize } from './materialize';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      artifacts: { type: 'string', default: process.env.ARTIFACTS_DIR ?? 'artifacts' },
      redis: { type: 'string', default: process.env.REDIS_URL ?? '' },
      prefix: { type: 'string', default: process.env.REDIS_KEY_PREFIX ?? 'recsys' },
    },
    strict: true,
  });
  if (!values.redis) throw new Error('--redis (or REDIS_URL) is required, e.g. --redis redis://127.0.0.1:6379');
  const dir = resolveArtifactDir(values.artifacts);
  const artifacts = loadArtifacts(dir, ['itemFeatures', 'userFeatures', 'userHistory']);
  const redis = createRedisClient(values.redis, 10_000);
  await redis.connect();
  const isTty = process.stderr.isTTY;
  let lastShown = '';
  try {
    const summary = await materialize(redis, new RedisKeys(values.prefix), artifacts, ({ phase, done, total }) => {
      const pct = Math.floor((100 * done) / Math.max(total, 1));
      const line = `materialize ${phase.padEnd(9)} ${bar(pct)} ${String(pct).padStart(3)}% ${done}/${total}`;
      if (isTty) process.stderr.write(`\r${line}${done === total ? '\n' : ''}`);
      else if (pct % 25 === 0 && line !== lastShown) process.stderr.write(`${line}\n`);
      lastShown = line;
    });
    process.stdout.write(
      `materialized ${summary.version} into ${values.redis} (prefix ${values.prefix}): ` +
        `${summary.keys} keys in ${summary.seconds.toFixed(2)} s (${Math.round(summary.keysPerSecond)} keys/s); live pointer switched\n`,
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
