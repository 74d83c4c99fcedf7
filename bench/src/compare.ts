/**
 * `npm run bench -- --compare <git-ref>`: the same workload, the same flags, on the tree at
 * <ref> (built in a temporary git worktree) and on the working tree, one after the other;
 * both check their answers against the reference before measuring; the figures that matter
 * side by side with their ratio (working tree / ref), printed and written to compare.json.
 *
 * The ref may be an older layout of this repository. Its bench entry is found by the files
 * present after its build (BENCH_ENTRIES); every layout so far takes the flags passed here
 * (--workload, --out, --levels, --inprocess-levels, --warmup-ms, --duration-ms,
 * --min-requests, --k, --debug-every, --no-micro, --no-feature-store).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '@recsys/local';
import { generateWorkload, workloadFingerprint, writeWorkload } from './generated-workload';
import type { LevelDetails } from './report';

/** Bench entries by layout, newest first: the first whose file exists after the build is run. */
export const BENCH_ENTRIES: ReadonlyArray<{ layout: string; entry: string }> = [
  { layout: 'cli/ entries (cli/dist/bench.js)', entry: 'cli/dist/bench.js' },
  { layout: 'bench workspace entry (bench/dist/src/cli.js, before cli/)', entry: 'bench/dist/src/cli.js' },
];

/** Finds the bench entry of a built tree; undefined when none of the known layouts is present. */
export function benchEntryOf(treeDir: string): { layout: string; entry: string } | undefined {
  return BENCH_ENTRIES.find((e) => fs.existsSync(path.join(treeDir, e.entry)));
}

export interface CompareOptions {
  ref: string;
  /** A workload folder in the standard format; undefined: the generated one, written to a temp dir. */
  workloadDir?: string;
  outDir: string;
  warmupMs: number;
  durationMs: number;
  minRequests: number;
  k: number;
  debugEvery: number;
  /** Runs per side, alternating the order (ref, tree, tree, ref, …); figures are medians. */
  rounds: number;
  /** Keep the temporary worktree (its path is printed) instead of removing it. */
  keepWorktree: boolean;
  log: (line: string) => void;
}

/** One side of the comparison failed; `code` 3 means its answers differed from the reference. */
export class CompareRunError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** The figures compared, where they are read in bench-details.json, and which way is better. */
export interface FigureSpec {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  /** The issue's target for the ratio (working tree / ref), when it sets one. */
  target?: { op: '≥' | '≤'; ratio: number };
  read: (d: { mesh: Record<string, LevelDetails>; inprocess: Record<string, LevelDetails> }) => number | undefined;
}

/** Sum over the services of a GC figure; undefined when that tree's bench did not record GC (before it did). */
const gcSum = (l: LevelDetails | undefined, key: 'per_request' | 'ms_per_request'): number | undefined => {
  const gc = l?.gc;
  if (!gc || Object.keys(gc).length === 0) return undefined;
  return Object.values(gc).reduce((s, v) => s + v[key], 0);
};

const cpuTotal = (l: LevelDetails | undefined): number | undefined => l?.cpu_ms_per_request['total (without load-gen)'];

export const FIGURES: FigureSpec[] = [
  { name: 'mesh c=16 throughput', unit: 'req/s', better: 'higher', target: { op: '≥', ratio: 2 }, read: (d) => d.mesh.c16?.stats.rps },
  {
    name: 'mesh c=16 CPU-ms per request (gateway + candidate generator + feature store + ranker + Redis)',
    unit: 'ms',
    better: 'lower',
    target: { op: '≤', ratio: 0.5 },
    read: (d) => cpuTotal(d.mesh.c16),
  },
  { name: 'mesh c=1 p50', unit: 'ms', better: 'lower', target: { op: '≤', ratio: 0.5 }, read: (d) => d.mesh.c1?.stats.p50_ms },
  { name: 'mesh c=1 p99', unit: 'ms', better: 'lower', target: { op: '≤', ratio: 0.5 }, read: (d) => d.mesh.c1?.stats.p99_ms },
  { name: 'in-process c=16 CPU-ms per request (pipeline + Redis)', unit: 'ms', better: 'lower', target: { op: '≤', ratio: 0.5 }, read: (d) => cpuTotal(d.inprocess.c16) },
  { name: 'in-process c=16 CPU-ms per request (pipeline process only)', unit: 'ms', better: 'lower', read: (d) => d.inprocess.c16?.cpu_ms_per_request['in-process'] },
  { name: 'in-process c=16 throughput', unit: 'req/s', better: 'higher', read: (d) => d.inprocess.c16?.stats.rps },
  { name: 'mesh c=16 p50', unit: 'ms', better: 'lower', read: (d) => d.mesh.c16?.stats.p50_ms },
  { name: 'mesh c=16 p99', unit: 'ms', better: 'lower', read: (d) => d.mesh.c16?.stats.p99_ms },
  { name: 'mesh c=1 throughput', unit: 'req/s', better: 'higher', read: (d) => d.mesh.c1?.stats.rps },
  { name: 'mesh c=1 CPU-ms per request', unit: 'ms', better: 'lower', read: (d) => cpuTotal(d.mesh.c1) },
  { name: 'mesh c=16 garbage collections per request (sum over the four services)', unit: '', better: 'lower', read: (d) => gcSum(d.mesh.c16, 'per_request') },
  { name: 'mesh c=16 GC pause ms per request (sum over the four services)', unit: 'ms', better: 'lower', read: (d) => gcSum(d.mesh.c16, 'ms_per_request') },
  ...(['gateway', 'candidate-generator', 'feature-store', 'ranker', 'redis'] as const).map(
    (p): FigureSpec => ({ name: `mesh c=16 CPU-ms per request: ${p}`, unit: 'ms', better: 'lower', read: (d) => d.mesh.c16?.cpu_ms_per_request[p] }),
  ),
];

/** One figure of compare.json. */
export interface ComparedFigure {
  unit: string;
  better: 'higher' | 'lower';
  baseline: number | null;
  current: number | null;
  /** current / baseline. */
  ratio: number | null;
  /** Every round's value, per side. */
  baseline_rounds: Array<number | null>;
  current_rounds: Array<number | null>;
  target?: string;
  met?: boolean;
}

export interface CompareJson {
  started: string;
  finished: string;
  baseline: { ref: string; commit: string; layout: string };
  current: { ref: 'working tree'; commit: string; dirty: boolean; layout: string };
  workload: { dir: string; sha256?: string; generated: boolean };
  settings: { levels: number[]; inprocess_levels: number[]; warmup_ms: number; duration_ms: number; min_requests: number; k: number; debug_every: number; rounds: number; feature_store: 'redis' };
  machine: { cpus: number; model: string; loadavg_before: number[]; loadavg_after: number[]; node: string };
  /** The order the runs were made in, and where each wrote its files. */
  runs: Array<{ side: 'baseline' | 'current'; round: number; out: string; reference_checks: string[] }>;
  figures: Record<string, ComparedFigure>;
  caveat: string;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** Pure: the figures of both sides' bench-details.json (one per round) side by side, with ratios and targets. */
export function compareFigures(baseline: unknown[], current: unknown[]): Record<string, ComparedFigure> {
  const out: Record<string, ComparedFigure> = {};
  const readAll = (docs: unknown[], f: FigureSpec): Array<number | null> =>
    docs.map((doc) => {
      const d = doc as { mesh?: Record<string, LevelDetails>; inprocess?: Record<string, LevelDetails> };
      const v = f.read({ mesh: d.mesh ?? {}, inprocess: d.inprocess ?? {} });
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    });
  for (const f of FIGURES) {
    const b = readAll(baseline, f);
    const c = readAll(current, f);
    const bs = b.filter((v): v is number => v !== null);
    const cs = c.filter((v): v is number => v !== null);
    const bm = bs.length ? round3(median(bs)) : null;
    const cm = cs.length ? round3(median(cs)) : null;
    const ratio = bm !== null && cm !== null && bm > 0 ? Math.round((cm / bm) * 1000) / 1000 : null;
    const fig: ComparedFigure = { unit: f.unit, better: f.better, baseline: bm, current: cm, ratio, baseline_rounds: b, current_rounds: c };
    if (f.target) {
      fig.target = `${f.target.op} ${f.target.ratio}×`;
      fig.met = ratio !== null && (f.target.op === '≥' ? ratio >= f.target.ratio : ratio <= f.target.ratio);
    }
    out[f.name] = fig;
  }
  return out;
}

/** Pure: the terminal table of a comparison. */
export function formatCompareTable(c: CompareJson): string {
  const fmt = (v: number | null, d = 2): string => (v === null ? '—' : v.toFixed(d));
  const lines: string[] = [];
  lines.push(`baseline ${c.baseline.ref} (${c.baseline.commit.slice(0, 12)}, ${c.baseline.layout}) vs working tree (${c.current.commit.slice(0, 12)}${c.current.dirty ? ', with uncommitted changes' : ''})`);
  lines.push(`workload ${c.workload.dir}${c.workload.sha256 ? ` (sha256 ${c.workload.sha256})` : ''}; Redis feature store; c = ${c.settings.levels.join(', ')} (mesh), ${c.settings.inprocess_levels.join(', ')} (in-process); ${c.settings.rounds} round(s) per side${c.settings.rounds > 1 ? ' (medians)' : ''}`);
  lines.push('');
  const w = Math.max(...Object.keys(c.figures).map((k) => k.length), 6);
  lines.push(`${'figure'.padEnd(w)} ${'baseline'.padStart(10)} ${'current'.padStart(10)} ${'ratio'.padStart(7)}  target`);
  lines.push('-'.repeat(w + 50));
  for (const [name, f] of Object.entries(c.figures)) {
    const target = f.target ? `${f.target}  ${f.met ? 'met' : 'NOT met'}` : '';
    lines.push(`${name.padEnd(w)} ${fmt(f.baseline).padStart(10)} ${fmt(f.current).padStart(10)} ${fmt(f.ratio, 3).padStart(7)}  ${target}`);
  }
  lines.push('');
  const checked = (side: 'baseline' | 'current'): string => {
    const runs = c.runs.filter((r) => r.side === side);
    return runs.every((r) => r.reference_checks.length >= 2) ? 'mesh and in-process answers matched the reference' : 'reference check not reported by its bench';
  };
  lines.push(`reference: baseline ${checked('baseline')}; current ${checked('current')} (every run, before it measured)`);
  lines.push('ratio = current / baseline; throughput: higher is better, CPU-ms and latency: lower is better.');
  lines.push(`machine: ${c.machine.cpus} × ${c.machine.model}; load average before ${c.machine.loadavg_before.map((v) => v.toFixed(2)).join(' ')}, after ${c.machine.loadavg_after.map((v) => v.toFixed(2)).join(' ')}`);
  lines.push(c.caveat);
  return lines.join('\n');
}

/**
 * Flags that switch off parts a tree's bench runs beyond what both sides measure (`--no-http`:
 * the HTTP front door's own level), passed where its `--help` lists them, so both sides do
 * the same work.
 */
const SKIP_FLAGS = ['--no-http'];

function optionalFlags(treeDir: string, entry: string): string[] {
  const help = spawnSync(process.execPath, [path.join(treeDir, entry), '--help'], { cwd: treeDir, encoding: 'utf8', timeout: 60_000 });
  return SKIP_FLAGS.filter((f) => (help.stdout ?? '').includes(f));
}

function git(args: string[], cwd = REPO_ROOT): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new CompareRunError(`git ${args.join(' ')} failed: ${(r.stderr || r.stdout || `exit ${r.status}`).trim()}`, 2);
  return r.stdout.trim();
}

/** Runs a command with its output prefixed line by line into `log`; resolves with the exit code. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, log: (line: string) => void, prefix: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const pipe = (stream: NodeJS.ReadableStream): void => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          log(`${prefix}${buf.slice(0, nl)}`);
          buf = buf.slice(nl + 1);
        }
      });
      stream.on('end', () => void (buf && log(`${prefix}${buf}`)));
    };
    pipe(child.stdout!);
    pipe(child.stderr!);
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/**
 * Builds `ref` in a temporary worktree, runs the bench on it and on the working tree with
 * the same workload and flags, and writes compare.json; resolves with what it wrote.
 */
export async function runCompare(o: CompareOptions): Promise<CompareJson> {
  const { log } = o;
  const started = new Date().toISOString();
  const resolved = spawnSync('git', ['rev-parse', '--verify', '--quiet', `${o.ref}^{commit}`], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (resolved.status !== 0) throw new CompareRunError(`${JSON.stringify(o.ref)} is not a commit of the repository at ${REPO_ROOT} (git rev-parse found none; a shallow clone may lack it: git fetch --unshallow)`, 2);
  const commit = resolved.stdout.trim();
  const head = git(['rev-parse', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
  const currentEntry = benchEntryOf(REPO_ROOT);
  if (!currentEntry || currentEntry.entry !== BENCH_ENTRIES[0]!.entry) throw new CompareRunError(`the working tree has no built ${BENCH_ENTRIES[0]!.entry} (run npm run build)`, 1);
  fs.mkdirSync(o.outDir, { recursive: true });

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-compare-'));
  const tree = path.join(tmp, 'tree');
  let worktreeAdded = false;
  const cleanup = (): void => {
    if (o.keepWorktree) return;
    if (worktreeAdded) spawnSync('git', ['worktree', 'remove', '--force', tree], { cwd: REPO_ROOT });
    fs.rmSync(tmp, { recursive: true, force: true });
    if (worktreeAdded) spawnSync('git', ['worktree', 'prune'], { cwd: REPO_ROOT });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    cleanup();
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // The workload: given, or the current tree's generated one written in the standard format
    // (older trees only load folders).
    let workloadDir = o.workloadDir;
    let sha256: string | undefined;
    if (workloadDir === undefined) {
      const w = generateWorkload();
      sha256 = workloadFingerprint(w);
      workloadDir = path.join(tmp, 'workload');
      writeWorkload(w, workloadDir);
      log(`compare: generated workload (${w.source}, sha256 ${sha256}) written to ${workloadDir}`);
    }

    log(`compare: building ${o.ref} (${commit.slice(0, 12)}) in a temporary worktree ${tree} …`);
    git(['worktree', 'add', '--detach', tree, commit]);
    worktreeAdded = true;
    // No binary downloads at install time (onnxruntime-node ships its CPU binaries in the package).
    const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_audit: 'false', npm_config_fund: 'false' };
    const quiet = (line: string): void => void (/\b(ERR|error)\b/i.test(line) && log(line));
    const t0 = Date.now();
    if ((await run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], tree, env, quiet, `  [${o.ref} npm ci] `)) !== 0) {
      throw new CompareRunError(`npm ci failed in the worktree of ${o.ref} (${tree}); rerun with --keep-worktree to look`, 1);
    }
    if ((await run('npm', ['run', 'build', '--silent'], tree, env, log, `  [${o.ref} build] `)) !== 0) {
      throw new CompareRunError(`npm run build failed in the worktree of ${o.ref} (${tree})`, 1);
    }
    const baseEntry = benchEntryOf(tree);
    if (!baseEntry) throw new CompareRunError(`${o.ref} (${commit.slice(0, 12)}) has none of the known bench entries after its build (${BENCH_ENTRIES.map((e) => e.entry).join(', ')})`, 1);
    log(`compare: ${o.ref} built in ${((Date.now() - t0) / 1000).toFixed(0)} s; its bench is ${baseEntry.layout}`);

    const levels = [1, 16];
    const inprocessLevels = [16];
    const flags = [
      '--workload', workloadDir,
      '--levels', levels.join(','),
      '--inprocess-levels', inprocessLevels.join(','),
      '--warmup-ms', String(o.warmupMs),
      '--duration-ms', String(o.durationMs),
      '--min-requests', String(o.minRequests),
      '--k', String(o.k),
      '--debug-every', String(o.debugEvery),
      '--no-micro',
      '--no-feature-store',
    ];
    const loadBefore = os.loadavg();
    const runs: CompareJson['runs'] = [];
    const docs: Record<'baseline' | 'current', unknown[]> = { baseline: [], current: [] };
    for (let r = 0; r < o.rounds; r++) {
      const order: Array<'baseline' | 'current'> = r % 2 === 0 ? ['baseline', 'current'] : ['current', 'baseline'];
      for (const side of order) {
        const out = path.join(o.outDir, o.rounds > 1 ? `${side}-${r + 1}` : side);
        fs.rmSync(out, { recursive: true, force: true });
        const cwd = side === 'baseline' ? tree : REPO_ROOT;
        const entry = side === 'baseline' ? baseEntry.entry : currentEntry.entry;
        const label = side === 'baseline' ? o.ref : 'working tree';
        const sideFlags = [...flags, ...optionalFlags(cwd, entry)];
        log(`compare: round ${r + 1}/${o.rounds}, ${label}: node ${entry} ${[...sideFlags, '--out', out].join(' ')}`);
        let code = 0;
        let checks: string[] = [];
        // A free port taken by another process between its pick and the bind fails a start
        // (EADDRINUSE) on a shared machine, and a cold mesh can degrade its first answers (exit
        // 3): such a run is repeated once; any other failure is not.
        for (let attempt = 1; attempt <= 2; attempt++) {
          let portRace = false;
          checks = [];
          const watch = (line: string): void => {
            if (/EADDRINUSE/.test(line)) portRace = true;
            const m = /\] ((?:mesh|in-process): answers of all \d+ reference users match .*)$/.exec(line);
            if (m) checks.push(m[1]!);
            log(line);
          };
          code = await run(process.execPath, [path.join(cwd, entry), ...sideFlags, '--out', out], cwd, { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' }, watch, `  [${label}] `);
          if (code === 0 || attempt === 2 || !(portRace || code === 3)) break;
          // Exit 3: answers differed from the reference. Benches before the degraded-answer
          // retry (0bb5555 among them) compare the first answers of a cold mesh, which on a busy
          // machine can come back degraded (a stage out of its share of the deadline). The run
          // is repeated once from the start; it measures only if all its answers match, so a
          // wrong answer still stops the comparison.
          log(
            portRace
              ? `compare: ${label}: a port was taken between its pick and the bind (EADDRINUSE); running it again`
              : `compare: ${label}: answers differed from the reference; running it once more (a cold mesh on a busy machine can degrade its first answers), a second difference stops the comparison`,
          );
          fs.rmSync(out, { recursive: true, force: true });
        }
        if (code !== 0) {
          throw new CompareRunError(
            code === 3 ? `${label}: answers differ from the reference, refusing to compare (its output above names the differences)` : `${label}: bench exited ${code} (its output above)`,
            code === 3 ? 3 : 1,
          );
        }
        const detailsPath = path.join(out, 'bench-details.json');
        if (!fs.existsSync(detailsPath)) throw new CompareRunError(`${label}: bench exited 0 but wrote no ${detailsPath}`, 1);
        docs[side].push(JSON.parse(fs.readFileSync(detailsPath, 'utf8')));
        runs.push({ side, round: r + 1, out, reference_checks: checks });
      }
    }
    const cpus = os.cpus();
    const result: CompareJson = {
      started,
      finished: new Date().toISOString(),
      baseline: { ref: o.ref, commit, layout: baseEntry.layout },
      current: { ref: 'working tree', commit: head, dirty, layout: currentEntry.layout },
      workload: { dir: o.workloadDir ?? 'generated (temporary)', ...(sha256 ? { sha256 } : {}), generated: o.workloadDir === undefined },
      settings: { levels, inprocess_levels: inprocessLevels, warmup_ms: o.warmupMs, duration_ms: o.durationMs, min_requests: o.minRequests, k: o.k, debug_every: o.debugEvery, rounds: o.rounds, feature_store: 'redis' },
      machine: { cpus: cpus.length, model: cpus[0]?.model ?? 'unknown', loadavg_before: loadBefore, loadavg_after: os.loadavg(), node: process.version },
      runs,
      figures: compareFigures(docs.baseline, docs.current),
      caveat: 'Both sides ran one after the other on this machine; ratios are comparable within one run, absolute figures only on the same quiet machine. Quote the load average with them.',
    };
    fs.writeFileSync(path.join(o.outDir, 'compare.json'), `${JSON.stringify(result, null, 2)}\n`);
    const table = formatCompareTable(result);
    fs.writeFileSync(path.join(o.outDir, 'compare.txt'), `${table}\n`);
    log('');
    log(table);
    log('');
    log(`wrote ${path.join(o.outDir, 'compare.json')} and ${path.join(o.outDir, 'compare.txt')}; each run's own files are in ${runs.map((r) => r.out).join(', ')}`);
    if (o.keepWorktree) log(`compare: the worktree of ${o.ref} is kept at ${tree} (remove it with git worktree remove --force ${tree})`);
    return result;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    cleanup();
  }
}
