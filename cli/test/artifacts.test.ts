import { formatSummary, main, parseArtifactsArgs, UsageError } from '../src/artifacts';
import { formatTable, PhaseProgressBar } from '@recsys/offline';

describe('parseArtifactsArgs', () => {
  it('has defaults and accepts both --flag value and --flag=value', () => {
    expect(parseArtifactsArgs([])).toEqual({ dataset: 'synthetic', out: 'artifacts', seed: 42, history: 'train', index: 'auto', help: false });
    expect(parseArtifactsArgs(['--dataset', 'synthetic', '--out=/tmp/x', '--seed', '7', '--history', 'all'])).toEqual({
      dataset: 'synthetic',
      out: '/tmp/x',
      seed: 7,
      history: 'all',
      index: 'auto',
      help: false,
    });
    expect(parseArtifactsArgs(['--index', 'hnsw', '--users', '10', '--items=20', '--interactions', '300'])).toMatchObject({ index: 'hnsw', users: 10, items: 20, interactions: 300 });
    expect(parseArtifactsArgs(['--ranker-users', '5000']).rankerUsers).toBe(5000);
    expect(parseArtifactsArgs(['--dataset=movielens', '--data', '/d'])).toMatchObject({ dataset: 'movielens', data: '/d' });
    expect(parseArtifactsArgs(['-h']).help).toBe(true);
  });

  it.each<[string[], RegExp]>([
    [['--seed', 'abc'], /^--seed: expected an integer in 0\.\.4294967295, got "abc"$/],
    [['--seed', '-1'], /^--seed: expected an integer in 0\.\.4294967295, got "-1"$/],
    [['--seed'], /^--seed needs a value$/],
    [['--seed=4294967296'], /^--seed: expected an integer/],
    [['--dataset', 'movielens'], /^--dataset movielens needs --data DIR/],
    [['--dataset', 'netflix'], /^--dataset: unknown dataset "netflix" \(supported: synthetic, movielens\)$/],
    [['--data', '/d'], /^--data is only used with --dataset movielens$/],
    [['--history', 'test'], /^--history: expected train or all, got "test"$/],
    [['--out'], /^--out needs a value$/],
    [['--out='], /^--out needs a non-empty value$/],
    [['--users', 'five'], /^--users: expected an integer in 1\.\.50000000, got "five"$/],
    [['--interactions', '0'], /^--interactions: expected an integer in 1\.\.500000000, got "0"$/],
    [['--dataset', 'movielens', '--data', '/d', '--items', '5'], /^--users, --items and --interactions are only used with --dataset synthetic$/],
    [['--ranker-users', '1'], /^--ranker-users: expected an integer in 2\.\.50000000, got "1"$/],
    [['--index', 'faiss'], /^--index: expected one of auto, exact, hnsw, got "faiss"$/],
    [['--catalogue', '5'], /^unknown flag --catalogue/],
    [['build'], /^unexpected argument "build"/],
  ])('rejects %j naming the flag', (argv, message) => {
    expect(() => parseArtifactsArgs(argv)).toThrow(UsageError);
    expect(() => parseArtifactsArgs(argv)).toThrow(message);
  });
});

describe('main', () => {
  let stderr: string[];
  let stdout: string[];
  beforeEach(() => {
    stderr = [];
    stdout = [];
    jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => stderr.push(String(s)) > 0);
    jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => stdout.push(String(s)) > 0);
  });
  afterEach(() => jest.restoreAllMocks());

  it('exits 2 with the problem and the usage on a bad flag', async () => {
    expect(await main(['--seed', 'x'], {})).toBe(2);
    expect(stderr.join('')).toMatch(/^artifacts: --seed: expected an integer/);
    expect(stderr.join('')).toContain('Usage: npm run artifacts');
  });

  it('exits 2 on a malformed SOURCE_DATE_EPOCH', async () => {
    expect(await main([], { SOURCE_DATE_EPOCH: 'yesterday' })).toBe(2);
    expect(stderr.join('')).toMatch(/SOURCE_DATE_EPOCH: expected seconds/);
  });

  it('prints help on stdout and exits 0', async () => {
    expect(await main(['--help'], {})).toBe(0);
    expect(stdout.join('')).toContain('--dataset NAME');
  });

  it('exits 1 with a clear message when the build fails', async () => {
    // An output root below a regular file cannot be created.
    expect(await main(['--out', `${__filename}/artifacts`], {})).toBe(1);
    expect(stderr.join('')).toMatch(/artifacts: build failed: cannot write to artifact root .*artifacts\.test\.ts\/artifacts: .*(ENOTDIR|not a directory)/);
  });
});

describe('PhaseProgressBar', () => {
  it('prints one line per 10% when not on a TTY', () => {
    const out: string[] = [];
    let now = 0;
    const bar = new PhaseProgressBar({ write: (s) => out.push(s) > 0, isTTY: false }, 2, () => now);
    for (let k = 0; k <= 40; k++) bar.update('ALS', k / 40, `iteration ${k}`);
    now = 1500;
    bar.update('ALS', 1);
    bar.update('write', 0);
    bar.update('write', 0.05);
    const lines = out.join('').trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('[1/2] ALS'))).toHaveLength(11);
    expect(lines[0]).toMatch(/^\[1\/2\] ALS\s+0%  iteration 0$/);
    expect(lines[1]).toMatch(/10%  iteration 4$/);
    expect(lines[10]).toMatch(/100%  done in 0 ms$/);
    expect(lines[11]).toMatch(/^\[2\/2\] write\s+0%$/);
    expect(lines).toHaveLength(12);
    expect(out.join('')).not.toContain('\r');
  });

  it('redraws in place with \\r on a TTY and ends the phase with a newline', () => {
    const out: string[] = [];
    let now = 0;
    const bar = new PhaseProgressBar({ write: (s) => out.push(s) > 0, isTTY: true, columns: 80 }, 1, () => now);
    bar.update('train', 0);
    now = 100;
    bar.update('train', 0.5, 'epoch 4/8');
    now = 2100;
    bar.update('train', 1);
    expect(out).toHaveLength(3);
    for (const s of out) expect(s.startsWith('\r')).toBe(true);
    expect(out[1]).toContain('[##########----------]  50%  epoch 4/8');
    expect(out[2]).toMatch(/100%  done in 2\.1 s\n$/);
    for (const s of out) expect(s.replace('\r\x1b[2K', '').trimEnd().length).toBeLessThan(80);
  });
});

describe('summary formatting', () => {
  it('formats aligned tables with the version, counts, timings and path', () => {
    expect(formatTable(['a', 'bb'], [['ccc', '1'], ['d', '22']], new Set([1]))).toBe('a    bb\n---  --\nccc   1\nd    22');
    const text = formatSummary({
      version: 'synthetic-0123456789ab',
      dir: '/tmp/artifacts/synthetic-0123456789ab',
      root: '/tmp/artifacts',
      dataset: 'synthetic',
      users: 2000,
      items: 2966,
      interactions: 99619,
      embeddingDim: 32,
      rankerFeatures: 9,
      files: { 'items.json': 1024 },
      totalBytes: 2 * 1024 * 1024,
      metrics: { val_auc: 0.83512, ranker_train_rows: 1000 },
      timings: { dataset: 600, write: 20 },
      peakRss: { dataset: 100 * 2 ** 20, write: 300 * 2 ** 20 },
      totalMs: 11000,
      reused: false,
      history: 'train',
      split: { fit: { count: 72115, md5: '3b4315875298' } },
    });
    expect(text).toMatch(/^split fit\s+72115 3b4315875298$/m);
    expect(text).toMatch(/^artifact\s+synthetic-0123456789ab$/m);
    expect(text).toMatch(/^path\s+\/tmp\/artifacts\/synthetic-0123456789ab$/m);
    expect(text).toMatch(/^interactions\s+99619$/m);
    expect(text).toMatch(/^load dataset\s+0\.60 s\s+100 MiB$/m);
    expect(text).toMatch(/^total\s+11\.00 s\s+300 MiB$/m);
    expect(text).toMatch(/^val_auc\s+0\.8351$/m);
    expect(text).toMatch(/^ranker_train_rows\s+1000$/m);
  });
});
