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
