/** The bench's outputs: the terminal table and the files written to --out. */
import type { MicroResult } from './micro';
import type { LevelStats } from './stats';

/** bench.json: exactly the figures tools compare between runs. */
export interface BenchJson {
  mesh: { c1: LevelStats; c16: LevelStats; c64: LevelStats };
  inprocess: { c16: LevelStats; c64: LevelStats };
  /** Mesh rps / in-process rps at c = 16. */
  mesh_over_inprocess: number;
}

/** Everything else one run measured (bench-details.json). */
export interface LevelDetails {
  stats: LevelStats;
  /** Length of the measurement window (the duration, or longer until min-requests completed). */
  window_ms: number;
  requests: number;
  errors: number;
  errorSamples: string[];
  degraded: number;
  /** CPU use per process during the window, % of one core. */
  cpu_percent: Record<string, number>;
  /** CPU milliseconds per completed request, per process and in total (server side). */
  cpu_ms_per_request: Record<string, number>;
  /** Per-stage wall time inside the gateway (debug-sampled requests), ms. */
  stages_ms: Record<string, { samples: number; mean: number; p50: number; p99: number }>;
  /** Mean time inside each service's handler per method ("<service> <Method>"), from /metrics; mesh only. */
  handler_ms: Record<string, { calls: number; mean_ms: number }>;
  /** Garbage collections per service during the window (prom-client's nodejs_gc_duration_seconds), per request; mesh only. */
  gc?: Record<string, { collections: number; per_request: number; ms_per_request: number }>;
}

export interface BenchDetails {
  started: string;
  machine: { cpus: number; model: string; loadavg_before: number[]; loadavg_after: number[]; node: string };
  workload: string;
  artifact_version: string;
  settings: { warmup_ms: number; duration_ms: number; min_requests: number; k: number; users: number; debug_every: number };
  mesh: Record<string, LevelDetails>;
  /** The mesh through the HTTP/JSON API at c = 16 (absent with --no-http). */
  http?: Record<string, LevelDetails>;
  /** HTTP/JSON rps / gRPC rps at c = 16: the cost of the JSON front door (absent with --no-http). */
  http_over_grpc?: number;
  inprocess: Record<string, LevelDetails>;
  micro: MicroResult[];
  /** The Node/V8 flags the micro-benchmarks' process ran with (the services' own). */
  micro_node_flags: string[];
  targets: Record<string, { target: string; measured: string; met: boolean }>;
  caveat: string;
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

const fmt = (v: number, d = 1): string => (Number.isFinite(v) ? v.toFixed(d) : '—');

/** The readable table printed at the end of a run. */
export function formatTable(d: BenchDetails, json: BenchJson): string {
  const lines: string[] = [];
  const head = ['variant', 'c', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'errors', 'degraded', 'CPU % per process'];
  const widths = [10, 4, 8, 8, 8, 8, 8, 7, 9, 0];
  lines.push(head.map((h, i) => pad(h, widths[i]!, i > 0 && i < 9)).join(' '));
  lines.push('-'.repeat(110));
  for (const [variant, levels] of [['mesh', d.mesh], ['http/json', d.http ?? {}], ['in-process', d.inprocess]] as const) {
    for (const [c, l] of Object.entries(levels)) {
      const s = l.stats;
      const cpu = Object.entries(l.cpu_percent)
        .map(([p, v]) => `${p} ${fmt(v, 0)}`)
        .join(', ');
      lines.push(
        [pad(variant, 10), pad(c.slice(1), 4, true), pad(fmt(s.rps), 8, true), pad(fmt(s.p50_ms, 2), 8, true), pad(fmt(s.p90_ms, 2), 8, true), pad(fmt(s.p99_ms, 2), 8, true), pad(fmt(s.max_ms, 2), 8, true), pad(String(l.errors), 7, true), pad(String(l.degraded), 9, true), cpu].join(' '),
      );
    }
  }
  lines.push('');
  lines.push(`mesh / in-process throughput at c=16: ${fmt(json.mesh_over_inprocess, 2)}`);
  if (d.http_over_grpc !== undefined) lines.push(`HTTP/JSON / gRPC throughput at c=16 (the cost of the JSON front door): ${fmt(d.http_over_grpc, 2)}`);
  lines.push('');
  lines.push('CPU ms per request (less sensitive to other load on the machine than req/s; a total of T ms needs T cores at 1000 req/s):');
  for (const [variant, levels] of [['mesh', d.mesh], ['http/json', d.http ?? {}], ['in-process', d.inprocess]] as const) {
    for (const [c, l] of Object.entries(levels)) {
      const parts = Object.entries(l.cpu_ms_per_request).map(([p, v]) => `${p} ${fmt(v, 2)}`);
      const total = l.cpu_ms_per_request['total (without load-gen)'] ?? NaN;
      lines.push(`  ${pad(variant, 10)} ${pad(c, 4)} ${parts.join(', ')}  → CPU-bound ceiling on ${d.machine.cpus} free cores ≈ ${fmt((d.machine.cpus * 1000) / total, 0)} req/s`);
    }
  }
  lines.push('');
  lines.push('per-stage time inside the gateway (debug-sampled requests; mean / p50 / p99 ms):');
  for (const [variant, levels] of [['mesh', d.mesh], ['http/json', d.http ?? {}], ['in-process', d.inprocess]] as const) {
    for (const [c, l] of Object.entries(levels)) {
      const parts = Object.entries(l.stages_ms).map(([st, v]) => `${st} ${fmt(v.mean, 2)}/${fmt(v.p50, 2)}/${fmt(v.p99, 2)}`);
      lines.push(`  ${pad(variant, 10)} ${pad(c, 4)} ${parts.join('  ')}`);
    }
  }
  lines.push('');
  lines.push('mean time inside the services\' handlers (from /metrics; the rest of a stage is RPC, queueing and the event loop), ms:');
  for (const [c, l] of Object.entries(d.mesh)) {
    lines.push(`  mesh       ${pad(c, 4)} ${Object.entries(l.handler_ms).sort((a, b) => a[0].localeCompare(b[0])).map(([k, v]) => `${k} ${fmt(v.mean_ms, 2)}`).join('  ')}`);
  }
  if (Object.values(d.mesh).some((l) => l.gc && Object.keys(l.gc).length > 0)) {
    lines.push('');
    lines.push('garbage collections per request, and their pause ms per request (from /metrics, nodejs_gc_duration_seconds):');
    for (const [c, l] of Object.entries(d.mesh)) {
      lines.push(`  mesh       ${pad(c, 4)} ${Object.entries(l.gc ?? {}).sort((a, b) => a[0].localeCompare(b[0])).map(([k, v]) => `${k} ${fmt(v.per_request, 3)} (${fmt(v.ms_per_request, 3)} ms)`).join('  ')}`);
    }
  }
  if (d.micro.length > 0) {
    lines.push('');
    lines.push('micro-benchmarks (sequential, one at a time; median / p99 µs):');
    for (const m of d.micro) {
      const floor = m.over_floor !== undefined ? `  ${fmt(m.over_floor, 2)}× its floor${m.over_floor <= 2 ? '' : ' (over 2×)'}` : '';
      lines.push(`  ${pad(m.name, 92)} ${pad(fmt(m.median_us), 9, true)} ${pad(fmt(m.p99_us), 9, true)}${floor}${m.note ? `  (${m.note})` : ''}`);
    }
  }
  lines.push('');
  lines.push('targets (issue 7, this machine):');
  for (const [name, t] of Object.entries(d.targets)) lines.push(`  ${t.met ? 'met    ' : 'NOT met'}  ${pad(name, 28)} target ${pad(t.target, 18)} measured ${t.measured}`);
  lines.push('');
  lines.push(`machine: ${d.machine.cpus} × ${d.machine.model}; load average before ${d.machine.loadavg_before.map((v) => v.toFixed(2)).join(' ')}, after ${d.machine.loadavg_after.map((v) => v.toFixed(2)).join(' ')}`);
  lines.push(d.caveat);
  return lines.join('\n');
}

/** The issue's targets checked against one run. */
export function checkTargets(json: BenchJson): BenchDetails['targets'] {
  const m = json.mesh;
  return {
    'c=16 throughput': { target: '≥ 900 req/s', measured: `${fmt(m.c16.rps)} req/s`, met: m.c16.rps >= 900 },
    'c=16 p99': { target: '≤ 40 ms', measured: `${fmt(m.c16.p99_ms, 2)} ms`, met: m.c16.p99_ms <= 40 },
    'c=1 p50': { target: '≤ 2 ms', measured: `${fmt(m.c1.p50_ms, 2)} ms`, met: m.c1.p50_ms <= 2 },
    'c=1 p99': { target: '≤ 6 ms', measured: `${fmt(m.c1.p99_ms, 2)} ms`, met: m.c1.p99_ms <= 6 },
    'mesh/in-process at c=16': { target: '≥ 0.5', measured: fmt(json.mesh_over_inprocess, 2), met: json.mesh_over_inprocess >= 0.5 },
  };
}
