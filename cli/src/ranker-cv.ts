/**
 * `npm run ranker-cv -- --dataset movielens --data DIR [--seed N] [--folds K] [--trees T] [--objective logistic|pairwise]
 *   [--learning-rate R] [--depth D] [--bags B] [--negatives N]`
 *
 * Cross-validates ranker settings over the validation users of the stage A that
 * `npm run artifacts` trains the ranker on (the build's own defaults, with the flags on
 * top), and prints the mean held-out NDCG@10 every 10 trees: how the served settings and
 * tree count are chosen without looking at the test part. Exit code 0, 2 on a usage error,
 * 1 on any other error.
 */
import { parseArgs } from 'node:util';
import { crossValidateBuildRanker, type DatasetName, type GbdtOptions, type RankerTrainOptions } from '@recsys/offline';

const USAGE = `Usage: npm run ranker-cv -- [--dataset synthetic|movielens] [--data DIR] [--seed N] [--folds K] [--trees T]
                          [--objective logistic|pairwise] [--learning-rate R] [--depth D] [--bags B] [--negatives N]

  --dataset NAME      synthetic or movielens (default synthetic)
  --data DIR          MovieLens directory (ratings.csv + movies.csv or u.data + u.item)
  --seed N            seed of ALS, sampling and folds, 0..4294967295 (default 42)
  --folds K           folds over the validation users, 2..20 (default 5)
  --trees T           trees measured, every 10, 10..2000 (default 200)
  --objective O       logistic or pairwise (default: the build's)
  --learning-rate R   shrinkage in (0, 1] (default: the build's)
  --depth D           maximum tree depth 1..12 (default: the build's)
  --bags B            ensembles averaged per model 1..16 (default: the build's)
  --negatives N       sampled negatives per user 1..10000 (default: the build's)`;

class UsageError extends Error {}

function number(name: string, raw: string | undefined, min: number, max: number, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got "${raw}"`);
  }
  return v;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      dataset: { type: 'string', default: 'synthetic' },
      data: { type: 'string' },
      seed: { type: 'string', default: '42' },
      folds: { type: 'string', default: '5' },
      trees: { type: 'string', default: '200' },
      objective: { type: 'string' },
      'learning-rate': { type: 'string' },
      depth: { type: 'string' },
      bags: { type: 'string' },
      negatives: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let options: Parameters<typeof crossValidateBuildRanker>[0];
  try {
    if (values.dataset !== 'synthetic' && values.dataset !== 'movielens') throw new UsageError(`--dataset must be synthetic or movielens, got "${values.dataset}"`);
    if (values.objective !== undefined && values.objective !== 'logistic' && values.objective !== 'pairwise') {
      throw new UsageError(`--objective must be logistic or pairwise, got "${values.objective}"`);
    }
    const gbdt: Partial<GbdtOptions> = { trees: number('trees', values.trees, 10, 2000, true)!, evalEvery: 10 };
    const lr = number('learning-rate', values['learning-rate'], 1e-4, 1, false);
    const depth = number('depth', values.depth, 1, 12, true);
    if (values.objective !== undefined) gbdt.objective = values.objective;
    if (lr !== undefined) gbdt.learningRate = lr;
    if (depth !== undefined) gbdt.maxDepth = depth;
    const bags = number('bags', values.bags, 1, 16, true);
    const negatives = number('negatives', values.negatives, 1, 10_000, true);
    options = {
      dataset: values.dataset as DatasetName,
      ...(values.data === undefined ? {} : { dataPath: values.data }),
      seed: number('seed', values.seed, 0, 0xffffffff, true)!,
      folds: number('folds', values.folds, 2, 20, true)!,
      ranker: { gbdt, ...(bags === undefined ? {} : { bags }), ...(negatives === undefined ? {} : { negativesPerUser: negatives }) } satisfies Partial<RankerTrainOptions>,
      onProgress: (f, note) => process.stderr.write(`\rcross-validating ${(100 * f).toFixed(0).padStart(3)}%  ${note.padEnd(60).slice(0, 60)}`),
    };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`ranker-cv: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  const t0 = Date.now();
  const cv = await crossValidateBuildRanker(options);
  process.stderr.write('\n');
  let best = 0;
  cv.ndcg.forEach((v, i) => (best = v > cv.ndcg[best]! ? i : best));
  process.stdout.write(`trees  mean NDCG@10 over ${cv.folds.length} folds  per fold\n`);
  cv.trees.forEach((t, i) => process.stdout.write(`${String(t).padStart(5)}  ${cv.ndcg[i]!.toFixed(4)}${i === best ? ' *' : '  '}                     ${cv.folds.map((f) => f[i]!.toFixed(4)).join(' ')}\n`));
  process.stdout.write(`best: ${cv.trees[best]} trees, NDCG@10 ${cv.ndcg[best]!.toFixed(4)} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ranker-cv: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
