/**
 * `npm run bench:retrieval -- --items N --dim D [--out DIR] [--queries Q] [--buckets B] [--m M]
 *   [--ef-construction EFC] [--ef-search EFS[,EFS…]] [--k K] [--seed S] [--threads T] [--keep-index]`
 *
 * Exact against approximate retrieval on the same deterministic synthetic catalogue
 * ({@link clusteredCatalogue}: clustered embeddings of varying norms, as a matrix
 * factorisation gives, not uniform noise):
 *
 * - exact: the serving {@link ExactIndex} (ONNX MatMul + TopK, one thread), p50/p99 of one
 *   query of top-K;
 * - ANN: the serving {@link HnswIndex} (usearch cosine graphs per norm bucket, exact re-score) built over the same
 *   items (build time), saved (index size), opened the way the candidate generator opens it
 *   (sha256 of the file as the artifact check does, then a memory-mapped view: load time),
 *   then recall@K against the exact top-K and p50/p99 of one query, for every `--ef-search`
 *   value; the first value is the one written to `retrieval.json`.
 *
 * Writes `DIR/retrieval.json` (`{"items","dim","exact":{"p50_ms","p99_ms"},"ann":{
 * "recall_at_300","p50_ms","p99_ms","build_s","load_s","index_bytes"}}` plus the
 * parameters, RSS and the machine's load average) and prints a table. Speed is measured
 * here, never in `npm test` (the test runs a tiny catalogue and checks recall only).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DEFAULT_HNSW_PARAMS, ExactIndex, HnswIndex, type HnswBucket, type HnswParams, type IndexHits } from '@recsys/core';
import { percentile } from './stats';

/** A deterministic generator of standard normal values (mulberry32 + Box–Muller). */
export function gaussian(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const th = 2 * Math.PI * uniform();
    spare = r * Math.sin(th);
    return r * Math.cos(th);
  };
}

/** A synthetic catalogue and its queries. */
export interface Catalogue {
  items: number;
  dim: number;
  /** items × dim, row-major. */
  vectors: Float32Array;
  /** queries × dim, row-major. */
  queries: Float32Array;
}

/**
 * A deterministic clustered catalogue: √items cluster centres (standard normal / √dim);
 * each item is its cluster's centre plus noise of a third of its scale, times a
 * log-normal norm factor (σ 0.35: popular items have longer vectors, as in ALS). Each query
 * mixes two clusters' centres (0.7 / 0.3) plus noise: a user between two tastes.
 */
export function clusteredCatalogue(items: number, dim: number, queries: number, seed = 42): Catalogue {
  const g = gaussian(seed);
  const clusters = Math.max(4, Math.round(Math.sqrt(items)));
  const scale = 1 / Math.sqrt(dim);
  const centres = Float32Array.from({ length: clusters * dim }, () => g() * scale);
  const pick = (): number => Math.min(clusters - 1, Math.floor(((g() * 0.5 + 0.5) % 1 + 1) % 1 * clusters));
  const vectors = new Float32Array(items * dim);
  for (let i = 0; i < items; i++) {
    const c = pick();
    const norm = Math.exp(0.35 * g());
    for (let d = 0; d < dim; d++) vectors[i * dim + d] = (centres[c * dim + d]! + (g() * scale) / 3) * norm;
  }
  const q = new Float32Array(queries * dim);
  for (let j = 0; j < queries; j++) {
    const a = pick();
    const b = pick();
    for (let d = 0; d < dim; d++) q[j * dim + d] = 0.7 * centres[a * dim + d]! + 0.3 * centres[b * dim + d]! + (g() * scale) / 4;
  }
  return { items, dim, vectors, queries: q };
}

/** |ann ∩ exact| / |exact| averaged over queries. */
export function recallAt(ann: readonly IndexHits[], exact: readonly IndexHits[]): number {
  let sum = 0;
  for (let j = 0; j < exact.length; j++) {
    const truth = new Set(exact[j]!.rows);
    let hit = 0;
    for (const r of ann[j]!.rows) if (truth.has(r)) hit++;
    sum += truth.size === 0 ? 1 : hit / truth.size;
  }
  return exact.length === 0 ? 1 : sum / exact.length;
}

/** The measurement `npm run bench:retrieval` writes. */
export interface RetrievalBenchResult {
  items: number;
  dim: number;
  k: number;
  queries: number;
  exact: { p50_ms: number; p99_ms: number };
  ann: { recall_at_300: number; p50_ms: number; p99_ms: number; build_s: number; load_s: number; index_bytes: number; params: HnswParams };
  /** Every ef_search tried: recall and latency. */
  sweep: Array<{ expansion_search: number; recall: number; p50_ms: number; p99_ms: number }>;
  rss_mb: { after_catalogue: number; after_exact: number; after_build: number; after_load: number };
  load_average: { before: number[]; after: number[] };
  /** Set when `--keep-index` found the graphs of an earlier run: build_s is that run's, measured under this load. */
  build_reused?: { built_at: string; load_average: number[] };
  command: string;
}

/** What `--keep-index` stores beside the graphs, to reuse them only for the same catalogue and build settings. */
interface KeptIndex {
  items: number;
  dim: number;
  seed: number;
  build: { metric: string; buckets: number; connectivity: number; expansion_add: number };
  buckets: HnswBucket[];
  build_s: number;
  built_at: string;
  load_average: number[];
}

/** Options of {@link runRetrievalBench}. */
export interface RetrievalBenchOptions {
  items: number;
  dim: number;
  queries: number;
  k: number;
  seed: number;
  params: HnswParams;
  /** ef_search values; the first is the one reported as `ann`. */
  efSearch: number[];
  /** Build threads (0 = all cores). */
  threads: number;
  /** Where the index file goes while measuring. */
  workDir: string;
  /**
   * Keep the graphs in workDir after the run, and reuse those of an earlier run on the same
   * catalogue and build settings instead of building again (the build is most of the time at
   * 1M items; the queries can then be measured again, e.g. on a quieter machine).
   */
  keepIndex?: boolean;
  log: (line: string) => void;
}

const round = (v: number, digits = 3): number => Math.round(v * 10 ** digits) / 10 ** digits;
const rssMb = (): number => Math.round(process.memoryUsage().rss / 2 ** 20);

async function timeQueries(n: number, search: (j: number) => Promise<IndexHits>): Promise<{ hits: IndexHits[]; ms: number[] }> {
  const hits: IndexHits[] = [];
  const ms: number[] = [];
  for (let j = 0; j < Math.min(5, n); j++) await search(j); // warm-up
  for (let j = 0; j < n; j++) {
    const t0 = performance.now();
    hits.push(await search(j));
    ms.push(performance.now() - t0);
  }
  return { hits, ms };
}

/** Runs the measurement (no files written but the index in `workDir`). */
export async function runRetrievalBench(o: RetrievalBenchOptions): Promise<RetrievalBenchResult> {
  const before = os.loadavg().map((v) => round(v, 2));
  o.log(`catalogue: ${o.items} items × ${o.dim}, ${o.queries} queries, seed ${o.seed} (clustered, varying norms)`);
  const cat = clusteredCatalogue(o.items, o.dim, o.queries, o.seed);
  const rss0 = rssMb();
  const query = (j: number): Float32Array => cat.queries.subarray(j * o.dim, (j + 1) * o.dim);

  const exact = await ExactIndex.create(cat.vectors, o.dim);
  o.log(`exact: ${o.queries} queries of top-${o.k} (ONNX MatMul + TopK, 1 thread)`);
  const ex = await timeQueries(o.queries, (j) => exact.search(query(j), o.k));
  await exact.release();
  const rss1 = rssMb();

  const prefix = path.join(o.workDir, `bench-${o.items}x${o.dim}`);
  const build = { metric: o.params.metric, buckets: o.params.buckets, connectivity: o.params.connectivity, expansion_add: o.params.expansion_add };
  const kept = o.keepIndex ? readKeptIndex(`${prefix}.json`, o, build) : undefined;
  let buckets: HnswBucket[];
  let buildS: number;
  if (kept) {
    o.log(`hnsw: reusing the graphs built ${kept.built_at} in ${kept.build_s} s (load average then ${kept.load_average.join(' ')}): ${prefix}.*.usearch`);
    buckets = kept.buckets;
    buildS = kept.build_s;
  } else {
    o.log(`hnsw: building ${o.params.buckets} norm buckets, M=${o.params.connectivity} ef_construction=${o.params.expansion_add} with ${o.threads || os.cpus().length} threads`);
    const t0 = performance.now();
    let lastTick = 0;
    const built = HnswIndex.build(cat.vectors, o.dim, o.params, {
      threads: o.threads,
      onProgress: (f) => {
        if (f - lastTick >= 0.1 || f === 1) {
          lastTick = f;
          o.log(`  built ${(100 * f).toFixed(0)}% after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        }
      },
    });
    buildS = (performance.now() - t0) / 1000;
    buckets = built.save(prefix);
    await built.release();
    if (o.keepIndex) {
      const meta: KeptIndex = { items: o.items, dim: o.dim, seed: o.seed, build, buckets, build_s: round(buildS, 2), built_at: new Date().toISOString(), load_average: os.loadavg().map((v) => round(v, 2)) };
      fs.writeFileSync(`${prefix}.json`, `${JSON.stringify(meta, null, 2)}\n`);
    }
  }
  const rss2 = rssMb();
  const files = buckets.map((b) => path.join(o.workDir, b.file));
  const indexBytes = files.reduce((sum, f) => sum + fs.statSync(f).size, 0);

  const sweep: RetrievalBenchResult['sweep'] = [];
  let loadS = 0;
  let rss3 = 0;
  for (const ef of o.efSearch) {
    const l0 = performance.now();
    // What the candidate generator does: verify the file's hash, then map it.
    for (const f of files) createHash('sha256').update(fs.readFileSync(f)).digest('hex');
    const ann = HnswIndex.open(o.workDir, buckets, cat.vectors, o.dim, { ...o.params, expansion_search: ef });
    const l = (performance.now() - l0) / 1000;
    if (sweep.length === 0) {
      loadS = l;
      rss3 = rssMb();
    }
    const a = await timeQueries(o.queries, (j) => ann.search(query(j), o.k));
    const ms = [...a.ms].sort((x, y) => x - y);
    const row = { expansion_search: ef, recall: round(recallAt(a.hits, ex.hits), 4), p50_ms: round(percentile(ms, 50)), p99_ms: round(percentile(ms, 99)) };
    sweep.push(row);
    o.log(`  ef_search ${ef}: recall@${o.k} ${row.recall.toFixed(4)}, p50 ${row.p50_ms} ms, p99 ${row.p99_ms} ms`);
    await ann.release();
  }
  if (!o.keepIndex) for (const f of files) fs.rmSync(f, { force: true });
  const first = sweep[0]!;
  const exMs = [...ex.ms].sort((x, y) => x - y);
  return {
    items: o.items,
    dim: o.dim,
    k: o.k,
    queries: o.queries,
    exact: { p50_ms: round(percentile(exMs, 50)), p99_ms: round(percentile(exMs, 99)) },
    ann: {
      recall_at_300: first.recall,
      p50_ms: first.p50_ms,
      p99_ms: first.p99_ms,
      build_s: round(buildS, 2),
      load_s: round(loadS, 3),
      index_bytes: indexBytes,
      params: { ...o.params, expansion_search: first.expansion_search },
    },
    sweep,
    rss_mb: { after_catalogue: rss0, after_exact: rss1, after_build: rss2, after_load: rss3 },
    load_average: { before, after: os.loadavg().map((v) => round(v, 2)) },
    ...(kept ? { build_reused: { built_at: kept.built_at, load_average: kept.load_average } } : {}),
    command: '',
  };
}

/** The kept index at `file` when it matches this catalogue and build (and its graphs exist), else undefined (with the reason logged). */
function readKeptIndex(file: string, o: RetrievalBenchOptions, build: KeptIndex['build']): KeptIndex | undefined {
  if (!fs.existsSync(file)) return undefined;
  let kept: KeptIndex;
  try {
    kept = JSON.parse(fs.readFileSync(file, 'utf8')) as KeptIndex;
  } catch (err) {
    o.log(`hnsw: ${file} is not readable JSON (${(err as Error).message}): building again`);
    return undefined;
  }
  const same = kept.items === o.items && kept.dim === o.dim && kept.seed === o.seed && JSON.stringify(kept.build) === JSON.stringify(build);
  if (!same) {
    o.log(`hnsw: the kept index ${file} is of another catalogue or build (${JSON.stringify({ items: kept.items, dim: kept.dim, seed: kept.seed, ...kept.build })}): building again`);
    return undefined;
  }
  const missing = kept.buckets.find((b) => !fs.existsSync(path.join(path.dirname(file), b.file)));
  if (missing) {
    o.log(`hnsw: the kept graph ${missing.file} is missing: building again`);
    return undefined;
  }
  return kept;
}

/** The table printed at the end. */
export function formatRetrievalBench(r: RetrievalBenchResult): string {
  const lines = [
    `retrieval, ${r.items} items × ${r.dim}, top-${r.k}, ${r.queries} queries one at a time`,
    `| index | recall@${r.k} | p50 ms | p99 ms | build s | load s | index bytes |`,
    '|---|---|---|---|---|---|---|',
    `| exact (ONNX MatMul+TopK, 1 thread) | 1 | ${r.exact.p50_ms} | ${r.exact.p99_ms} | - | - | - |`,
    ...r.sweep.map(
      (s, i) =>
        `| hnsw ${r.ann.params.buckets} buckets M=${r.ann.params.connectivity} efC=${r.ann.params.expansion_add} efS=${s.expansion_search} | ${s.recall.toFixed(4)} | ${s.p50_ms} | ${s.p99_ms} | ${i === 0 ? r.ann.build_s : '"'} | ${i === 0 ? r.ann.load_s : '"'} | ${r.ann.index_bytes} |`,
    ),
    `RSS MB: catalogue ${r.rss_mb.after_catalogue}, + exact ${r.rss_mb.after_exact}, after build ${r.rss_mb.after_build}, after load ${r.rss_mb.after_load}`,
    `load average before ${r.load_average.before.join(' ')}, after ${r.load_average.after.join(' ')} (a busy machine raises every time)`,
    ...(r.build_reused ? [`graphs reused from ${r.build_reused.built_at} (--keep-index): build s is that run's, at load average ${r.build_reused.load_average.join(' ')}`] : []),
    `targets at 1,000,000 × 64: recall@300 ≥ 0.95 (${r.ann.recall_at_300 >= 0.95 ? 'met' : 'NOT met'}), ANN p99 ≤ 5 ms (${r.ann.p99_ms <= 5 ? 'met' : 'NOT met'}), load ≤ 10 s (${r.ann.load_s <= 10 ? 'met' : 'NOT met'})`,
  ];
  return lines.join('\n');
}

/** `npm run bench:retrieval` with `argv` (its flags); the entry is cli/src/bench-retrieval.ts. */
export async function runRetrievalBenchCommand(argv: string[]): Promise<RetrievalBenchResult> {
  const { values } = parseArgs({
    args: argv,
    options: {
      items: { type: 'string', default: '1000000' },
      dim: { type: 'string', default: '64' },
      queries: { type: 'string', default: '1000' },
      k: { type: 'string', default: '300' },
      seed: { type: 'string', default: '42' },
      m: { type: 'string', default: String(DEFAULT_HNSW_PARAMS.connectivity) },
      buckets: { type: 'string', default: String(DEFAULT_HNSW_PARAMS.buckets) },
      'fetch-factor': { type: 'string', default: String(DEFAULT_HNSW_PARAMS.fetch_factor) },
      'ef-construction': { type: 'string', default: String(DEFAULT_HNSW_PARAMS.expansion_add) },
      'ef-search': { type: 'string', default: String(DEFAULT_HNSW_PARAMS.expansion_search) },
      threads: { type: 'string', default: '0' },
      out: { type: 'string', default: 'bench-results' },
      'keep-index': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (name: string, raw: string, lo: number, hi: number): number => {
    const v = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(v) || v < lo || v > hi) throw new Error(`--${name} must be an integer between ${lo} and ${hi}, got ${JSON.stringify(raw)}`);
    return v;
  };
  const items = int('items', values.items!, 10, 50_000_000);
  const dim = int('dim', values.dim!, 1, 4096);
  if (items * dim > 1_000_000_000) throw new Error(`--items × --dim must be at most 1e9 floats (4 GB), got ${items * dim}`);
  const k = int('k', values.k!, 1, 10_000);
  if (k > items) throw new Error(`--k (${k}) must not exceed --items (${items})`);
  const efSearch = values['ef-search']!.split(',').map((s) => int('ef-search', s.trim(), 1, 100_000));
  const o: RetrievalBenchOptions = {
    items,
    dim,
    k,
    queries: int('queries', values.queries!, 1, 1_000_000),
    seed: int('seed', values.seed!, 0, 2 ** 31),
    params: { metric: 'cos', buckets: int('buckets', values.buckets!, 1, 64), connectivity: int('m', values.m!, 2, 256), expansion_add: int('ef-construction', values['ef-construction']!, 1, 100_000), expansion_search: efSearch[0]!, fetch_factor: int('fetch-factor', values['fetch-factor']!, 1, 1000) },
    efSearch,
    threads: int('threads', values.threads!, 0, 1024),
    workDir: path.resolve(values.out!),
    keepIndex: values['keep-index']!,
    log: (line) => process.stderr.write(`${line}\n`),
  };
  fs.mkdirSync(o.workDir, { recursive: true });
  const r = await runRetrievalBench(o);
  r.command = `npm run bench:retrieval -- ${argv.join(' ')}`.trim();
  const file = path.join(o.workDir, 'retrieval.json');
  fs.writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
  process.stdout.write(`${formatRetrievalBench(r)}\nwrote ${file}\n`);
  return r;
}
