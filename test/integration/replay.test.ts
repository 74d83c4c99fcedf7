/**
 * Replay: a session logged by the mesh, re-sent with the real CLI against the same gateway
 * and through the in-process pipeline on the same artifact (no differences), then on another
 * artifact (differences reported); the same log read back from a Redis Stream.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { REPO_ROOT } from '@recsys/local';
import type { ReplayDiff } from '@recsys/gateway/replay';
import { startRedis, testArtifactsRoot } from '../support/helpers';
import { useMesh } from '../support/mesh';
import { writeRankerVariant } from '../support/model-variant';

jest.setTimeout(180_000);

const execFileP = promisify(execFile);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-replay-'));
const logFile = path.join(dir, 'requests.jsonl');
/** The logged session, copied once logged: the replays are served (and logged) by the same gateway. */
const session = path.join(dir, 'session.jsonl');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function replayCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [path.join(REPO_ROOT, 'cli/dist/replay.js'), ...args], { timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const mesh = useMesh({ serviceEnv: { gateway: { REQUEST_LOG_SAMPLE: '1', REQUEST_LOG_FILE: logFile, REQUEST_TIMEOUT_MS: '20000' } } });
const N = 30;

describe('replay', () => {
  beforeAll(async () => {
    for (let i = 0; i < N; i++) {
      const res = await mesh.recommend({ userId: String(1 + ((i * 7) % 60)), k: 5 + (i % 10), excludeItemIds: i % 4 === 0 ? ['1', '2', '3'] : [] }, 20_000);
      expect(res.degradedStages).toEqual([]);
    }
    const until = Date.now() + 10_000;
    while ((fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean).length : 0) < N && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    fs.copyFileSync(logFile, session);
  });

  it('against the same gateway: zero differences', async () => {
    const r = await replayCli('--from', session, '--target', mesh.gatewayAddress, '--rate', '500', '--fail-on-diff');
    expect(r.stderr).toContain(`replaying ${session} against gateway ${mesh.gatewayAddress}`);
    expect(r.stdout).toContain(`replayed ${N} requests`);
    expect(r.stdout).toContain(`identical       ${N} (100.0 %)`);
    expect(r.stdout).toContain('no differences');
    expect(r.code).toBe(0);
  });

  it('in process on the same artifact (no mesh): zero differences', async () => {
    const out = path.join(dir, 'same.jsonl');
    const r = await replayCli('--from', session, '--artifacts', testArtifactsRoot(), '--rate', '500', '--out', out, '--fail-on-diff');
    expect({ stdout: r.stdout, stderr: r.code === 0 ? '' : r.stderr }).toMatchObject({ stdout: expect.stringContaining('no differences'), stderr: '' });
    expect(r.code).toBe(0);
    const diffs = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ReplayDiff);
    expect(diffs).toHaveLength(N);
    for (const d of diffs) expect(d).toMatchObject({ kind: 'same', overlap: 1, moved: 0, max_score_delta: 0, missing: [], added: [] });
  });

  it('in process on another artifact: the differences are reported, per request and in total', async () => {
    const other = writeRankerVariant(testArtifactsRoot(), dir, 5);
    const out = path.join(dir, 'other.jsonl');
    const r = await replayCli('--from', session, '--artifacts', other, '--rate', '500', '--out', out, '--show', '3', '--fail-on-diff');
    expect(r.code).toBe(1);
    const diffs = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ReplayDiff);
    expect(diffs).toHaveLength(N);
    const differing = diffs.filter((d) => d.kind !== 'same');
    expect(differing.length).toBeGreaterThan(N / 2);
    for (const d of diffs) expect(d.replayed_model_version).toBe(path.basename(other));
    expect(r.stdout).toMatch(/user \d+: (items differ|same items, order differs|same items and order, scores differ) \(model \S+ → \S+-m5\)/);
    expect(r.stdout).toContain(`${differing.length} of ${N} answers differ (first 3 shown, all in ${out})`);
    const itemsDiffer = diffs.filter((d) => d.kind === 'items').length;
    expect(r.stdout).toContain(`items differ    ${itemsDiffer} `);
  });

  it('reads the log from a Redis Stream', async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url, { retryStrategy: () => null });
    try {
      for (const line of fs.readFileSync(session, 'utf8').split('\n').filter(Boolean)) await client.xadd('recsys:requests', '*', 'record', line);
      await client.xadd('recsys:requests', '*', 'record', '{"format":1}');
      const r = await replayCli('--from', redis.url, '--target', mesh.gatewayAddress, '--rate', '500', '--limit', '1000');
      expect(r.stdout).toContain(`replayed ${N} requests`);
      expect(r.stdout).toContain('(1 unreadable records skipped)');
      expect(r.stderr).toMatch(/skipped recsys:requests \d+-\d+: user_id: missing/);
      expect(r.stdout).toContain('no differences');
      const limited = await replayCli('--from', redis.url, '--target', mesh.gatewayAddress, '--limit', '7');
      expect(limited.stdout).toContain('replayed 7 requests');
      const missing = await replayCli('--from', redis.url, '--stream', 'nope', '--target', mesh.gatewayAddress);
      expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining('--stream nope: no such key') });
    } finally {
      client.disconnect();
      await redis.stop();
    }
  });

  it.each([
    [['--target', 'x:1'], '--from <log file | redis://host:port> is required'],
    [['--from', 'f'], 'give exactly one of --target HOST:PORT and --artifacts DIR'],
    [['--from', 'f', '--target', 'a:1', '--artifacts', 'd'], 'give exactly one of'],
    [['--from', 'f', '--target', 'a:1', '--rate', '0'], '--rate must be a number between 0.1 and 100000, got "0"'],
    [['--from', 'f', '--target', 'a:1', '--concurrency', '2.5'], '--concurrency must be an integer'],
    [['--from', 'f', '--target', 'a:1', '--bogus'], "Unknown option '--bogus'"],
  ])('refuses %j with exit 2 and the usage', async (args, message) => {
    const r = await replayCli(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('Usage: npm run replay');
  });

  it('names a log file that does not exist', async () => {
    const r = await replayCli('--from', path.join(dir, 'none.jsonl'), '--target', mesh.gatewayAddress);
    expect(r).toMatchObject({ code: 1, stderr: expect.stringContaining('none.jsonl: no such file') });
  });
});
