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
  samples: number[];
  timeDeltas: number[];
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

/** Self-time summary of one profile, as text lines. */
export function summarizeProfile(profile: CpuProfile, top = 12): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
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
  const lines = [`  busy ${(busy / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s profiled; busy time by category:`];
  for (const [cat, us] of [...cats].filter(([c]) => c !== 'idle').sort((a, b) => b[1] - a[1])) lines.push(`    ${pct(us, busy)}  ${cat}`);
  lines.push(`  top functions by self time (% of busy):`);
  for (const [key, f] of [...fns].filter(([, f]) => f.cat !== 'idle').sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
    lines.push(`    ${pct(f.us, busy)}  ${key}  [${f.cat}]`);
  }
  return lines;
}

/** Summaries of every `.cpuprofile` in `dir`; `names` maps pids to process names. */
export function summarizeProfiles(dir: string, names: Record<number, string> = {}): string {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort() : [];
  if (files.length === 0) return `no .cpuprofile files in ${dir}\n`;
  const out: string[] = [];
  for (const f of files) {
    const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(f)?.[1]);
    out.push(`${names[pid] ?? `pid ${pid}`} (${f}):`);
    out.push(...summarizeProfile(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as CpuProfile));
    out.push('');
  }
  return `${out.join('\n')}\n`;
}
