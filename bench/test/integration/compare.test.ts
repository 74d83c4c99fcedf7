/**
 * `npm run bench -- --compare <ref>` end to end on a tiny load: HEAD built in a temporary
 * worktree against the working tree, both checked against the reference, compare.json
 * written with every figure and its ratio, the worktree removed afterwards. Correctness of
 * the mode only, never a timing.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '@recsys/local';
import { FIGURES } from '../../src/compare';

// npm ci and a build of HEAD, then two tiny runs: about 1 minute on a quiet machine, 3 on a busy one.
jest.setTimeout(540_000);

function runBench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, 'cli/dist/bench.js'), ...args], { maxBuffer: 64 << 20, timeout: 530_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-compare-test-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('npm run bench -- --compare (tiny load)', () => {
  it('builds HEAD in a temporary worktree, runs both sides on the same generated workload, writes compare.json with every figure and its ratio, and removes the worktree', async () => {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const r = await runBench(['--compare', 'HEAD', '--out', out, '--duration-ms', '300', '--warmup-ms', '50', '--min-requests', '10', '--debug-every', '0']);
    if (r.code !== 0) throw new Error(`bench --compare exited ${r.code}:\n${r.stderr}\n${r.stdout.slice(-4000)}`);

    // Both sides checked their answers before measuring, on the same workload.
    expect(r.stdout).toMatch(/\[HEAD\] mesh: answers of all 8 reference users match/);
    expect(r.stdout).toMatch(/\[working tree\] mesh: answers of all 8 reference users match/);
    expect(r.stdout).toMatch(/\[HEAD\] in-process: answers of all 8 reference users match/);
    const sha = r.stdout.match(/generated workload \(.*, sha256 ([0-9a-f]{64})\)/)?.[1];
    expect(sha).toBeDefined();

    const c = JSON.parse(fs.readFileSync(path.join(out, 'compare.json'), 'utf8'));
    expect(c.baseline).toEqual({ ref: 'HEAD', commit: head, layout: expect.stringContaining('cli/dist/bench.js') });
    expect(c.current).toMatchObject({ ref: 'working tree', commit: head });
    expect(c.workload).toMatchObject({ generated: true, sha256: sha });
    expect(c.settings).toMatchObject({ levels: [1, 16], inprocess_levels: [16], feature_store: 'redis', rounds: 1 });
    expect(c.runs.map((x: { side: string }) => x.side)).toEqual(['baseline', 'current']);
    for (const run of c.runs) {
      expect(run.reference_checks).toEqual([expect.stringMatching(/^mesh: answers of all 8 reference users match/), expect.stringMatching(/^in-process: answers of all 8 reference users match/)]);
    }
    expect(Object.keys(c.figures)).toEqual(FIGURES.map((f) => f.name));
    for (const [name, f] of Object.entries<{ baseline: number; current: number; ratio: number; target?: string; met?: boolean }>(c.figures)) {
      expect([name, typeof f.baseline, typeof f.current]).toEqual([name, 'number', 'number']);
      // A figure can be 0 on so short a load (no garbage collection in the window): no ratio then.
      if (f.baseline > 0) expect(f.ratio).toBeCloseTo(f.current / f.baseline, 2);
      else expect(f.ratio).toBeNull();
      if (f.target !== undefined) expect(typeof f.met).toBe('boolean');
    }
    for (const name of ['mesh c=16 throughput', 'mesh c=1 p50', 'mesh c=1 p99', 'in-process c=16 CPU-ms per request (pipeline + Redis)']) {
      expect(c.figures[name].target).toBeDefined();
    }
    // Each side's own bench files, and the table.
    for (const side of ['baseline', 'current']) expect(fs.existsSync(path.join(out, side, 'bench-details.json'))).toBe(true);
    const table = fs.readFileSync(path.join(out, 'compare.txt'), 'utf8');
    expect(table).toContain('mesh c=16 throughput');
    expect(table).toContain('reference: baseline mesh and in-process answers matched the reference; current mesh and in-process answers matched the reference');

    // The temporary worktree is gone and unregistered.
    const tree = r.stdout.match(/in a temporary worktree (\S+) …/)?.[1];
    expect(tree).toBeDefined();
    expect(fs.existsSync(tree!)).toBe(false);
    expect(execFileSync('git', ['worktree', 'list'], { cwd: REPO_ROOT, encoding: 'utf8' })).not.toContain(tree!);
  });

  it('names a ref that is not a commit and flags it does not take, before building anything', async () => {
    const bad = await runBench(['--compare', 'no-such-ref-xyz']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"no-such-ref-xyz" is not a commit');
    const clash = await runBench(['--compare', 'HEAD', '--levels', '1,64']);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain('does not take --levels');
    const stray = await runBench(['--rounds', '3']);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain('--rounds belongs to --compare');
    const twoProfiled = await runBench(['--profile', '--levels', '1,16']);
    expect(twoProfiled.code).toBe(2);
    expect(twoProfiled.stderr).toContain('--profile runs one level; --levels 1,16 names several');
  });
});
