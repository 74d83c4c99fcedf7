/**
 * `npm run scale:mesh -- [--items 1000000 --users 20000 --interactions 2000000] [--ranker-users N] [--out DIR [--reuse]] [--seconds 120]`
 *
 * The mesh on a large synthetic catalogue with approximate retrieval, end to end:
 *
 * 1. builds two artifact versions (seeds 42 and 43) with `npm run artifacts -- --index
 *    hnsw --history all` into DIR (default: a temporary folder, removed at the end); with
 *    `--reuse`, a version an earlier run built in DIR from the same flags and seed is used
 *    as it is (DIR/scale-mesh-builds.json records them);
 * 2. starts the four services on free ports with `RETRIEVAL_INDEX=hnsw` (the candidate
 *    generator refuses an artifact without its HNSW index) on the first version;
 * 3. calls `GatewayService/Recommend` through `tools/grpc_probe.py --strict` (gRPC's C
 *    core over reflection, as grpcurl sees the server);
 * 4. runs 4 closed-loop callers, points `CURRENT` at the second version and keeps the load
 *    until every answer comes from it, then 20 s more: reports the requests, failures (must
 *    be 0), degraded answers (by stage, before the switch and after it), and the candidate
 *    generator's resident set before, at its peak (VmHWM) and after the reload.
 *
 * Exit code 1 when a request failed, the probe call failed or the versions did not switch.
 * `test/integration/scale-mesh.test.ts` runs it on a tiny catalogue.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { loadArtifacts, resolveArtifactDir } from '@recsys/core';
import { callUnary, createClient } from '@recsys/grpc-kit';
import { REPO_ROOT, startMesh } from '@recsys/local';
import { setCurrentVersion } from '@recsys/offline';
import { GatewayServiceClient, Stage } from '@recsys/proto';

const execFileP = promisify(execFile);

/** How long the load goes on once every answer comes from the new version. */
const AFTER_SWITCH_MS = 20_000;

/** What one run measured. */
export interface ScaleMeshResult {
  items: number;
  /** Items of the first version's catalogue (those with interactions; fewer than `items` on a long tail). */
  catalogue_items: number;
  versions: [string, string];
  build_s: [number, number];
  probe_items: number;
  requests: number;
  failures: string[];
  degraded: number;
  /** Degraded answers by the stage that fell back (an answer may count under several). */
  degraded_by_stage: Record<string, number>;
  /** Answers before CURRENT moved, and after the first answer from the new version. */
  before_switch: { requests: number; degraded: number };
  after_switch: { requests: number; degraded: number };
  switch_s: number;
  candidate_generator_rss_mb: { before: number; peak: number; after: number };
  load_average: { before: number[]; after: number[] };
}

/** VmRSS and VmHWM of a process, MiB (Linux /proc). */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kb('VmRSS') / 1024), hwm: Math.round(kb('VmHWM') / 1024) };
}

/** Runs the scenario; `log` gets progress lines. */
export async function runScaleMesh(o: {
  items: number;
  users: number;
  interactions: number;
  /** `--ranker-users` of the builds (default: the build's). */
  rankerUsers?: number;
  out?: string;
  /** Reuse the versions an earlier run built in `out` from the same flags (its `scale-mesh-builds.json`). */
  reuse?: boolean;
  seconds: number;
  log: (line: string) => void;
}): Promise<ScaleMeshResult> {
  const before = os.loadavg().map((v) => Math.round(v * 100) / 100);
  const root = o.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-scale-mesh-'));
  const cleanup = o.out === undefined;
  try {
    // What each build of this root was made from, so that `--reuse` can skip a build it has.
    const ledgerFile = path.join(root, 'scale-mesh-builds.json');
    type Ledger = Record<string, { version: string; build_s: number }>;
    const readLedger = (): Ledger => {
      try {
        return JSON.parse(fs.readFileSync(ledgerFile, 'utf8')) as Ledger;
      } catch {
        return {};
      }
    };
    const build = async (seed: number): Promise<[string, number]> => {
      const key = JSON.stringify({ users: o.users, items: o.items, interactions: o.interactions, rankerUsers: o.rankerUsers ?? null, seed });
      const kept = o.reuse ? readLedger()[key] : undefined;
      if (kept && fs.existsSync(path.join(root, kept.version, 'manifest.json'))) {
        o.log(`reusing ${kept.version} (seed ${seed}, built earlier in ${kept.build_s} s)`);
        return [kept.version, kept.build_s];
      }
      const args = [path.join(REPO_ROOT, 'cli/dist/artifacts.js'), '--dataset', 'synthetic', '--users', String(o.users), '--items', String(o.items), '--interactions', String(o.interactions), '--index', 'hnsw', '--history', 'all', '--seed', String(seed), '--out', root];
      if (o.rankerUsers !== undefined) args.push('--ranker-users', String(o.rankerUsers));
      o.log(`$ node ${args.map((a) => path.relative(REPO_ROOT, a) || a).join(' ')}`);
      const t0 = Date.now();
      const run = execFileP(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 });
      // Its progress (each phase as it starts and ends) as it goes: a 1M-item build runs ~20 min.
      run.child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
      const { stdout } = await run;
      // The build's summary: time and peak RSS per phase.
      stdout.trimEnd().split('\n').forEach((line) => o.log(line));
      const version = path.basename(resolveArtifactDir(root));
      const buildS = (Date.now() - t0) / 1000;
      fs.writeFileSync(ledgerFile, `${JSON.stringify({ ...readLedger(), [key]: { version, build_s: buildS } }, null, 2)}\n`);
      return [version, buildS];
    };
    const [first, b1] = await build(42);
    const [second, b2] = await build(43);
    if (first === second) throw new Error('the two builds gave the same version');
    setCurrentVersion(root, first);
    const live = loadArtifacts(root, ['userIds']);
    const users = live.userIds.slice(0, 200);
    const catalogue = live.manifest.dataset.items;
    o.log(`mesh on ${first} (RETRIEVAL_INDEX=hnsw), then hot reload to ${second}`);
    const mesh = await startMesh({ artifactsDir: root, ports: 'free', env: { LOG_LEVEL: 'warn', ARTIFACTS_POLL_MS: '500' }, serviceEnv: { 'candidate-generator': { RETRIEVAL_INDEX: 'hnsw' } }, readyTimeoutMs: 600_000 });
    const cgPid = mesh.services['candidate-generator'].child.pid!;
    const client = createClient(GatewayServiceClient, mesh.gatewayAddress);
    const failures: string[] = [];
    const seen: Array<{ at: number; artifact: string; model: string; degraded: boolean }> = [];
    const degradedByStage: Record<string, number> = {};
    let stop = false;
    let probeItems = 0;
    let switchS = NaN;
    let switched = NaN;
    let rssBefore = 0;
    let mem = { rss: NaN, hwm: NaN };
    try {
      // 3. One call as grpcurl would make it.
      const { stdout } = await execFileP('/usr/bin/python3', [path.join(REPO_ROOT, 'tools/grpc_probe.py'), '--strict', mesh.gatewayAddress, 'call', 'recsys.v1.GatewayService/Recommend', JSON.stringify({ userId: users[0], k: 10 })], { timeout: 60_000 });
      const answer = JSON.parse(stdout) as { items?: unknown[]; artifactVersion?: string };
      probeItems = answer.items?.length ?? 0;
      o.log(`grpc_probe Recommend: ${probeItems} items from ${answer.artifactVersion}`);
      if (probeItems !== 10) failures.push(`grpc_probe Recommend returned ${probeItems} items`);
      rssBefore = memoryOf(cgPid).rss;
      // 4. Closed-loop load across the switch.
      const loops = Array.from({ length: 4 }, async (_, w) => {
        for (let i = w; !stop; i += 4) {
          try {
            const res = await callUnary(client.recommend.bind(client), { userId: users[i % users.length]!, k: 10, excludeItemIds: [], debug: false }, { deadline: Date.now() + 10_000 });
            for (const d of res.degradedStages) {
              const stage = Stage[d.stage] ?? String(d.stage);
              degradedByStage[stage] = (degradedByStage[stage] ?? 0) + 1;
            }
            if (res.items.length !== 10) failures.push(`only ${res.items.length} items`);
            seen.push({ at: Date.now(), artifact: res.artifactVersion, model: res.modelVersion, degraded: res.degradedStages.length > 0 });
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      });
      await new Promise((r) => setTimeout(r, 2000));
      setCurrentVersion(root, second);
      switched = Date.now();
      const until = switched + o.seconds * 1000;
      while (Date.now() < until) {
        const recent = seen.filter((s) => s.at > switched);
        if (recent.length > 20 && recent.slice(-20).every((s) => s.artifact === second && s.model === second)) {
          switchS = (recent.find((s) => s.artifact === second)!.at - switched) / 1000;
          // The same load for a while on the new version alone (its steady state).
          await new Promise((r) => setTimeout(r, Math.min(AFTER_SWITCH_MS, Math.max(0, until - Date.now()))));
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      stop = true;
      await Promise.all(loops);
    } finally {
      stop = true;
      client.close();
      mem = memoryOf(cgPid);
      await mesh.stop();
    }
    const tally = (xs: typeof seen): { requests: number; degraded: number } => ({ requests: xs.length, degraded: xs.filter((x) => x.degraded).length });
    if (!(switchS >= 0)) failures.push(`the mesh did not switch to ${second} within ${o.seconds} s`);
    return {
      items: o.items,
      catalogue_items: catalogue,
      versions: [first, second],
      build_s: [b1, b2],
      probe_items: probeItems,
      requests: seen.length,
      failures,
      degraded: seen.filter((x) => x.degraded).length,
      degraded_by_stage: degradedByStage,
      before_switch: tally(seen.filter((x) => x.at < switched)),
      after_switch: tally(seen.filter((x) => x.at >= switched + switchS * 1000)),
      switch_s: switchS,
      candidate_generator_rss_mb: { before: rssBefore, peak: mem.hwm, after: mem.rss },
      load_average: { before, after: os.loadavg().map((v) => Math.round(v * 100) / 100) },
    };
  } finally {
    if (cleanup) fs.rmSync(root, { recursive: true, force: true });
  }
}

/** `npm run scale:mesh` with `argv`; resolves to the exit code. */
export async function runScaleMeshCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      items: { type: 'string', default: '1000000' },
      users: { type: 'string', default: '20000' },
      interactions: { type: 'string', default: '2000000' },
      'ranker-users': { type: 'string' },
      seconds: { type: 'string', default: '120' },
      out: { type: 'string' },
      reuse: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (name: string, raw: string, lo: number, hi: number): number => {
    const v = Number(raw);
    if (!/^\d+$/.test(raw) || v < lo || v > hi) throw new Error(`--${name} must be an integer between ${lo} and ${hi}, got ${JSON.stringify(raw)}`);
    return v;
  };
  const r = await runScaleMesh({
    items: int('items', values.items!, 10, 50_000_000),
    users: int('users', values.users!, 10, 50_000_000),
    interactions: int('interactions', values.interactions!, 10, 500_000_000),
    seconds: int('seconds', values.seconds!, 1, 3600),
    ...(values['ranker-users'] === undefined ? {} : { rankerUsers: int('ranker-users', values['ranker-users'], 2, 50_000_000) }),
    ...(values.out === undefined ? {} : { out: path.resolve(values.out) }),
    reuse: values.reuse!,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  process.stdout.write(
    `${r.catalogue_items} items (of ${r.items} generated): ${r.requests} requests across the hot reload, ${r.failures.length} failed, ${r.degraded} degraded ${JSON.stringify(r.degraded_by_stage)} (before the switch ${r.before_switch.degraded} of ${r.before_switch.requests}, after it ${r.after_switch.degraded} of ${r.after_switch.requests}); switched after ${r.switch_s} s; ` +
      `candidate generator RSS ${r.candidate_generator_rss_mb.before} MiB before, peak ${r.candidate_generator_rss_mb.peak} MiB, ${r.candidate_generator_rss_mb.after} MiB after; load average ${r.load_average.before.join(' ')} → ${r.load_average.after.join(' ')}\n`,
  );
  return r.failures.length === 0 ? 0 : 1;
}
