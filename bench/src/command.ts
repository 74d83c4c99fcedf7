/**
 * The `npm run bench` command: flags, then the benchmark (harness.ts), then the
 * feature-store batch-read benchmark when the repository has one. The entry file
 * (cli.ts) only calls runBenchCommand and exits with its code.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '@recsys/local';
import { generateWorkload, workloadFingerprint, writeWorkload } from './generated-workload';
import { CompareRunError, runCompare } from './compare';
import { ReferenceMismatchError, runBench, type BenchOptions } from './harness';

/** Exit codes of the command. */
export const EXIT = { ok: 0, failed: 1, usage: 2, mismatch: 3 } as const;

export const USAGE = `npm run bench -- [options]
  (no --workload)           the standard-shape workload generated from a fixed seed, with reference
                            answers computed independently of the serving code (bench/src/reference-model.ts)
  --workload <dir>          a workload folder in the standard format instead (raw float32 files + reference.json)
  --write-workload <dir>    write the generated workload in that format to an empty <dir>, then exit
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
  --no-http                 skip the HTTP/JSON front door (measured at c=16 beside gRPC by default)
  --profile                 one level (c=16, or the one --levels names), with CPU profiles of the four services
                            and the in-process pipeline (profiles/, profile-summary.txt)
  --compare <git-ref>       build <git-ref> in a temporary git worktree (npm ci, npm run build), run the same workload
                            with the same flags (c=1 and 16 on the mesh, c=16 in-process, Redis feature store) on it and
                            on the working tree one after the other, both checked against the reference; print every
                            figure with its ratio (working tree / ref) and write compare.json and compare.txt to --out
                            (default bench-results/compare/). Takes --workload, --out, --warmup-ms, --duration-ms,
                            --min-requests, --k, --debug-every and:
  --rounds 1                  runs per side, alternating the order (ref, tree, tree, ref, …); figures are medians
  --keep-worktree             keep the temporary worktree of <git-ref> (its path is printed)
Exit codes: 0 done, 1 failure, 2 bad flag, 3 answers differ from the reference answers (no figures reported).
`;

/** Where the command writes: stdout lines and stderr messages. */
export interface CommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: CommandIo = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) };

class UsageError extends Error {}

function intFlag(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function levelsFlag(name: string, value: string): number[] {
  return value.split(',').map((v) => intFlag(name, v.trim(), 1));
}

/** Runs `npm run bench` with `argv` (the flags after `--`); resolves with the exit code. */
export async function runBenchCommand(argv: string[], io: CommandIo = processIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        workload: { type: 'string' },
        'write-workload': { type: 'string' },
        out: { type: 'string' },
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
        'no-http': { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
        compare: { type: 'string' },
        rounds: { type: 'string', default: '1' },
        'keep-worktree': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.err(`bench: ${(err as Error).message}\n`);
    return EXIT.usage;
  }
  if (values.help) {
    io.out(USAGE);
    return EXIT.ok;
  }
  const log = (line: string): void => io.out(`${line}\n`);
  const given = (flag: string): boolean => argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));

  if (values.compare === undefined) {
    for (const flag of ['rounds', 'keep-worktree']) {
      if (given(flag)) {
        io.err(`bench: --${flag} belongs to --compare <git-ref>\n`);
        return EXIT.usage;
      }
    }
  } else {
    const clash = ['write-workload', 'profile', 'levels', 'inprocess-levels', 'micro-ms', 'no-micro', 'no-feature-store'].filter(given);
    if (clash.length > 0) {
      io.err(`bench: --compare runs fixed levels (mesh c=1,16, in-process c=16) without micro-benchmarks; it does not take ${clash.map((f) => `--${f}`).join(', ')}\n`);
      return EXIT.usage;
    }
    if (values.compare.trim() === '' || values.compare.startsWith('-')) {
      io.err(`bench: --compare needs a git ref (a commit, branch or tag), got ${JSON.stringify(values.compare)}\n`);
      return EXIT.usage;
    }
    const workloadDir = values.workload === undefined ? undefined : path.resolve(values.workload);
    if (workloadDir !== undefined && !fs.statSync(workloadDir, { throwIfNoEntry: false })?.isDirectory()) {
      io.err(`bench: --workload ${workloadDir} is not a folder\n`);
      return EXIT.usage;
    }
    try {
      await runCompare({
        ref: values.compare,
        workloadDir,
        outDir: path.resolve(values.out ?? path.join(REPO_ROOT, 'bench-results', 'compare')),
        warmupMs: intFlag('warmup-ms', values['warmup-ms'], 0),
        durationMs: intFlag('duration-ms', values['duration-ms'], 1),
        minRequests: intFlag('min-requests', values['min-requests'], 1),
        k: intFlag('k', values.k, 1),
        debugEvery: intFlag('debug-every', values['debug-every'], 0),
        rounds: intFlag('rounds', values.rounds, 1),
        keepWorktree: values['keep-worktree'],
        log,
      });
      return EXIT.ok;
    } catch (err) {
      if (err instanceof UsageError) {
        io.err(`bench: ${err.message}\n`);
        return EXIT.usage;
      }
      if (err instanceof CompareRunError) {
        io.err(`bench: --compare ${values.compare}: ${err.message}\n`);
        return err.code === 3 ? EXIT.mismatch : err.code === 2 ? EXIT.usage : EXIT.failed;
      }
      io.err(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
      return EXIT.failed;
    }
  }

  if (values['write-workload'] !== undefined) {
    if (values.workload !== undefined) {
      io.err('bench: --write-workload writes the generated workload; it does not take --workload\n');
      return EXIT.usage;
    }
    const dir = path.resolve(values['write-workload']);
    const w = generateWorkload();
    try {
      writeWorkload(w, dir);
    } catch (err) {
      io.err(`bench: ${(err as Error).message}\n`);
      return EXIT.failed;
    }
    log(`wrote the generated workload (${w.source}, sha256 ${workloadFingerprint(w)}) and its reference.json to ${dir}`);
    return EXIT.ok;
  }

  const workloadDir = values.workload === undefined ? undefined : path.resolve(values.workload);
  if (workloadDir !== undefined && !fs.statSync(workloadDir, { throwIfNoEntry: false })?.isDirectory()) {
    io.err(`bench: --workload ${workloadDir} is not a folder (it needs the standard format: item_emb.f32 … b2.f32 and reference.json; without --workload the bench generates its workload)\n`);
    return EXIT.usage;
  }
  if (values.profile && given('levels') && values.levels.split(',').length !== 1) {
    io.err(`bench: --profile runs one level; --levels ${values.levels} names several\n`);
    return EXIT.usage;
  }
  let options: BenchOptions;
  try {
    options = {
      workloadDir,
      outDir: path.resolve(values.out ?? path.join(REPO_ROOT, 'bench-results')),
      durationMs: intFlag('duration-ms', values['duration-ms'], 1),
      warmupMs: intFlag('warmup-ms', values['warmup-ms'], 0),
      // --profile runs one level: c=16 unless --levels names another.
      meshLevels: values.profile && !given('levels') ? [16] : levelsFlag('levels', values.levels),
      inprocessLevels: levelsFlag('inprocess-levels', values['inprocess-levels']),
      k: intFlag('k', values.k, 1),
      debugEvery: intFlag('debug-every', values['debug-every'], 0),
      minRequests: intFlag('min-requests', values['min-requests'], 1),
      micro: !values['no-micro'],
      microBudgetMs: intFlag('micro-ms', values['micro-ms'], 1),
      profile: values.profile,
      http: !values['no-http'],
      log,
    };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`bench: ${err.message}\n`);
    return EXIT.usage;
  }
  try {
    await runBench(options);
  } catch (err) {
    if (err instanceof ReferenceMismatchError) {
      io.err(`bench: ${err.message}\n`);
      return EXIT.mismatch;
    }
    io.err(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.failed;
  }
  // The feature store's own batch-read benchmark (bench/src/feature-store.ts), when present.
  const scripts = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
  if (!values.profile && !values['no-feature-store'] && scripts['bench:feature-store']) {
    log('\nnpm run bench:feature-store …');
    const r = spawnSync('npm', ['run', '--silent', 'bench:feature-store'], { cwd: REPO_ROOT, stdio: 'inherit' });
    if (r.status !== 0) {
      io.err(`bench: npm run bench:feature-store failed (exit ${r.status})\n`);
      return EXIT.failed;
    }
  }
  return EXIT.ok;
}
