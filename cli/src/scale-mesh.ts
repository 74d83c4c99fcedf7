/**
 * `npm run scale:mesh -- [--items 1000000 --users 20000 --interactions 2000000] [--ranker-users N] [--out DIR] [--seconds 120]`:
 * the mesh on a large synthetic artifact with HNSW retrieval, a grpc_probe Recommend and a
 * hot reload to a second version under load (see bench/src/scale-mesh.ts).
 */
import { runScaleMeshCommand } from '@recsys/bench/scale-mesh';

runScaleMeshCommand(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`scale:mesh: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
