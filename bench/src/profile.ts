/**
 * Summaries of `node --cpu-prof` profiles: where each process spent its CPU, by category
 * (our code, grpc-js, http2, protobuf codec, ioredis, onnxruntime, GC, …) and by function.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  /** CLOCK_MONOTONIC µs of the profile's start (V8's clock, the one {@link monotonicUs} reads). */
  startTime?: number;
  samples: number[];
  timeDeltas: number[];
}

/** A span of CLOCK_MONOTONIC time in µs: the samples of a profile counted in a summary. */
export interface ProfileWindow {
  startUs: number;
  endUs: number;
}

/** Now on CLOCK_MONOTONIC in µs: the clock of V8's CPU profile timestamps (Linux, macOS). */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** The category a function's self time is counted under. */
export function categorize(functionName: string, url: string): string {
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(program)') return 'native / program';
  if (url.includes('@grpc/grpc-js') || url.includes('@grpc/proto-loader')) return 'grpc-js';
  if (url.includes('ioredis') || url.includes('redis-parser') || url.includes('denque')) return 'ioredis';
  if (url.includes('onnxruntime')) return 'onnxruntime-node';
  if (url.includes('protobufjs') || url.includes('@bufbuild/protobuf') || url.includes('/libs/proto/')) return 'protobuf codec';
  if (url.includes('pino') || url.includes('prom-client')) return 'logging / metrics libs';
  if (url.startsWith('node:internal/http2') || url.startsWith('node:http2')) return 'node http2';
  if (url.startsWith('node:') || url === '') return functionName ? 'node internals / native' : 'native / program';
  if (url.includes('/libs/') || url.includes('/services/') || url.includes('/bench/') || url.includes('/deploy/')) return 'our code';
  return 'other';
}

/**
 * Self-time summary of one profile, as text lines; with `window`, only the samples taken
 * inside it (the measured window of a load level, not start-up or warm-up).
 */
export function summarizeProfile(profile: CpuProfile, top = 12, window?: ProfileWindow): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  let t = profile.startTime ?? 0;
  const windowed = window !== undefined && profile.startTime !== undefined;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (windowed && (t < window.startUs || t > window.endUs)) return;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const cats = new Map<string, number>();
  const fns = new Map<string, { us: number; cat: string }>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const cat = categorize(functionName, url);
    cats.set(cat, (cats.get(cat) ?? 0) + us);
    const key = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/(libs|services|bench|deploy)\//, '$1/')}:${lineNumber + 1}` : ''}`;
    const f = fns.get(key) ?? { us: 0, cat };
    f.us += us;
    fns.set(key, f);
  }
  const busy = total - (cats.get('idle') ?? 0);
  const pct = (us: number, of: number): string => `${((100 * us) / Math.max(1, of)).toFixed(1)}%`.padStart(6);
  const lines = [`  busy ${(busy / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s profiled${windowed ? ' (the measured window)' : ''}; busy time by category:`];
  for (const [cat, us] of [...cats].filter(([c]) => c !== 'idle').sort((a, b) => b[1] - a[1])) lines.push(`    ${pct(us, busy)}  ${cat}`);
  lines.push(`  top functions by self time (% of busy):`);
  for (const [key, f] of [...fns].filter(([, f]) => f.cat !== 'idle').sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
    lines.push(`    ${pct(f.us, busy)}  ${key}  [${f.cat}]`);
  }
  return lines;
}

/**
 * Summaries of every `.cpuprofile` in `dir`; `names` maps pids to process names, `windows`
 * pids to the span of their samples to count (none: the whole profile).
 */
export function summarizeProfiles(dir: string, names: Record<number, string> = {}, windows: Record<number, ProfileWindow | undefined> = {}): string {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort() : [];
  if (files.length === 0) return `no .cpuprofile files in ${dir}\n`;
  const out: string[] = [];
  for (const f of files) {
    const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(f)?.[1]);
    out.push(`${names[pid] ?? `pid ${pid}`} (${f}):`);
    out.push(...summarizeProfile(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as CpuProfile, 12, windows[pid]));
    out.push('');
  }
  return `${out.join('\n')}\n`;
}
