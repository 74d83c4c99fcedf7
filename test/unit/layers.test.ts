/**
 * The import structure of the sources, checked from the files themselves: no import
 * circles, libraries import no service, no service imports another, and the modules meant
 * to be pure reach neither gRPC nor the contracts (they throw @recsys/core's domain errors,
 * which only the kit's error boundary maps to gRPC statuses).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '@recsys/local';

interface Import {
  spec: string;
  typeOnly: boolean;
}

const SOURCE_DIRS = ['libs/proto/src', 'libs/core/src', 'libs/grpc-kit/src', 'libs/offline/src', 'deploy/local/src', 'cli/src', 'bench/src', ...fs.readdirSync(path.join(REPO_ROOT, 'services')).map((s) => `services/${s}/src`)];

function tsFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(REPO_ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => path.relative(REPO_ROOT, path.join(e.parentPath, e.name)));
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s*'([^']+)'/gm;

function importsOf(file: string): Import[] {
  const text = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
  const out: Import[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const clause = m[3] ?? '';
    // `import { type A, type B }` is type-only too; `import { A, type B }` is not.
    const names = /^\{([\s\S]*)\}$/.exec(clause.trim())?.[1]?.split(',').map((n) => n.trim()).filter(Boolean);
    const allTypes = names !== undefined && names.length > 0 && names.every((n) => n.startsWith('type '));
    out.push({ spec: m[4] ?? '', typeOnly: m[2] !== undefined || allTypes });
  }
  return out;
}

/** package name → (subpath → source file), from each package's exports (@recsys/source). */
function packageSources(): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const dir of [...SOURCE_DIRS.map((d) => path.dirname(d))]) {
    const pj = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, dir, 'package.json'), 'utf8')) as { name: string; exports?: Record<string, Record<string, string>> };
    const subpaths = new Map<string, string>();
    for (const [sub, conds] of Object.entries(pj.exports ?? {})) if (conds['@recsys/source']) subpaths.set(sub, path.join(dir, conds['@recsys/source']));
    out.set(pj.name, subpaths);
  }
  return out;
}

const PACKAGES = packageSources();

/** The repository file an import resolves to, or the external package name. */
function resolve(from: string, spec: string): { file?: string; external?: string } {
  if (spec.startsWith('.')) {
    const base = path.join(path.dirname(from), spec);
    for (const f of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(path.join(REPO_ROOT, f))) return { file: f };
    throw new Error(`${from}: cannot resolve ${spec}`);
  }
  const m = /^(@recsys\/[^/]+)(\/.*)?$/.exec(spec);
  if (m) {
    const file = PACKAGES.get(m[1]!)?.get(`.${m[2] ?? ''}`);
    if (!file) throw new Error(`${from}: ${spec} is not exported by ${m[1]}`);
    return { file };
  }
  return { external: spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]! };
}

const FILES = SOURCE_DIRS.flatMap(tsFiles);
const GRAPH = new Map(FILES.map((f) => [f, importsOf(f).map((i) => ({ ...i, ...resolve(f, i.spec) }))]));

const packageOf = (file: string): string => file.split('/').slice(0, 2).join('/');

describe('import structure', () => {
  it('has no import circles (type imports included)', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, stack: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...stack.slice(stack.indexOf(f)), f].join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const i of GRAPH.get(f) ?? []) if (i.file) visit(i.file, [...stack, f]);
      state.set(f, 'done');
    };
    for (const f of FILES) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('libraries import no service, CLI or launcher; no service imports another', () => {
    const problems: string[] = [];
    for (const [f, imports] of GRAPH) {
      for (const i of imports) {
        if (!i.file) continue;
        const from = packageOf(f);
        const to = packageOf(i.file);
        if (from === to) continue;
        if (from.startsWith('libs/') && !to.startsWith('libs/')) problems.push(`${f} imports ${i.spec}`);
        if (from.startsWith('services/') && to.startsWith('services/')) problems.push(`${f} imports ${i.spec}`);
        if (from === 'deploy/local' && !to.startsWith('libs/')) problems.push(`${f} imports ${i.spec}`);
      }
    }
    expect(problems).toEqual([]);
  });

  // Modules that must run without gRPC or the generated contracts (loaded by tests, the
  // offline pipeline and the benchmark on their own): everything they load at run time.
  const PURE = [
    ...tsFiles('libs/core/src'),
    ...tsFiles('libs/offline/src'),
    'services/candidate-generator/src/retrieval.ts',
    ...['backend', 'item-cache', 'live-backend', 'materialize', 'memory-backend', 'realtime', 'redis-backend', 'redis-client', 'redis-keys', 'redis-realtime', 'registry', 'startup'].map((m) => `services/feature-store/src/${m}.ts`),
    'services/ranker/src/model.ts',
    'services/ranker/src/model-slot.ts',
  ];
  const FORBIDDEN = new Set(['@grpc/grpc-js', '@grpc/proto-loader', 'libs/grpc-kit', 'libs/proto']);

  it.each(PURE)('%s reaches neither gRPC nor the contracts at run time', (start) => {
    const seen = new Set<string>();
    const reached: string[] = [];
    const walk = (f: string, via: string[]): void => {
      if (seen.has(f)) return;
      seen.add(f);
      for (const i of GRAPH.get(f) ?? []) {
        if (i.typeOnly) continue;
        const target = i.file ? packageOf(i.file) : i.external!;
        if (FORBIDDEN.has(target)) reached.push([...via, f, i.spec].join(' → '));
        else if (i.file) walk(i.file, [...via, f]);
      }
    };
    walk(start, []);
    expect(reached).toEqual([]);
  });
});
