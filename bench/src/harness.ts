/**
 * `npm run bench` end to end: workload → artifact → Redis → mesh → reference check →
 * closed-loop load (mesh, then in-process) → micro-benchmarks → table, chart, JSON.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, SERVICE_NODE_FLAGS, startMesh, startRedis, type Mesh, type RedisServer } from '@recsys/local';
import { latencyThroughputSvg } from './chart';
import type { LoadLevel, LoadResult } from './closed-loop';
import type { MicroResult } from './micro';
import { compareWithReference } from './reference';
import { checkTargets, formatTable, type BenchDetails, type BenchJson, type LevelDetails } from './report';
import { cpuPercent, cpuSnapshot, percentile, summarize } from './stats';
import { LoadWorker } from './worker-client';
import { generateWorkload, workloadFingerprint } from './generated-workload';
import { loadWorkload, writeWorkloadArtifact, type Workload } from './workload';
import { monotonicUs, summarizeProfiles, type ProfileWindow } from './profile';
import { gcBetween, handlingBetween, scrapeHandlingTotals, type HandlingTotals } from './server-metrics';

const execFileP = promisify(execFile);

/** Options of one run (the CLI flags). */
export interface BenchOptions {
  /** A workload folder in the standard format; undefined: the generated workload. */
  workloadDir?: string;
  outDir: string;
  warmupMs: number;
  durationMs: number;
  /** Concurrency levels of the mesh (c=1 must be first for the idle latency). */
  meshLevels: number[];
  inprocessLevels: number[];
  k: number;
  debugEvery: number;
  /** Each level's window stays open until this many requests completed in it. */
  minRequests: number;
  micro: boolean;
  microBudgetMs: number;
  /** Run the mesh under `node --cpu-prof` at c=16 only and summarise where time goes. */
  profile: boolean;
  /** Also measure Recommend through the gateway's HTTP/JSON API at c=16 (same workload and reference check). */
  http?: boolean;
  log: (line: string) => void;
}

/** The answers differ from the reference answers: no figures are reported. */
export class ReferenceMismatchError extends Error {
  constructor(
    readonly variant: string,
    readonly differences: string[],
    referenceName = 'the reference answers',
  ) {
    super(
      `${variant}: answers differ from ${referenceName}, refusing to report figures (${differences.length} difference(s)):\n` +
        differences.slice(0, 20).map((d) => `  ${d}`).join('\n'),
    );
  }
}

function stagesOf(r: LoadResult): LevelDetails['stages_ms'] {
  const out: LevelDetails['stages_ms'] = {};
  for (const [stage, values] of Object.entries(r.stageMs)) {
    const sorted = Float64Array.from(values).sort();
    const r3 = (v: number): number => Math.round(v * 1000) / 1000;
    out[stage] = { samples: sorted.length, mean: r3(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)), p50: r3(percentile(sorted, 50)), p99: r3(percentile(sorted, 99)) };
  }
  return out;
}

async function scrapeAll(ports: Record<string, number>): Promise<Record<string, HandlingTotals>> {
  const out: Record<string, HandlingTotals> = {};
  await Promise.all(Object.entries(ports).map(async ([name, port]) => void (out[name] = await scrapeHandlingTotals(port))));
  return out;
}

async function measure(
  worker: LoadWorker,
  level: LoadLevel,
  pids: () => Record<string, number | undefined>,
  log: BenchOptions['log'],
  label: string,
  metricsPorts: Record<string, number> = {},
  /** Told the measured window in CLOCK_MONOTONIC µs, the clock of V8's CPU profiles. */
  onWindow?: (window: ProfileWindow) => void,
): Promise<LevelDetails> {
  log(`${label}: c=${level.concurrency}, warm-up ${level.warmupMs} ms, measuring ${level.durationMs} ms …`);
  let before: Record<string, number | undefined> = {};
  let handlingBefore: Promise<Record<string, HandlingTotals>> = Promise.resolve({});
  let t0 = 0;
  let mono0 = 0;
  let after: Record<string, number | undefined> = {};
  let wall = 0;
  let handlingAfterP: Promise<Record<string, HandlingTotals>> = Promise.resolve({});
  const result = await worker.run(
    level,
    () => {
      before = cpuSnapshot(pids());
      t0 = Date.now();
      mono0 = monotonicUs();
      handlingBefore = scrapeAll(metricsPorts);
    },
    () => {
      after = cpuSnapshot(pids());
      wall = Date.now() - t0;
      onWindow?.({ startUs: mono0, endUs: monotonicUs() });
      handlingAfterP = scrapeAll(metricsPorts);
    },
  );
  const handlingAfter = await handlingAfterP;
  const hb = await handlingBefore;
  const handler_ms: LevelDetails['handler_ms'] = {};
  for (const [service, totals] of Object.entries(handlingAfter)) {
    for (const [method, v] of Object.entries(handlingBetween(hb[service] ?? {}, totals))) handler_ms[`${service} ${method.replace(/^.*\//, '')}`] = v;
  }
  const stats = summarize(result.latenciesMs, result.wallMs);
  const gc: NonNullable<LevelDetails['gc']> = {};
  for (const [service, totals] of Object.entries(handlingAfter)) {
    const g = gcBetween(hb[service] ?? {}, totals, result.latenciesMs.length + result.errors);
    if (g) gc[service] = g;
  }
  const details: LevelDetails = {
    stats,
    window_ms: Math.round(result.wallMs),
    requests: result.latenciesMs.length,
    errors: result.errors,
    errorSamples: result.errorSamples,
    degraded: result.degraded,
    cpu_percent: cpuPercent(before, after, wall),
    cpu_ms_per_request: {},
    stages_ms: stagesOf(result),
    handler_ms,
    gc,
  };
  // CPU time per request is far less sensitive to other load on the machine than req/s.
  const served = result.latenciesMs.length + result.errors;
  let serverSide = 0;
  for (const [p, pct] of Object.entries(details.cpu_percent)) {
    const ms = served > 0 ? Math.round(((pct / 100) * wall * 1000) / served) / 1000 : NaN;
    details.cpu_ms_per_request[p] = ms;
    if (p !== 'load-gen') serverSide += ms;
  }
  details.cpu_ms_per_request['total (without load-gen)'] = Math.round(serverSide * 1000) / 1000;
  log(`  ${stats.rps} req/s, p50 ${stats.p50_ms} ms, p99 ${stats.p99_ms} ms, ${result.errors} errors, ${result.degraded} degraded`);
  return details;
}

async function checkReference(worker: LoadWorker, workload: Workload, variant: string, log: BenchOptions['log']): Promise<void> {
  const users = Object.keys(workload.reference);
  const answers = await worker.observe(users, 20, 300);
  const diffs = compareWithReference(workload.reference, answers);
  if (diffs.length > 0) throw new ReferenceMismatchError(variant, diffs, workload.referenceFrom);
  log(`${variant}: answers of all ${users.length} reference users match ${workload.referenceFrom} (5 candidates, 20 items and scores each)`);
}

/** Runs the benchmark; resolves with the figures written, or undefined in profile mode. */
export async function runBench(o: BenchOptions): Promise<{ json: BenchJson; details: BenchDetails } | undefined> {
  const { log } = o;
  const started = new Date().toISOString();
  const loadBefore = os.loadavg();
  fs.mkdirSync(o.outDir, { recursive: true });
  const workload = o.workloadDir === undefined ? generateWorkload() : loadWorkload(o.workloadDir);
  log(`workload: ${workload.source}${o.workloadDir === undefined ? `, sha256 ${workloadFingerprint(workload)}` : ''}`);
  const artifact = writeWorkloadArtifact(workload, path.join(o.outDir, 'artifacts'));
  log(`artifact ${artifact.version} in ${artifact.dir}${artifact.reused ? ' (reused, identical)' : ''}`);

  let redis: RedisServer | undefined;
  let mesh: Mesh | undefined;
  const workers: LoadWorker[] = [];
  try {
    redis = await startRedis();
    log(`redis-server on port ${redis.port}; materializing …`);
    const mat = await execFileP(process.execPath, [path.join(REPO_ROOT, 'cli/dist/materialize.js'), '--artifacts', artifact.root, '--redis', redis.url]);
    log(`  ${mat.stdout.trim()}`);

    const profileDir = path.join(o.outDir, 'profiles');
    if (o.profile) {
      fs.rmSync(profileDir, { recursive: true, force: true });
      fs.mkdirSync(profileDir, { recursive: true });
    }
    log('starting the mesh (four processes) …');
    mesh = await startMesh({
      artifactsDir: artifact.root,
      redisUrl: redis.url,
      ports: 'free',
      env: { LOG_LEVEL: 'warn', ...(o.profile ? { NODE_OPTIONS: `--require ${path.join(__dirname, 'cpu-prof-preload.js')}`, RECSYS_CPU_PROF_DIR: profileDir } : {}) },
    });
    const m = mesh;
    log(`  gateway at ${m.gatewayAddress}`);
    const meshWorker = await LoadWorker.open('mesh', { mode: 'mesh', gateway: m.gatewayAddress, candidateGenerator: m.services['candidate-generator'].address }, o.k);
    workers.push(meshWorker);
    await checkReference(meshWorker, workload, 'mesh', log);

    const level = (c: number, i: number): LoadLevel => ({ concurrency: c, warmupMs: o.warmupMs, durationMs: o.durationMs, minRequests: o.minRequests, users: workload.users, debugEvery: o.debugEvery, seed: 1000 + i });
    const meshPids = (): Record<string, number | undefined> => ({
      gateway: m.services.gateway.child.pid,
      'candidate-generator': m.services['candidate-generator'].child.pid,
      'feature-store': m.services['feature-store'].child.pid,
      ranker: m.services.ranker.child.pid,
      redis: redis?.process.pid,
      'load-gen': meshWorker.pid,
    });

    if (o.profile) {
      const names: Record<number, string> = {};
      for (const [name, pid] of Object.entries(meshPids())) if (pid !== undefined) names[pid] = name;
      const c = o.meshLevels[0] ?? 16;
      let meshWindow: ProfileWindow | undefined;
      await measure(meshWorker, level(c, c), meshPids, log, `mesh c=${c} (profiled, figures not comparable)`, {}, (w) => (meshWindow = w));
      await meshWorker.close();
      await mesh.stop();
      mesh = undefined;
      // The in-process pipeline under the same load, profiled with node's own --cpu-prof.
      const ip = await LoadWorker.open('in-process', { mode: 'inprocess', artifactsDir: artifact.root, redisUrl: redis.url }, o.k, [...SERVICE_NODE_FLAGS, '--cpu-prof', '--cpu-prof-dir', profileDir]);
      workers.push(ip);
      if (ip.pid !== undefined) names[ip.pid] = 'in-process pipeline';
      let ipWindow: ProfileWindow | undefined;
      await measure(ip, level(c, 100 + c), () => ({ 'in-process': ip.pid, redis: redis?.process.pid }), log, 'in-process (profiled, figures not comparable)', {}, (w) => (ipWindow = w));
      await ip.close();
      // Only the measured windows: start-up, warm-up and shutdown are left out.
      const windows: Record<number, ProfileWindow | undefined> = {};
      for (const pid of Object.keys(names).map(Number)) windows[pid] = pid === ip.pid ? ipWindow : meshWindow;
      const summary = summarizeProfiles(profileDir, names, windows);
      fs.writeFileSync(path.join(o.outDir, 'profile-summary.txt'), summary);
      log(summary);
      log(`profiles: ${profileDir} (open in Chrome DevTools or speedscope); summary in ${path.join(o.outDir, 'profile-summary.txt')}`);
      return undefined;
    }

    const meshDetails: Record<string, LevelDetails> = {};
    const metricsPorts: Record<string, number> = {};
    for (const [name, svc] of Object.entries(m.services)) metricsPorts[name] = svc.metricsPort;
    for (const [i, c] of o.meshLevels.entries()) meshDetails[`c${c}`] = await measure(meshWorker, level(c, i), meshPids, log, 'mesh', metricsPorts);
    await meshWorker.close();

    // The HTTP/JSON front door beside gRPC: same mesh, workload, users and reference check.
    const httpDetails: Record<string, LevelDetails> = {};
    if (o.http !== false && m.gatewayHttpAddress) {
      const httpWorker = await LoadWorker.open('http', { mode: 'http', gatewayHttp: m.gatewayHttpAddress, candidateGenerator: m.services['candidate-generator'].address }, o.k);
      workers.push(httpWorker);
      await checkReference(httpWorker, workload, 'mesh over HTTP/JSON', log);
      const httpPids = (): Record<string, number | undefined> => ({ ...meshPids(), 'load-gen': httpWorker.pid });
      httpDetails.c16 = await measure(httpWorker, level(16, 1), httpPids, log, 'mesh over HTTP/JSON', metricsPorts);
      await httpWorker.close();
    }

    let micro: MicroResult[] = [];
    let microFlags: string[] = [];
    if (o.micro) {
      log('micro-benchmarks …');
      // In a worker process with the services' V8 flags, as the in-process pipeline below.
      const microWorker = LoadWorker.start('micro-benchmarks', [...SERVICE_NODE_FLAGS]);
      workers.push(microWorker);
      ({ results: micro, execArgv: microFlags } = await microWorker.micro({ artifactsDir: artifact.root, redisUrl: redis.url, redisPort: redis.port, grpcAddress: m.services.ranker.address, budgetMs: o.microBudgetMs }, log));
      await microWorker.close();
    }
    await mesh.stop();
    mesh = undefined;

    log('in-process pipeline (same modules, no RPC) …');
    // The in-process pipeline runs with the services' V8 flags: the comparison is of the pipeline, not of heap settings.
    const ipWorker = await LoadWorker.open('in-process', { mode: 'inprocess', artifactsDir: artifact.root, redisUrl: redis.url }, o.k, [...SERVICE_NODE_FLAGS]);
    workers.push(ipWorker);
    await checkReference(ipWorker, workload, 'in-process', log);
    const ipPids = (): Record<string, number | undefined> => ({ 'in-process': ipWorker.pid, redis: redis?.process.pid });
    const ipDetails: Record<string, LevelDetails> = {};
    for (const [i, c] of o.inprocessLevels.entries()) ipDetails[`c${c}`] = await measure(ipWorker, level(c, 100 + i), ipPids, log, 'in-process');
    await ipWorker.close();

    const stat = (d: Record<string, LevelDetails>, key: string): LevelDetails['stats'] => d[key]?.stats ?? { rps: NaN, p50_ms: NaN, p90_ms: NaN, p99_ms: NaN, max_ms: NaN };
    const json: BenchJson = {
      mesh: { c1: stat(meshDetails, 'c1'), c16: stat(meshDetails, 'c16'), c64: stat(meshDetails, 'c64') },
      inprocess: { c16: stat(ipDetails, 'c16'), c64: stat(ipDetails, 'c64') },
      mesh_over_inprocess: Math.round((stat(meshDetails, 'c16').rps / stat(ipDetails, 'c16').rps) * 1000) / 1000,
    };
    const cpus = os.cpus();
    const details: BenchDetails = {
      started,
      machine: { cpus: cpus.length, model: cpus[0]?.model ?? 'unknown', loadavg_before: loadBefore, loadavg_after: os.loadavg(), node: process.version },
      workload: workload.source,
      artifact_version: artifact.version,
      settings: { warmup_ms: o.warmupMs, duration_ms: o.durationMs, min_requests: o.minRequests, k: o.k, users: workload.users, debug_every: o.debugEvery },
      mesh: meshDetails,
      ...(httpDetails.c16 ? { http: httpDetails, http_over_grpc: Math.round((httpDetails.c16.stats.rps / stat(meshDetails, 'c16').rps) * 1000) / 1000 } : {}),
      inprocess: ipDetails,
      micro,
      micro_node_flags: microFlags,
      targets: checkTargets(json),
      caveat:
        'Load generator, services and Redis share this machine; a busy machine (see the load average) lowers every figure. Compare runs made on the same quiet machine.',
    };
    fs.writeFileSync(path.join(o.outDir, 'bench.json'), `${JSON.stringify(json, null, 2)}\n`);
    fs.writeFileSync(path.join(o.outDir, 'bench-details.json'), `${JSON.stringify(details, null, 2)}\n`);
    const chart = latencyThroughputSvg(
      [
        { name: 'mesh', color: '#1f77b4', points: Object.entries(meshDetails).map(([c, d]) => ({ label: c.replace('c', 'c='), stats: d.stats })) },
        ...(httpDetails.c16 ? [{ name: 'mesh over HTTP/JSON', color: '#2ca02c', points: Object.entries(httpDetails).map(([c, d]) => ({ label: c.replace('c', 'c='), stats: d.stats })) }] : []),
        { name: 'in-process', color: '#d62728', points: Object.entries(ipDetails).map(([c, d]) => ({ label: c.replace('c', 'c='), stats: d.stats })) },
      ],
      `recsys mesh, standard workload (${details.machine.cpus} cores, ${started.slice(0, 10)})`,
    );
    fs.writeFileSync(path.join(o.outDir, 'latency-throughput.svg'), chart);
    const table = formatTable(details, json);
    fs.writeFileSync(path.join(o.outDir, 'table.txt'), `${table}\n`);
    log('');
    log(table);
    log('');
    log(`wrote ${['bench.json', 'bench-details.json', 'latency-throughput.svg', 'table.txt'].map((f) => path.join(o.outDir, f)).join(', ')}`);
    return { json, details };
  } finally {
    for (const w of workers) await w.close().catch(() => {});
    await mesh?.stop().catch(() => {});
    await redis?.stop().catch(() => {});
  }
}
