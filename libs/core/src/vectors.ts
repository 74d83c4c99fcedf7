/**
 * Dense vector utilities for retrieval: dot products over row-major float32 matrices and
 * bounded top-K selection.
 *
 * Every top-K here orders by score descending and breaks ties towards the lower index, so
 * results are deterministic and match a stable sort of all items. Selection uses a
 * bounded min-heap (O(n log k)), never a full sort of the catalogue.
 */

/** The best `k` entries, best first. */
export interface TopK {
  /** Row indices, best first. */
  indices: Int32Array;
  /** The score of each returned index (the float64 value the ordering used). */
  scores: Float64Array;
}

/**
 * Dot product of `dim` values of `a` starting at `aOffset` with `dim` values of `b`
 * starting at `bOffset`, accumulated in float64.
 */
export function dot(a: ArrayLike<number>, aOffset: number, b: ArrayLike<number>, bOffset: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) s += a[aOffset + d]! * b[bOffset + d]!;
  return s;
}

/**
 * A bounded heap that keeps the `k` best (index, score) pairs offered to it.
 *
 * "Better" means a higher score, or an equal score and a lower index. NaN scores are
 * ignored. Use it to merge candidates from several sources; {@link topKByDot} and
 * {@link topKByScore} are built on it.
 *
 * @example
 * const heap = new TopKHeap(10);
 * for (const [i, s] of scored) heap.offer(i, s);
 * const { indices, scores } = heap.result();
 */
export class TopKHeap {
  private readonly idx: Int32Array;
  private readonly val: Float64Array;
  private n = 0;

  /** @param k maximum number of entries kept (a non-negative integer). */
  constructor(readonly k: number) {
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`top-K: k must be a non-negative integer, got ${k}`);
    this.idx = new Int32Array(k);
    this.val = new Float64Array(k);
  }

  /** Number of entries currently held (≤ k). */
  get size(): number {
    return this.n;
  }

  /** Lowest score currently kept, or -Infinity while fewer than `k` entries are held. */
  get threshold(): number {
    return this.n < this.k ? -Infinity : this.val[0]!;
  }

  /** Offers one entry; it is kept if it is among the `k` best seen so far. */
  offer(index: number, score: number): void {
    if (this.k === 0 || Number.isNaN(score)) return;
    if (this.n < this.k) {
      this.idx[this.n] = index;
      this.val[this.n] = score;
      this.siftUp(this.n++);
      return;
    }
    const rootScore = this.val[0]!;
    if (score > rootScore || (score === rootScore && index < this.idx[0]!)) {
      this.idx[0] = index;
      this.val[0] = score;
      this.siftDown(0);
    }
  }

  /** The kept entries, best first. Does not change the heap. */
  result(): TopK {
    const order = Array.from({ length: this.n }, (_, i) => i);
    order.sort((a, b) => this.val[b]! - this.val[a]! || this.idx[a]! - this.idx[b]!);
    const indices = new Int32Array(this.n);
    const scores = new Float64Array(this.n);
    order.forEach((h, r) => {
      indices[r] = this.idx[h]!;
      scores[r] = this.val[h]!;
    });
    return { indices, scores };
  }

  /** True when entry `a` is worse than entry `b` (belongs nearer the root). */
  private worse(a: number, b: number): boolean {
    const va = this.val[a]!;
    const vb = this.val[b]!;
    return va < vb || (va === vb && this.idx[a]! > this.idx[b]!);
  }

  private swap(a: number, b: number): void {
    const ti = this.idx[a]!;
    this.idx[a] = this.idx[b]!;
    this.idx[b] = ti;
    const tv = this.val[a]!;
    this.val[a] = this.val[b]!;
    this.val[b] = tv;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.worse(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.n && this.worse(l, m)) m = l;
      if (r < this.n && this.worse(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}

/**
 * The `k` rows of `matrix` (row-major, `dim` columns) with the largest dot product with
 * `query`, best first; ties go to the lower row index. Rows in `exclude` are skipped.
 *
 * @param matrix rows × dim values, row-major (e.g. `LoadedArtifacts.itemEmbeddings`)
 * @param dim number of columns; `matrix.length` must be a multiple of it
 * @param query `dim` values
 * @param k how many rows to return (fewer when the matrix has fewer eligible rows)
 * @param exclude row indices that must not be returned
 */
export function topKByDot(
  matrix: Float32Array,
  dim: number,
  query: Float32Array,
  k: number,
  exclude?: ReadonlySet<number>,
): TopK {
  if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`topKByDot: dim must be a positive integer, got ${dim}`);
  if (matrix.length % dim !== 0) {
    throw new RangeError(`topKByDot: matrix length ${matrix.length} is not a multiple of dim ${dim}`);
  }
  if (query.length !== dim) throw new RangeError(`topKByDot: query has ${query.length} values, expected dim ${dim}`);
  const rows = matrix.length / dim;
  const heap = new TopKHeap(k);
  if (k === 0) return heap.result();
  const ex = exclude !== undefined && exclude.size > 0 ? exclude : undefined;
  // Hot loop of retrieval (20,000 × 32 per request). Two rows per pass share each query
  // load, and a row scoring below the heap's threshold is rejected without a call. Each
  // row still sums in float64 in index order, so scores are bit-identical to a plain dot.
  let threshold = -Infinity;
  let r = 0;
  let off = 0;
  for (; r + 1 < rows; r += 2, off += 2 * dim) {
    const off1 = off + dim;
    let a = 0;
    let b = 0;
    for (let d = 0; d < dim; d++) {
      const q = query[d]!;
      a += matrix[off + d]! * q;
      b += matrix[off1 + d]! * q;
    }
    if (a >= threshold && (ex === undefined || !ex.has(r))) {
      heap.offer(r, a);
      threshold = heap.threshold;
    }
    if (b >= threshold && (ex === undefined || !ex.has(r + 1))) {
      heap.offer(r + 1, b);
      threshold = heap.threshold;
    }
  }
  if (r < rows && (ex === undefined || !ex.has(r))) {
    let a = 0;
    for (let d = 0; d < dim; d++) a += matrix[off + d]! * query[d]!;
    heap.offer(r, a);
  }
  return heap.result();
}

/**
 * The `k` indices of `scores` with the largest values, best first; ties go to the lower
 * index. Indices in `exclude` and NaN scores are skipped. Use it for popularity lists.
 */
export function topKByScore(scores: ArrayLike<number>, k: number, exclude?: ReadonlySet<number>): TopK {
  const heap = new TopKHeap(k);
  for (let i = 0; i < scores.length; i++) {
    if (exclude !== undefined && exclude.has(i)) continue;
    heap.offer(i, scores[i]!);
  }
  return heap.result();
}
