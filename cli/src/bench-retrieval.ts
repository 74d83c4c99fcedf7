/**
 * `npm run bench:retrieval -- --items N --dim D [--out DIR] [--queries Q] [--m M]
 * [--ef-construction EFC] [--ef-search EFS[,EFS…]] [--k K] [--threads T]`: exact against
 * HNSW retrieval on a synthetic clustered catalogue (see bench/src/retrieval.ts).
 */
import { runRetrievalBenchCommand } from '@recsys/bench/retrieval';

runRetrievalBenchCommand(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`bench:retrieval: ${(err as Error).message}\n`);
  process.exit(1);
});
