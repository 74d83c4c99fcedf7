/**
 * The embedding source's nearest-neighbour search behind one interface, so that the
 * candidate generator and the offline evaluation run the very same search (the merge in
 * `retrieval.ts` calls it; both build it with the same factory).
 *
 * - {@link ExactIndex}: exact top-K by dot product as an ONNX graph (MatMul + Add + TopK)
 *   run by onnxruntime on one intra-op thread. The item matrix is an input tensor over the
 *   caller's Float32Array (no copy, no initializer); ineligible rows carry a −∞ bias, so they
 *   sort last. TopK breaks ties towards the lower row (ONNX TopK's documented order), so the
 *   result equals a stable sort of all rows by float32 score.
 *
 * Every index orders by score descending (ties → lower row), never returns a row in
 * `exclude` nor an ineligible row, and returns min(k, eligible rows not excluded) rows: an
 * index that cannot filter inside its search over-fetches and filters.
 */
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { TopKHeap } from './vectors';

/** How the embedding source searches. */
export type RetrievalIndexKind = 'exact' | 'hnsw';

/** Rows found by a search, best first. */
export interface IndexHits {
  /** Item rows. */
  rows: Int32Array;
  /** Dot product of each row with the query (float32). */
  scores: Float32Array;
}

/** A top-K search over the item embeddings of one artifact version. */
export interface RetrievalIndex {
  readonly kind: RetrievalIndexKind;
  /** Rows of the item matrix (eligible or not). */
  readonly size: number;
  readonly dim: number;
  /**
   * The `k` eligible rows with the largest dot product with `query`, best first, none of
   * them in `exclude`; fewer only when fewer such rows exist.
   */
  search(query: Float32Array, k: number, exclude?: ReadonlySet<number>): Promise<IndexHits>;
  /** Frees native resources; call once no search is running any more. */
  release(): Promise<void>;
}

/**
 * onnxruntime session options of retrieval: one intra-op thread, no spinning (a spinning
 * pool burns a core of a small box between requests), sequential execution.
 */
export const RETRIEVAL_SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
};

/**
 * The exact retrieval graph for `dim`-wide embeddings. Inputs: `items` [n, dim] float32,
 * `query` [dim, 1] float32, `bias` [1, n] float32 (0 or −∞ per row), `k` [1] int64.
 * Outputs: `values` [1, k] float32 and `indices` [1, k] int64, best first:
 * TopK(Reshape(MatMul(items, query), [1, n]) + bias, k), ties to the lower index.
 */
export function exactRetrievalGraph(dim: number): Uint8Array {
  if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`exactRetrievalGraph: dim must be a positive integer, got ${dim}`);
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const INT = onnx.AttributeProto.AttributeType.INT;
  const shape = Buffer.alloc(16);
  shape.writeBigInt64LE(1n, 0);
  shape.writeBigInt64LE(-1n, 8);
  const value = (name: string, elemType: number, dims: Array<number | string>): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'recsys-core',
    graph: {
      name: 'exact_retrieval',
      node: [
        { name: 'dot', opType: 'MatMul', input: ['items', 'query'], output: ['dots'] },
        { name: 'row', opType: 'Reshape', input: ['dots', 'row_shape'], output: ['row'] },
        { name: 'mask', opType: 'Add', input: ['row', 'bias'], output: ['scores'] },
        {
          name: 'topk',
          opType: 'TopK',
          input: ['scores', 'k'],
          output: ['values', 'indices'],
          attribute: [
            { name: 'axis', type: INT, i: -1 },
            { name: 'largest', type: INT, i: 1 },
            { name: 'sorted', type: INT, i: 1 },
          ],
        },
      ],
      initializer: [{ name: 'row_shape', dims: [2], dataType: INT64, rawData: shape }],
      input: [value('items', FLOAT, ['n', dim]), value('query', FLOAT, [dim, 1]), value('bias', FLOAT, [1, 'n']), value('k', INT64, [1])],
      output: [value('values', FLOAT, [1, 'k']), value('indices', INT64, [1, 'k'])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** How many rows of `exclude` are eligible rows of an index of `size` rows. */
function countExcludedEligible(exclude: ReadonlySet<number> | undefined, size: number, eligible: Uint8Array | undefined): number {
  if (exclude === undefined) return 0;
  let n = 0;
  for (const r of exclude) if (Number.isInteger(r) && r >= 0 && r < size && (eligible === undefined || eligible[r] === 1)) n++;
  return n;
}

/** Options of the indexes. */
export interface IndexOptions {
  /** 1 = the row may be returned, 0 = never (e.g. items without interactions); default all rows. */
  eligible?: Uint8Array;
}

/** Exact top-K in onnxruntime; see the module comment. */
export class ExactIndex implements RetrievalIndex {
  readonly kind = 'exact' as const;
  private readonly eligibleCount: number;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly items: ort.Tensor,
    private readonly bias: ort.Tensor,
    private readonly eligible: Uint8Array | undefined,
    readonly size: number,
    readonly dim: number,
  ) {
    let n = size;
    if (eligible !== undefined) {
      n = 0;
      for (let r = 0; r < size; r++) n += eligible[r]!;
    }
    this.eligibleCount = n;
  }

  /**
   * An exact index over `vectors` (rows × dim, row-major; viewed, not copied: it must not
   * change while the index lives).
   *
   * @throws RangeError when the shapes disagree
   */
  static async create(vectors: Float32Array, dim: number, options: IndexOptions = {}): Promise<ExactIndex> {
    if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`exact index: dim must be a positive integer, got ${dim}`);
    if (vectors.length % dim !== 0) throw new RangeError(`exact index: ${vectors.length} values are not a multiple of dim ${dim}`);
    const size = vectors.length / dim;
    const { eligible } = options;
    if (eligible !== undefined && eligible.length !== size) throw new RangeError(`exact index: eligibility of ${eligible.length} rows for ${size} rows`);
    const bias = new Float32Array(size);
    if (eligible !== undefined) for (let r = 0; r < size; r++) if (eligible[r] !== 1) bias[r] = -Infinity;
    const session = await ort.InferenceSession.create(exactRetrievalGraph(dim), RETRIEVAL_SESSION_OPTIONS);
    return new ExactIndex(session, new ort.Tensor('float32', vectors, [size, dim]), new ort.Tensor('float32', bias, [1, size]), eligible, size, dim);
  }

  async search(query: Float32Array, k: number, exclude?: ReadonlySet<number>): Promise<IndexHits> {
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`exact index: k must be a non-negative integer, got ${k}`);
    if (query.length !== this.dim) throw new RangeError(`exact index: query has ${query.length} values, expected dim ${this.dim}`);
    const excluded = countExcludedEligible(exclude, this.size, this.eligible);
    const want = Math.min(k, this.eligibleCount - excluded);
    if (want <= 0) return { rows: new Int32Array(0), scores: new Float32Array(0) };
    // Over-fetch by the excluded eligible rows: the first `want` survivors are then exact.
    const fetch = Math.min(this.size, want + excluded);
    const out = await this.session.run({
      items: this.items,
      query: new ort.Tensor('float32', query, [this.dim, 1]),
      bias: this.bias,
      k: new ort.Tensor('int64', BigInt64Array.of(BigInt(fetch)), [1]),
    });
    const values = out['values']!.data as Float32Array;
    const indices = out['indices']!.data as BigInt64Array;
    const rows = new Int32Array(want);
    const scores = new Float32Array(want);
    let n = 0;
    for (let j = 0; j < indices.length && n < want; j++) {
      const r = Number(indices[j]!);
      const s = values[j]!;
      if (s === -Infinity || Number.isNaN(s) || (exclude !== undefined && exclude.has(r))) continue;
      rows[n] = r;
      scores[n++] = s;
    }
    return n === want ? { rows, scores } : { rows: rows.slice(0, n), scores: scores.slice(0, n) };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Parameters of an HNSW index (usearch), stored in the artifact manifest (`retrieval.index`). */
export interface HnswParams {
  /** Graph metric: `cos` (angle); the search re-scores every hit by its exact dot product. */
  metric: 'cos';
  /** Norm buckets: the eligible items split by vector norm into this many graphs of equal size. */
  buckets: number;
  /** Graph degree M: links per node per layer. */
  connectivity: number;
  /** Candidate list size while building (ef_construction). */
  expansion_add: number;
  /** Candidate list size while searching (ef_search); a search of f uses max(ef_search, f). */
  expansion_search: number;
  /** Once k rows are held, a bucket is read at most this many times k (+ exclusions) deep. */
  fetch_factor: number;
}

/** The defaults, chosen on `npm run bench:retrieval` (README, "Scale"). */
export const DEFAULT_HNSW_PARAMS: Readonly<HnswParams> = { metric: 'cos', buckets: 4, connectivity: 16, expansion_add: 128, expansion_search: 64, fetch_factor: 3 };

/** Checks HNSW parameters (e.g. read from a manifest) and returns them typed; errors name `where`.field. */
export function parseHnswParams(value: unknown, where = 'hnsw'): HnswParams {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where} must be an object`);
  const o = value as Record<string, unknown>;
  if (o['metric'] !== 'cos') throw new Error(`${where}.metric must be "cos", got ${JSON.stringify(o['metric'])}`);
  const int = (key: string, lo: number, hi: number): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new Error(`${where}.${key} must be an integer between ${lo} and ${hi}, got ${JSON.stringify(v)}`);
    return v;
  };
  return {
    metric: 'cos',
    buckets: int('buckets', 1, 64),
    connectivity: int('connectivity', 2, 256),
    expansion_add: int('expansion_add', 1, 100_000),
    expansion_search: int('expansion_search', 1, 100_000),
    fetch_factor: int('fetch_factor', 1, 1000),
  };
}

/** One norm bucket of a saved HNSW index (the manifest's `retrieval.index.files`). */
export interface HnswBucket {
  /** File name of its graph inside the artifact version directory. */
  file: string;
  /** Items in it. */
  rows: number;
  /** Largest vector norm in it (float64). */
  max_norm: number;
}

/** The usearch module, loaded on first use so that exact-only processes never open the addon. */
type Usearch = typeof import('usearch');
type UsearchIndex = InstanceType<Usearch['Index']>;
let usearchModule: Usearch | undefined;
function usearch(): Usearch {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  usearchModule ??= require('usearch') as Usearch;
  return usearchModule;
}

function makeGraph(dim: number, params: HnswParams): UsearchIndex {
  const { Index } = usearch();
  return new Index({
    dimensions: dim,
    metric: 'cos' as never,
    quantization: 'f32' as never,
    connectivity: params.connectivity,
    expansion_add: params.expansion_add,
    expansion_search: params.expansion_search,
    multi: false,
  });
}

/**
 * Approximate top-K by dot product with HNSW graphs (usearch): the eligible items are split
 * by vector norm into `buckets` graphs of the cosine metric, each keyed by item row. A
 * search walks the buckets from the longest vectors down, asks each graph for its f
 * nearest by angle, re-scores every hit by its exact dot product (a bounded heap, ties to
 * the lower row) and stops a bucket once no unseen item in it can beat the current k-th
 * score (its f-th cosine × the bucket's largest norm × |query| ≤ that score; else f
 * doubles; the first bucket, the longest vectors, is read at the fetch cap at once); a
 * bucket whose largest norm cannot reach the k-th score is skipped unsearched.
 * Cosine graphs keep their neighbourhoods meaningful where inner-product graphs collapse
 * onto a few long vectors, and the norm split keeps angle and dot product in step within
 * a bucket. Exclusions simply never enter the heap, so the doubling goes on until k rows
 * survive or the bucket is exhausted: never fewer than k rows while k eligible ones remain.
 */
export class HnswIndex implements RetrievalIndex {
  readonly kind = 'hnsw' as const;
  /**
   * Rows already re-scored by the running search: row r was seen when stamp[r] = epoch.
   * One array per index instead of a Set per search (a search is synchronous): no
   * allocation per hit, so no collection in the middle of the next query.
   */
  private readonly stamp: Uint32Array;
  private epoch = 0;

  private constructor(
    /** Longest vectors first. */
    private readonly graphs: Array<{ graph: UsearchIndex; rows: number; maxNorm: number }>,
    private readonly vectors: Float32Array,
    private readonly eligible: Uint8Array | undefined,
    private readonly eligibleCount: number,
    readonly size: number,
    readonly dim: number,
    readonly params: HnswParams,
  ) {
    this.stamp = new Uint32Array(size);
  }

  private static check(vectors: Float32Array, dim: number, eligible: Uint8Array | undefined): number {
    if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`hnsw index: dim must be a positive integer, got ${dim}`);
    if (vectors.length % dim !== 0) throw new RangeError(`hnsw index: ${vectors.length} values are not a multiple of dim ${dim}`);
    const size = vectors.length / dim;
    if (eligible !== undefined && eligible.length !== size) throw new RangeError(`hnsw index: eligibility of ${eligible.length} rows for ${size} rows`);
    return size;
  }

  /**
   * Builds the graphs over the eligible rows of `vectors` (rows × dim, row-major, kept by
   * reference for re-scoring) with `threads` threads (0 = all cores); `onProgress` gets
   * the fraction of rows added.
   */
  static build(vectors: Float32Array, dim: number, params: HnswParams, options: IndexOptions & { threads?: number; onProgress?: (fraction: number) => void } = {}): HnswIndex {
    const { eligible } = options;
    const size = HnswIndex.check(vectors, dim, eligible);
    const rows: number[] = [];
    for (let r = 0; r < size; r++) if (eligible === undefined || eligible[r] === 1) rows.push(r);
    const norms = new Float64Array(size);
    for (const r of rows) {
      let s = 0;
      for (let d = r * dim; d < (r + 1) * dim; d++) s += vectors[d]! * vectors[d]!;
      norms[r] = Math.sqrt(s);
    }
    rows.sort((a, b) => norms[a]! - norms[b]! || a - b);
    const buckets = Math.max(1, Math.min(params.buckets, rows.length));
    const graphs: Array<{ graph: UsearchIndex; rows: number; maxNorm: number }> = [];
    let added = 0;
    for (let b = buckets - 1; b >= 0; b--) {
      const part = rows.slice(Math.floor((b * rows.length) / buckets), Math.floor(((b + 1) * rows.length) / buckets));
      const graph = makeGraph(dim, params);
      // Batches: one native call each, progress in between.
      const batch = 50_000;
      for (let start = 0; start < part.length; start += batch) {
        const chunk = part.slice(start, start + batch);
        const data = new Float32Array(chunk.length * dim);
        chunk.forEach((r, j) => data.set(vectors.subarray(r * dim, (r + 1) * dim), j * dim));
        graph.add(BigUint64Array.from(chunk, (r) => BigInt(r)), data, options.threads ?? 0);
        added += chunk.length;
        options.onProgress?.(added / Math.max(1, rows.length));
      }
      graphs.push({ graph, rows: part.length, maxNorm: part.length === 0 ? 0 : norms[part[part.length - 1]!]! });
    }
    return new HnswIndex(graphs, vectors, eligible, rows.length, size, dim, params);
  }

  /**
   * Writes one file per bucket, `<prefix>.<b>.usearch` (b = 0 for the longest vectors), and
   * returns what the manifest records of them (file names relative to the prefix's folder).
   */
  save(prefix: string): HnswBucket[] {
    return this.graphs.map((g, b) => {
      const file = `${prefix}.${b}.usearch`;
      g.graph.save(file);
      return { file: file.split(/[\\/]/).pop()!, rows: g.rows, max_norm: g.maxNorm };
    });
  }

  /**
   * Opens saved graphs (`dir` + each bucket's file). `mode` `view` memory-maps the files
   * (nothing copied onto the heap; they must stay in place while the index lives),
   * `load` reads them into memory. `params.expansion_search` applies (a search setting).
   *
   * @throws Error naming the file when a graph does not hold its bucket's count of `dim`-wide vectors
   */
  static open(dir: string, buckets: readonly HnswBucket[], vectors: Float32Array, dim: number, params: HnswParams, options: IndexOptions & { mode?: 'view' | 'load' } = {}): HnswIndex {
    const { eligible } = options;
    const size = HnswIndex.check(vectors, dim, eligible);
    let count = size;
    if (eligible !== undefined) {
      count = 0;
      for (let r = 0; r < size; r++) count += eligible[r]!;
    }
    const total = buckets.reduce((s, b) => s + b.rows, 0);
    if (total !== count) throw new Error(`the HNSW buckets hold ${total} items, the artifact has ${count} eligible items`);
    const graphs = buckets.map((b) => {
      const file = `${dir}/${b.file}`;
      const graph = makeGraph(dim, params);
      if ((options.mode ?? 'view') === 'view') graph.view(file);
      else graph.load(file);
      if (graph.dimensions() !== dim) throw new Error(`${file}: the HNSW graph holds ${graph.dimensions()}-dimensional vectors, the artifact's embeddings have ${dim}`);
      if (graph.size() !== b.rows) throw new Error(`${file}: the HNSW graph holds ${graph.size()} vectors, the manifest says ${b.rows}`);
      return { graph, rows: b.rows, maxNorm: b.max_norm };
    });
    return new HnswIndex(graphs, vectors, eligible, count, size, dim, params);
  }

  async search(query: Float32Array, k: number, exclude?: ReadonlySet<number>): Promise<IndexHits> {
    return this.searchSync(query, k, exclude);
  }

  /** {@link search} without the promise. */
  searchSync(query: Float32Array, k: number, exclude?: ReadonlySet<number>): IndexHits {
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`hnsw index: k must be a non-negative integer, got ${k}`);
    if (query.length !== this.dim) throw new RangeError(`hnsw index: query has ${query.length} values, expected dim ${this.dim}`);
    const excluded = countExcludedEligible(exclude, this.size, this.eligible);
    const want = Math.min(k, this.eligibleCount - excluded);
    if (want <= 0) return { rows: new Int32Array(0), scores: new Float32Array(0) };
    const { dim, vectors } = this;
    let qn = 0;
    for (let d = 0; d < dim; d++) qn += query[d]! * query[d]!;
    qn = Math.sqrt(qn);
    const heap = new TopKHeap(want);
    if (++this.epoch === 0xffffffff) {
      this.stamp.fill(0);
      this.epoch = 1;
    }
    const { stamp, epoch } = this;
    const cap = this.params.fetch_factor * (want + excluded);
    let first = true;
    for (const { graph, rows, maxNorm } of this.graphs) {
      if (rows === 0) continue;
      if (heap.size === want && maxNorm * qn <= heap.threshold) continue;
      // The longest vectors hold most of the top k: that bucket nearly always doubles up to
      // the cap, so it is read at the cap in one search (the doublings 1×, 2×, 4× repeated
      // the shallower searches: 35% of the work at 200,000 items, same rows found).
      let f = Math.min(rows, first ? cap : Math.max(64, Math.ceil(want / 4)));
      first = false;
      for (;;) {
        const m = graph.search(query, f, 1);
        const n = m.keys.length;
        for (let j = 0; j < n; j++) {
          const r = Number(m.keys[j]!);
          if (stamp[r] === epoch || (exclude !== undefined && exclude.has(r))) continue;
          stamp[r] = epoch;
          let s = 0;
          const o = r * dim;
          for (let d = 0; d < dim; d++) s += vectors[o + d]! * query[d]!;
          heap.offer(r, s);
        }
        if (n < f || f >= rows) break;
        if (heap.size === want) {
          // Full heap: stop once no unseen item of this bucket can beat the k-th score, or
          // at the fetch cap (the norm bound is loose where a bucket's norms spread wide).
          const cosF = 1 - m.distances[n - 1]!;
          if (cosF * maxNorm * qn <= heap.threshold || f >= cap) break;
        }
        f = Math.min(rows, f * 2);
      }
    }
    const top = heap.result();
    return { rows: top.indices, scores: Float32Array.from(top.scores) };
  }

  async release(): Promise<void> {
    // usearch frees a graph (and unmaps a viewed file) when its object is collected.
  }
}

/** Which index serves the embedding source: `auto` = the artifact's HNSW index when it has one, else exact. */
export type IndexChoice = 'auto' | 'exact' | 'hnsw';

/** Every {@link IndexChoice}. */
export const INDEX_CHOICES: readonly IndexChoice[] = ['auto', 'exact', 'hnsw'];

/** Options of {@link openRetrievalIndex}. */
export interface OpenIndexOptions {
  /** Default `auto`. */
  choice?: IndexChoice;
  /** ef_search of the HNSW index instead of the manifest's (a search-time setting). */
  efSearch?: number;
}
