/**
 * `npm run bench` end to end on a tiny load, on the workload it generates by default: the
 * harness's correctness only (the reference check, the refusal of a tampered reference,
 * the files it writes and their shape), never a timing — speed is measured by
 * `npm run bench` itself.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT, SERVICE_NODE_FLAGS } from '@recsys/local';

jest.setTimeout(180_000);

const TINY = ['--duration-ms', '400', '--warmup-ms', '100', '--min-requests', '20', '--micro-ms', '20', '--no-feature-store'];

function runBench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, 'cli/dist/bench.js'), ...args], { maxBuffer: 64 << 20, timeout: 170_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const tmp: string[] = [];
const tempDir = (what: string): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `recsys-bench-${what}-`));
  tmp.push(d);
  return d;
};
afterAll(() => {
  for (const d of tmp) fs.rmSync(d, { recursive: true, force: true });
});

const LEVEL_KEYS = ['rps', 'p50_ms', 'p90_ms', 'p99_ms', 'max_ms'];

describe('npm run bench (tiny load)', () => {
  it('without --workload: generates the workload, checks the reference answers, then writes bench.json with exactly the promised keys, the chart and the table', async () => {
    const out = tempDir('out');
    const r = await runBench(['--out', out, ...TINY]);
    if (r.code !== 0) throw new Error(`bench exited ${r.code}:\n${r.stderr}\n${r.stdout.slice(-3000)}`);
    expect(r.stdout).toMatch(/^workload: generated \(seed \d+\), sha256 [0-9a-f]{64}$/m);
    expect(r.stdout).toContain('mesh: answers of all 8 reference users match the reference answers of bench/src/reference-model.ts');
    expect(r.stdout).toContain('in-process: answers of all 8 reference users match the reference answers of bench/src/reference-model.ts');

    const json = JSON.parse(fs.readFileSync(path.join(out, 'bench.json'), 'utf8'));
    expect(Object.keys(json).sort()).toEqual(['inprocess', 'mesh', 'mesh_over_inprocess']);
    expect(Object.keys(json.mesh).sort()).toEqual(['c1', 'c16', 'c64']);
    expect(Object.keys(json.inprocess).sort()).toEqual(['c16', 'c64']);
    // On a loaded machine some mesh requests at c=64 may run out of the gateway's 500 ms
    // budget (errors); c=1 and the in-process levels must have answers.
    const details = JSON.parse(fs.readFileSync(path.join(out, 'bench-details.json'), 'utf8'));
    const levels = [
      ['mesh', 'c1'],
      ['mesh', 'c16'],
      ['mesh', 'c64'],
      ['inprocess', 'c16'],
      ['inprocess', 'c64'],
    ] as const;
    for (const [variant, c] of levels) {
      const level = json[variant][c];
      const d = details[variant][c];
      expect(Object.keys(level).sort()).toEqual([...LEVEL_KEYS].sort());
      expect(d.requests + d.errors).toBeGreaterThanOrEqual(20);
      expect(d.window_ms).toBeGreaterThanOrEqual(400);
      expect(d.requests).toBeCloseTo((level.rps * d.window_ms) / 1000, 0);
      if (variant === 'inprocess' || c === 'c1') expect(d.requests).toBeGreaterThan(0);
      if (d.requests === 0) continue;
      expect(level.p50_ms).toBeGreaterThan(0);
      expect(level.p50_ms).toBeLessThanOrEqual(level.p90_ms);
      expect(level.p90_ms).toBeLessThanOrEqual(level.p99_ms);
      expect(level.p99_ms).toBeLessThanOrEqual(level.max_ms);
    }
    expect(json.mesh_over_inprocess).toBeCloseTo(json.mesh.c16.rps / json.inprocess.c16.rps, 2);

    // Every stage sampled, CPU per process, handler time per method (c=1: no overload errors).
    const c1 = details.mesh.c1;
    expect(Object.keys(c1.cpu_percent).sort()).toEqual(['candidate-generator', 'feature-store', 'gateway', 'load-gen', 'ranker', 'redis']);
    expect(c1.cpu_ms_per_request['total (without load-gen)']).toBeGreaterThan(0);
    expect(Object.keys(c1.stages_ms).sort()).toEqual(['business_rules', 'candidates', 'item_features', 'ranking', 'user_context']);
    expect(Object.keys(c1.handler_ms).sort()).toEqual([
      'candidate-generator GenerateCandidates',
      'feature-store GetOnlineFeatures',
      'feature-store GetUserContext',
      'gateway Recommend',
      'ranker Rank',
    ]);
    expect(details.micro.map((m: { name: string }) => m.name.split(':')[0])).toEqual(
      expect.arrayContaining(['retrieval top-300 of 20,000×32', 'feature read 301 vectors', 'scoring 300×34', 'wire', 'empty gRPC round trip']),
    );
    // Timed in a process of their own with the services' V8 flags (as reported by that process).
    expect(details.micro_node_flags).toEqual(expect.arrayContaining([...SERVICE_NODE_FLAGS]));
    expect(SERVICE_NODE_FLAGS.length).toBeGreaterThan(0);

    const svg = fs.readFileSync(path.join(out, 'latency-throughput.svg'), 'utf8');
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('mesh p99');
    expect(fs.readFileSync(path.join(out, 'table.txt'), 'utf8')).toContain('mesh / in-process throughput at c=16');

    // The HTTP/JSON front door at c=16 beside gRPC: same workload, same reference check.
    expect(r.stdout).toContain('mesh over HTTP/JSON: answers of all 8 reference users match the reference answers of bench/src/reference-model.ts');
    expect(Object.keys(details.http)).toEqual(['c16']);
    expect(details.http.c16.requests + details.http.c16.errors).toBeGreaterThanOrEqual(20);
    expect(details.http_over_grpc).toBeCloseTo(details.http.c16.stats.rps / json.mesh.c16.rps, 2);
    expect(fs.readFileSync(path.join(out, 'table.txt'), 'utf8')).toContain('HTTP/JSON / gRPC throughput at c=16');
  });

  it('--workload DIR: loads a folder in the standard format and refuses to report figures when an answer differs from its reference.json, naming the user and position', async () => {
    // The generated workload written in the standard format, with one reference item and one score changed.
    const workload = path.join(tempDir('workload'), 'wl');
    const written = await runBench(['--write-workload', workload]);
    expect(written).toMatchObject({ code: 0 });
    const refPath = path.join(workload, 'reference.json');
    const ref = JSON.parse(fs.readFileSync(refPath, 'utf8'));
    ref['42'].items[2] = (ref['42'].items[2] + 1) % 20000;
    ref['777'].scores[0] = ref['777'].scores[0] + 0.001;
    fs.writeFileSync(refPath, JSON.stringify(ref));
    const out = tempDir('out');
    const r = await runBench(['--workload', workload, '--out', out, ...TINY]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`mesh: answers differ from ${refPath}, refusing to report figures (2 difference(s))`);
    expect(r.stderr).toMatch(/user 42: final item #3 is \d+/);
    expect(r.stderr).toMatch(/user 777: final item #1 \(\d+\) has score/);
    // Exactly the two changes differ: the files loaded bit for bit, so every other answer matched.
    expect(r.stderr.match(/^ {2}user /gm)).toHaveLength(2);
    expect(r.stdout).not.toContain('req/s');
    expect(fs.existsSync(path.join(out, 'bench.json'))).toBe(false);
  });

  it('names a missing workload folder and a bad flag', async () => {
    const missing = await runBench(['--workload', path.join(os.tmpdir(), 'no-such-workload-dir'), '--out', tempDir('out')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no-such-workload-dir is not a folder');
    const bad = await runBench(['--duration-ms', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--duration-ms must be an integer');
  });
});
