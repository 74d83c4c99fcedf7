/**
 * `npm run bench:feature-store -- [--iterations 2000 --batch 300 --buckets 64 --artifacts <dir>]`:
 * batch-read latency of the Redis feature store next to its floors (see bench/src/feature-store.ts).
 */
import { runFeatureStoreBench } from '@recsys/bench/feature-store';

runFeatureStoreBench(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`bench:feature-store: ${(err as Error).message}\n`);
  process.exit(1);
});
