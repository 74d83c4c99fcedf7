/**
 * `npm run bench -- [--workload <dir>] [--out <dir>] [--duration-ms N] [--warmup-ms N]
 *  [--levels 1,16,64] [--inprocess-levels 16,64] [--no-micro] [--profile]`
 *
 * Wiring only: parses flags, runs the benchmark (harness.ts), then the feature-store
 * batch-read benchmark when the repository has one. Exit codes: 0 done, 1 failure,
 * 2 bad flag, 3 answers differ from the reference (no figures reported).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '@recsys/local';
import { ReferenceMismatchError, runBench } from './harness';

const USAGE = `npm run bench -- [options]
  --workload <dir>          workload folder (default ../shared/bench/workload beside the repository, or RECSYS_BENCH_WORKLOAD)
  --out <dir>               where bench.json, bench-details.json, latency-throughput.svg and table.txt go (default bench-results/)
  --levels 1,16,64          mesh concurrency levels (c=1 is the idle latency)
  --inprocess-levels 16,64  in-process concurrency levels
  --warmup-ms 3000          warm-up before each level
  --duration-ms 10000       measured window of each level
  --min-requests 50         a level's window stays open until this many requests completed in it
  --k 20                    Recommend k
  --debug-every 10          every n-th request asks for per-stage timings (0 = none)
  --micro-ms 1500           time budget of each micro-benchmark
  --no-micro                skip the micro-benchmarks
  --no-feature-store        do not run npm run bench:feature-store afterwards
  --profile                 c=16 only, with CPU profiles of the four services (profiles/, profile-summary.txt)
Exit codes: 0 done, 1 failure, 2 bad flag, 3 answers differ from reference.json (no figures reported).
`;

/**
 * The default workload folder: RECSYS_BENCH_WORKLOAD, else the first
 * `shared/bench/workload` found beside the repository or beside one of its ancestors
 * (a clone at /work/main, a worktree at /work/wt-x or a clone nested deeper all find
 * /work/shared), else `../shared/bench/workload` relative to the repository root.
 */
export function defaultWorkloadDir(): string {
  if (process.env.RECSYS_BENCH_WORKLOAD) return path.resolve(process.env.RECSYS_BENCH_WORKLOAD);
  for (let dir = REPO_ROOT; ; dir = path.dirname(dir)) {
    const candidate = path.join(path.dirname(dir), 'shared', 'bench', 'workload');
    if (fs.existsSync(path.join(candidate, 'reference.json'))) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  return path.resolve(REPO_ROOT, '..', 'shared', 'bench', 'workload');
}

function intFlag(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`bench: --${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}\n`);
    process.exit(2);
  }
  return n;
}

function levelsFlag(name: string, value: string): number[] {
  return value.split(',').map((v) => intFlag(name, v.trim(), 1));
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        workload: { type: 'string', default: defaultWorkloadDir() },
        out: { type: 'string', default: path.join(REPO_ROOT, 'bench-results') },
        'duration-ms': { type: 'string', default: '10000' },
        'warmup-ms': { type: 'string', default: '3000' },
        'min-requests': { type: 'string', default: '50' },
        levels: { type: 'string', default: '1,16,64' },
        'inprocess-levels': { type: 'string', default: '16,64' },
        k: { type: 'string', default: '20' },
        'debug-every': { type: 'string', default: '10' },
        'micro-ms': { type: 'string', default: '1500' },
        'no-micro': { type: 'boolean', default: false },
        'no-feature-store': { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const workloadDir = path.resolve(values.workload);
  if (!fs.existsSync(workloadDir)) {
    process.stderr.write(`bench: --workload ${workloadDir} does not exist (the standard workload lives in ../shared/bench/workload beside the repository; pass --workload <dir> or set RECSYS_BENCH_WORKLOAD)\n`);
    process.exit(2);
  }
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    await runBench({
      workloadDir,
      outDir: path.resolve(values.out),
      durationMs: intFlag('duration-ms', values['duration-ms'], 1),
      warmupMs: intFlag('warmup-ms', values['warmup-ms'], 0),
      meshLevels: levelsFlag('levels', values.levels),
      inprocessLevels: levelsFlag('inprocess-levels', values['inprocess-levels']),
      k: intFlag('k', values.k, 1),
      debugEvery: intFlag('debug-every', values['debug-every'], 0),
      minRequests: intFlag('min-requests', values['min-requests'], 1),
      micro: !values['no-micro'],
      microBudgetMs: intFlag('micro-ms', values['micro-ms'], 1),
      profile: values.profile,
      log,
    });
  } catch (err) {
    if (err instanceof ReferenceMismatchError) {
      process.stderr.write(`bench: ${err.message}\n`);
      process.exit(3);
    }
    throw err;
  }
  // The feature store's own batch-read benchmark (bench/feature-store.ts), when present.
  const scripts = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
  if (!values.profile && !values['no-feature-store'] && scripts['bench:feature-store']) {
    log('\nnpm run bench:feature-store …');
    const r = spawnSync('npm', ['run', '--silent', 'bench:feature-store'], { cwd: REPO_ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`npm run bench:feature-store failed (exit ${r.status})`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
