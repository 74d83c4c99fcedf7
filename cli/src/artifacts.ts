/**
 * `npm run artifacts -- --dataset synthetic|movielens [--data DIR] --out <dir> [--seed N] [--history train|all]`
 *
 * Builds an artifact version directory under the output root and points its `CURRENT` at
 * it. Progress goes to stderr, the summary table to stdout. Exit code 0 on success, 2 on a
 * usage error, 1 on any other error.
 */
import * as path from 'node:path';
import { INDEX_CHOICES, type IndexChoice } from '@recsys/core';
import { BUILD_PHASES, buildArtifacts, DEFAULT_HNSW_MIN_ITEMS, formatTable, PHASE_TITLES, PhaseProgressBar, type BuildSummary, type DatasetName } from '@recsys/offline';

/** Datasets the CLI accepts. */
const DATASETS: readonly DatasetName[] = ['synthetic', 'movielens'];

/** Parsed command line. */
export interface ArtifactsCliOptions {
  dataset: DatasetName;
  /** Dataset directory (movielens). */
  data?: string;
  out: string;
  seed: number;
  history: 'train' | 'all';
  /** HNSW index: auto (from the size threshold), exact (none), hnsw. */
  index: IndexChoice;
  /** Synthetic dataset size overrides. */
  users?: number;
  items?: number;
  interactions?: number;
  /** At most this many users train the ranker (default: the library's, 10,000). */
  rankerUsers?: number;
  help: boolean;
}

/** A bad command line; the message names the flag. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The `--help` text. */
export const USAGE = `Usage: npm run artifacts -- [--dataset synthetic|movielens] [--data DIR] [--out DIR] [--seed N] [--history train|all]
                          [--index auto|exact|hnsw] [--users U --items I --interactions N] [--ranker-users N]

Builds a versioned artifact directory DIR/<version>/ (embeddings, item neighbour lists,
feature snapshot, ONNX ranker, manifest with sha256 of every file) and points DIR/CURRENT at it.

  --dataset NAME   dataset to build from: ${DATASETS.join(', ')} (default synthetic)
  --data DIR       MovieLens directory, ratings.csv + movies.csv or u.data + u.item (detected)
  --out DIR        artifact root directory (default: artifacts, relative to cwd)
  --seed N         seed of the data generator and training, 0..4294967295 (default 42)
  --history H      train: serve models of the train part and hold out the test part for
                   \`npm run evaluate\` (default); all: serve models of every interaction
  --index KIND     HNSW index of the embedding source: auto builds one from ${DEFAULT_HNSW_MIN_ITEMS} items
                   (default), exact never, hnsw always; its parameters go into the manifest
  --users U        synthetic: number of users (default 2000)
  --items I        synthetic: number of items (default 3000)
  --interactions N synthetic: target number of interactions (default 100000)
  --ranker-users N at most N users (sampled by the seed) train the ranker, each one a retrieval
                   over the whole catalogue (default 10000)
  -h, --help       show this help

Set SOURCE_DATE_EPOCH (seconds) to fix the manifest's creation time.`;

/**
 * Parses the CLI arguments (without `node` and the script path). Accepts `--flag value`
 * and `--flag=value`.
 *
 * @throws UsageError naming the bad flag
 */
export function parseArtifactsArgs(argv: readonly string[]): ArtifactsCliOptions {
  const opts: ArtifactsCliOptions = { dataset: 'synthetic', out: 'artifacts', seed: 42, history: 'train', index: 'auto', help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') {
      opts.help = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}" (flags start with --; see --help)`);
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    if (!['--dataset', '--data', '--out', '--seed', '--history', '--index', '--users', '--items', '--interactions', '--ranker-users'].includes(flag)) throw new UsageError(`unknown flag ${flag} (see --help)`);
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      i++;
    }
    if (value === '') throw new UsageError(`${flag} needs a non-empty value`);
    switch (flag) {
      case '--dataset':
        if (!DATASETS.includes(value as DatasetName)) {
          throw new UsageError(`--dataset: unknown dataset "${value}" (supported: ${DATASETS.join(', ')})`);
        }
        opts.dataset = value as DatasetName;
        break;
      case '--out':
        opts.out = value;
        break;
      case '--data':
        opts.data = value;
        break;
      case '--history':
        if (value !== 'train' && value !== 'all') throw new UsageError(`--history: expected train or all, got "${value}"`);
        opts.history = value;
        break;
      case '--index':
        if (!INDEX_CHOICES.includes(value as IndexChoice)) throw new UsageError(`--index: expected one of ${INDEX_CHOICES.join(', ')}, got "${value}"`);
        opts.index = value as IndexChoice;
        break;
      case '--users':
      case '--items':
      case '--interactions': {
        const max = flag === '--interactions' ? 500_000_000 : 50_000_000;
        const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
        if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new UsageError(`${flag}: expected an integer in 1..${max}, got "${value}"`);
        opts[flag.slice(2) as 'users' | 'items' | 'interactions'] = n;
        break;
      }
      case '--ranker-users': {
        const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
        if (!Number.isSafeInteger(n) || n < 2 || n > 50_000_000) throw new UsageError(`--ranker-users: expected an integer in 2..50000000, got "${value}"`);
        opts.rankerUsers = n;
        break;
      }
      case '--seed': {
        const seed = /^[0-9]+$/.test(value) ? Number(value) : NaN;
        if (!Number.isSafeInteger(seed) || seed > 0xffffffff) throw new UsageError(`--seed: expected an integer in 0..4294967295, got "${value}"`);
        opts.seed = seed;
        break;
      }
      default:
        break;
    }
  }
  if (opts.dataset === 'movielens' && opts.data === undefined) throw new UsageError('--dataset movielens needs --data DIR (a MovieLens directory)');
  if (opts.dataset !== 'movielens' && opts.data !== undefined) throw new UsageError('--data is only used with --dataset movielens');
  if (opts.dataset !== 'synthetic' && (opts.users ?? opts.items ?? opts.interactions) !== undefined) throw new UsageError('--users, --items and --interactions are only used with --dataset synthetic');
  return opts;
}

function creationTime(env: NodeJS.ProcessEnv): Date | undefined {
  const raw = env['SOURCE_DATE_EPOCH'];
  if (raw === undefined || raw === '') return undefined;
  if (!/^[0-9]+$/.test(raw)) throw new UsageError(`SOURCE_DATE_EPOCH: expected seconds since 1970, got "${raw}"`);
  return new Date(Number(raw) * 1000);
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`;
}

/** The summary printed at the end of a build. */
export function formatSummary(s: BuildSummary): string {
  const overview = formatTable(
    ['artifact', s.version],
    [
      ['path', s.dir],
      ['dataset', s.dataset],
      ['users', String(s.users)],
      ['items', String(s.items)],
      ['interactions', String(s.interactions)],
      ['embedding dim', String(s.embeddingDim)],
      ['ranker features', String(s.rankerFeatures)],
      ['size', `${(s.totalBytes / 1024 / 1024).toFixed(2)} MiB in ${Object.keys(s.files).length + 1} files`],
      ['history', s.history === 'train' ? 'train part (test held out in holdout.json)' : 'all interactions'],
      ...(s.split ? Object.entries(s.split).map(([p, f]) => [`split ${p}`, `${f.count} ${f.md5}`]) : []),
      ['status', s.reused ? 'identical version already present; kept it' : 'written'],
    ],
  );
  const mib = (b: number | undefined): string => (b === undefined ? '-' : `${(b / 2 ** 20).toFixed(0)} MiB`);
  const phases = formatTable(
    ['phase', 'time', 'peak RSS'],
    [
      ...BUILD_PHASES.filter((p) => s.timings[p] !== undefined).map((p) => [PHASE_TITLES[p], seconds(s.timings[p]), mib(s.peakRss[p])]),
      ['total', seconds(s.totalMs), mib(Math.max(0, ...Object.values(s.peakRss)))],
    ],
    new Set([1, 2]),
  );
  const metricNames = Object.keys(s.metrics).sort();
  const metrics = formatTable(
    ['metric', 'value'],
    metricNames.map((k) => {
      const v = s.metrics[k]!;
      return [k, Number.isInteger(v) ? String(v) : v.toFixed(4)];
    }),
    new Set([1]),
  );
  return `${overview}\n\n${phases}\n\n${metrics}\n`;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let opts: ArtifactsCliOptions;
  let created: Date | undefined;
  try {
    opts = parseArtifactsArgs(argv);
    created = creationTime(env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`artifacts: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const bar = new PhaseProgressBar(process.stderr, BUILD_PHASES.length);
  try {
    const summary = await buildArtifacts({
      dataset: opts.dataset,
      seed: opts.seed,
      ...(opts.data === undefined ? {} : { dataPath: opts.data }),
      outRoot: path.resolve(opts.out),
      history: opts.history,
      index: opts.index,
      synthetic: {
        ...(opts.users === undefined ? {} : { users: opts.users }),
        ...(opts.items === undefined ? {} : { items: opts.items }),
        ...(opts.interactions === undefined ? {} : { interactions: opts.interactions }),
      },
      ...(opts.rankerUsers === undefined ? {} : { ranker: { maxUsers: opts.rankerUsers } }),
      ...(created === undefined ? {} : { created }),
      onProgress: (p) => bar.update(PHASE_TITLES[p.phase], p.fraction, p.note),
    });
    process.stdout.write(formatSummary(summary));
    return 0;
  } catch (err) {
    process.stderr.write(`\nartifacts: build failed: ${err instanceof Error ? err.message : String(err)}\n`);
    if (env['DEBUG'] && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`artifacts: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
