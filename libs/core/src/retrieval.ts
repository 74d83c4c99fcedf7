/**
 * Merged retrieval: the one code path that turns a user (embedding row, recent items,
 * exclusions) into a candidate list, used by the offline evaluation and by the online
 * candidate generator alike, so that the two cannot disagree.
 *
 * Three sources, each a top-N over the eligible items (items with ≥ 1 interaction in the
 * artifact's history, minus the caller's exclusions):
 * - `embedding`: dot product of the user and item embeddings (ALS), searched by a
 *   {@link RetrievalIndex} (exact ONNX MatMul + TopK by default, `retrieval-index.ts`);
 * - `covisitation`: item-to-item, Σ over the user's most recent items i of S[i, j], with S
 *   the pruned cosine neighbour lists of the artifact (ItemKNN);
 * - `popularity`: interaction count, the only source for cold-start users.
 *
 * The lists are merged by weighted reciprocal-rank fusion, score(j) = Σ_s w_s / (c + rank_s(j)),
 * (a single list passes through with its source's own scores, except popularity, whose counts
 * get the fused score they would have with weight 1),
 * deduplicated, ordered by fused score (ties → lower item index) and cut to `n`. Each
 * candidate keeps every source's own score (NaN where that source did not retrieve it) for
 * the ranker. Rank fusion needs no calibration between the sources' score scales, which
 * differ by orders of magnitude (dot products vs. summed cosines vs. counts).
 */
import { readFloat32LE, readInt32LE, writeFloat32LE, writeInt32LE } from './little-endian';
import { ExactIndex, type RetrievalIndex } from './retrieval-index';
import { topKByScore } from './vectors';

/** The retrieval sources; a `source_score` ranker feature names one of them. */
export type RetrievalSource = 'embedding' | 'popularity' | 'covisitation';

/** Every valid {@link RetrievalSource}. */
export const RETRIEVAL_SOURCES: readonly RetrievalSource[] = ['embedding', 'popularity', 'covisitation'];

/** Sparse item → neighbour lists (CSR): neighbours of item i are positions ptr[i] … ptr[i+1]−1. */
export interface ItemNeighbors {
  /** nItems + 1 offsets. */
  ptr: Int32Array;
  /** Neighbour item rows. */
  items: Int32Array;
  /** Similarity of each neighbour (> 0). */
  weights: Float32Array;
}

/** One source's part in the merge. */
export interface SourceConfig {
  /** How many items this source retrieves before merging (0 = off). */
  n: number;
  /** Weight of the source in the rank fusion. */
  weight: number;
}

/** How the sources are run and merged; stored in the artifact manifest (`retrieval`). */
export interface RetrievalConfig {
  embedding: SourceConfig;
  /** `recent_items`: how many of the user's most recent items (newest first) are used. */
  covisitation: SourceConfig & { recent_items: number };
  popularity: SourceConfig;
  /** The constant c of reciprocal-rank fusion (larger = flatter). */
  rrf_k: number;
}

/** The default merge; chosen on the validation split of ml-latest-small (see README, Quality). */
export const DEFAULT_RETRIEVAL_CONFIG: Readonly<RetrievalConfig> = {
  embedding: { n: 300, weight: 2 },
  covisitation: { n: 300, weight: 1, recent_items: 20 },
  popularity: { n: 100, weight: 0.2 },
  rrf_k: 10,
};

/**
 * Checks a retrieval config (e.g. read from a manifest) and returns it typed.
 *
 * @throws Error naming the offending field
 */
export function parseRetrievalConfig(value: unknown): RetrievalConfig {
  const obj = (x: unknown, where: string): Record<string, unknown> => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new Error(`${where} must be an object`);
    return x as Record<string, unknown>;
  };
  const num = (o: Record<string, unknown>, key: string, where: string, integer: boolean): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
      throw new Error(`${where}.${key} must be a non-negative ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const root = obj(value, 'retrieval');
  const source = (name: 'embedding' | 'covisitation' | 'popularity'): SourceConfig => {
    const s = obj(root[name], `retrieval.${name}`);
    return { n: num(s, 'n', `retrieval.${name}`, true), weight: num(s, 'weight', `retrieval.${name}`, false) };
  };
  const covis = obj(root['covisitation'], 'retrieval.covisitation');
  const rrf = num(root, 'rrf_k', 'retrieval', false);
  return {
    embedding: source('embedding'),
    covisitation: { ...source('covisitation'), recent_items: num(covis, 'recent_items', 'retrieval.covisitation', true) },
    popularity: source('popularity'),
    rrf_k: rrf,
  };
}

/** What the merge reads from an artifact. */
export interface RetrievalData {
  /** Number of items (rows of the item arrays). */
  nItems: number;
  /** Embedding width. */
  dim: number;
  /** nItems × dim. */
  itemEmbeddings: Float32Array;
  /** Interaction count per item; items with 0 are never candidates. */
  itemPopularity: Float32Array;
  /** Item neighbour lists; absent = no covisitation source. */
  neighbors?: ItemNeighbors;
  config: RetrievalConfig;
  /**
   * The embedding search; absent = {@link MergedRetriever.create} builds the exact index
   * over `itemEmbeddings`. Its eligibility must match `itemPopularity` > 0.
   */
  index?: RetrievalIndex;
}

/** Eligibility of every item row: 1 when it has at least one interaction (docs/EVALUATION.md's candidate rule). */
export function eligibleItems(itemPopularity: Float32Array): Uint8Array {
  const out = new Uint8Array(itemPopularity.length);
  for (let i = 0; i < itemPopularity.length; i++) out[i] = itemPopularity[i]! > 0 ? 1 : 0;
  return out;
}

/** One request to {@link MergedRetriever.retrieve}. */
export interface RetrievalQuery {
  /** The user's embedding (`dim` values), absent for users the artifact does not know. */
  userEmbedding?: Float32Array;
  /** Item rows the user interacted with most recently, newest first (unknown items left out). */
  recentItems: readonly number[];
  /** Item rows that must not be returned (seen items, caller exclusions). */
  exclude: ReadonlySet<number>;
  /** How many candidates to return. */
  n: number;
  /** Run only these sources (default: all configured); the evaluation measures each source alone this way. */
  only?: readonly RetrievalSource[];
}

/** The merged candidate list, columnar, best first. */
export interface MergedCandidates {
  /** Item rows. */
  items: Int32Array;
  /** Fused score (float32, as sent over the wire). */
  scores: Float32Array;
  /** The source that contributed most to each candidate's fused score. */
  primary: RetrievalSource[];
  /** Each source's own score per candidate (float32), NaN where that source did not retrieve it; only sources that ran. */
  sourceScores: Partial<Record<RetrievalSource, Float32Array>>;
}

/**
 * The merge over one artifact version. Create once per version with {@link create}
 * (precomputes the popularity order and the eligible items, opens the embedding index),
 * then call {@link retrieve} per request; {@link release} when the version is retired.
 */
export class MergedRetriever {
  private readonly popularOrder: Int32Array;
  /** 1 for items with interactions: the others are never candidates. */
  private readonly eligible: Uint8Array;
  private inFlight = 0;
  private retired: (() => void) | undefined;

  private constructor(
    readonly data: RetrievalData,
    readonly index: RetrievalIndex,
    eligible: Uint8Array,
  ) {
    this.eligible = eligible;
    this.popularOrder = topKByScore(data.itemPopularity, data.nItems).indices;
  }

  /**
   * Checks the arrays and opens the index (the given one, else the exact index).
   *
   * @throws RangeError when the arrays' shapes disagree
   */
  static async create(data: RetrievalData): Promise<MergedRetriever> {
    const { nItems, itemPopularity, itemEmbeddings, dim } = data;
    if (itemPopularity.length !== nItems) throw new RangeError(`retrieval: ${itemPopularity.length} popularity values for ${nItems} items`);
    if (itemEmbeddings.length !== nItems * dim) throw new RangeError(`retrieval: item embeddings hold ${itemEmbeddings.length} values, expected ${nItems} × ${dim}`);
    if (data.neighbors && data.neighbors.ptr.length !== nItems + 1) {
      throw new RangeError(`retrieval: neighbour lists cover ${data.neighbors.ptr.length - 1} items, expected ${nItems}`);
    }
    const eligible = eligibleItems(itemPopularity);
    const index = data.index ?? (await ExactIndex.create(itemEmbeddings, dim, { eligible }));
    if (index.size !== nItems || index.dim !== dim) throw new RangeError(`retrieval: the index covers ${index.size} × ${index.dim}, expected ${nItems} × ${dim}`);
    return new MergedRetriever(data, index, eligible);
  }

  /**
   * Releases the index once the retrieves running now have finished (a hot reload calls
   * this on the version it replaced); later retrieves fail.
   */
  release(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.retired = () => void this.index.release().then(resolve, reject);
      if (this.inFlight === 0) this.retired();
    });
  }

  /** Candidates for one query; see the module comment for the merge. */
  async retrieve(q: RetrievalQuery): Promise<MergedCandidates> {
    if (this.retired !== undefined) throw new Error('retrieval: this artifact version was released');
    this.inFlight++;
    try {
      return await this.merge(q);
    } finally {
      if (--this.inFlight === 0) this.idle();
    }
  }

  private idle(): void {
    this.retired?.();
  }

  private async merge(q: RetrievalQuery): Promise<MergedCandidates> {
    const { config } = this.data;
    const want = (s: RetrievalSource): boolean => q.only === undefined || q.only.includes(s);
    const eligible = this.eligible;
    const excluded = (i: number): boolean => eligible[i] !== 1 || q.exclude.has(i);

    const lists: Array<{ source: RetrievalSource; weight: number; items: ArrayLike<number>; scores: ArrayLike<number> }> = [];
    if (want('embedding') && q.userEmbedding !== undefined && config.embedding.n > 0) {
      const top = await this.index.search(q.userEmbedding, config.embedding.n, q.exclude);
      lists.push({ source: 'embedding', weight: config.embedding.weight, items: top.rows, scores: top.scores });
    }
    const nb = this.data.neighbors;
    if (want('covisitation') && nb !== undefined && config.covisitation.n > 0 && q.recentItems.length > 0) {
      // Σ S[i, j] per neighbour j, in the scratch arrays (same additions in the same order as a Map would do).
      const s = this.scratch();
      const stamp = s.nextStamp();
      let touched = 0;
      const recentCount = Math.min(q.recentItems.length, config.covisitation.recent_items);
      for (let k = 0; k < recentCount; k++) {
        const i = q.recentItems[k]!;
        if (!(i >= 0 && i < this.data.nItems)) continue;
        for (let p = nb.ptr[i]!; p < nb.ptr[i + 1]!; p++) {
          const j = nb.items[p]!;
          if (excluded(j)) continue;
          if (s.stamp[j] !== stamp) {
            s.stamp[j] = stamp;
            s.sum[j] = nb.weights[p]!;
            touched = s.touch(touched, j);
          } else s.sum[j] = s.sum[j]! + nb.weights[p]!;
        }
      }
      const sum = s.sum;
      const order = Array.from(s.touched.subarray(0, touched)).sort((a, b) => sum[b]! - sum[a]! || a - b);
      const count = Math.min(order.length, config.covisitation.n);
      const items = new Int32Array(count);
      const scores = new Float64Array(count);
      for (let r = 0; r < count; r++) {
        items[r] = order[r]!;
        scores[r] = sum[order[r]!]!;
      }
      lists.push({ source: 'covisitation', weight: config.covisitation.weight, items, scores });
    }
    // Popularity always runs for users no other source could serve (cold start), else as configured.
    const popN = lists.length === 0 ? q.n : config.popularity.n;
    if ((want('popularity') || lists.length === 0) && popN > 0) {
      const items: number[] = [];
      for (let r = 0; r < this.popularOrder.length && items.length < popN; r++) {
        const i = this.popularOrder[r]!;
        if (!excluded(i)) items.push(i);
      }
      lists.push({ source: 'popularity', weight: lists.length === 0 ? 1 : config.popularity.weight, items, scores: items.map((i) => this.data.itemPopularity[i]!) });
    }

    // One list needs no fusion and keeps its source's own scores (the standard bench
    // workload's retrieval_score is the embedding dot product), except the popularity list:
    // its raw counts (a cold-start user's only source) would saturate the ranker, so it gets
    // the fused score it would have with weight 1, w / (c + rank); the counts stay in sourceScores.
    if (lists.length === 1) {
      const l = lists[0]!;
      const count = Math.min(q.n, l.items.length);
      const fusedScale = l.source === 'popularity';
      // Plain loops: TypedArray.from with a map function over an array-like is several
      // times slower, and this runs on every request.
      const items = new Int32Array(count);
      const scores = new Float32Array(count);
      const own = new Float32Array(count);
      const primary = new Array<RetrievalSource>(count);
      for (let r = 0; r < count; r++) {
        items[r] = l.items[r]!;
        own[r] = l.scores[r]!;
        scores[r] = fusedScale ? 1 / (config.rrf_k + r + 1) : l.scores[r]!;
        primary[r] = l.source;
      }
      return { items, scores, primary, sourceScores: { [l.source]: own } };
    }
    // Fusion in the scratch arrays: per item its fused score, its best contribution and the
    // list that gave it (the first of equal ones). No await from here on: the scratch
    // arrays are shared by every call and hold this call's values only until it returns.
    const s = this.scratch();
    const stamp = s.nextStamp();
    let touched = 0;
    for (let li = 0; li < lists.length; li++) {
      const l = lists[li]!;
      for (let r = 0; r < l.items.length; r++) {
        const item = l.items[r]!;
        const contribution = l.weight / (config.rrf_k + r + 1);
        if (s.stamp[item] !== stamp) {
          s.stamp[item] = stamp;
          s.sum[item] = contribution;
          s.best[item] = contribution;
          s.from[item] = li;
          touched = s.touch(touched, item);
        } else {
          s.sum[item] = s.sum[item]! + contribution;
          if (contribution > s.best[item]!) {
            s.best[item] = contribution;
            s.from[item] = li;
          }
        }
      }
    }
    // Order on the float32 score that goes over the wire, so a consumer re-sorting by it agrees.
    const wire = s.best; // reused: the best contributions are not needed any more
    for (let t = 0; t < touched; t++) {
      const item = s.touched[t]!;
      wire[item] = Math.fround(s.sum[item]!);
    }
    const order = Array.from(s.touched.subarray(0, touched)).sort((a, b) => wire[b]! - wire[a]! || a - b);
    const count = Math.min(order.length, q.n);
    const items = new Int32Array(count);
    const scores = new Float32Array(count);
    const primary = new Array<RetrievalSource>(count);
    // Each ranked item's position, by a new stamp (items not ranked keep an older one).
    const ranked = s.nextStamp();
    for (let j = 0; j < count; j++) {
      const item = order[j]!;
      items[j] = item;
      scores[j] = wire[item]!;
      primary[j] = lists[s.from[item]!]!.source;
      s.stamp[item] = ranked;
      s.from[item] = j;
    }
    const sourceScores: Partial<Record<RetrievalSource, Float32Array>> = {};
    for (const l of lists) {
      const col = new Float32Array(count).fill(NaN);
      for (let r = 0; r < l.items.length; r++) {
        const item = l.items[r]!;
        if (s.stamp[item] === ranked) col[s.from[item]!] = l.scores[r]!;
      }
      sourceScores[l.source] = col;
    }
    return { items, scores, primary, sourceScores };
  }

  private scratchArrays: MergeScratch | undefined;

  /** The per-version scratch arrays of the merge (one slot per item), made on first use. */
  private scratch(): MergeScratch {
    return (this.scratchArrays ??= new MergeScratch(this.data.nItems));
  }
}

/**
 * Per-item scratch space of {@link MergedRetriever}'s merge, reused by every request of an
 * artifact version instead of a Map and an object per candidate: a slot is valid for the
 * current pass only when its stamp is the pass's (so nothing is cleared between passes).
 */
class MergeScratch {
  /** Pass stamp of each item's slot. */
  readonly stamp: Uint32Array;
  /** Summed score (covisitation: Σ similarity; fusion: Σ contribution). */
  readonly sum: Float64Array;
  /** Fusion: the item's largest contribution, then its float32 fused score. */
  readonly best: Float64Array;
  /** Fusion: the list of the largest contribution, then the item's rank. */
  readonly from: Int32Array;
  /** Items touched in this pass, in first-touch order. */
  touched: Int32Array;
  private current = 0;

  constructor(nItems: number) {
    this.stamp = new Uint32Array(nItems);
    this.sum = new Float64Array(nItems);
    this.best = new Float64Array(nItems);
    this.from = new Int32Array(nItems);
    this.touched = new Int32Array(Math.min(nItems, 1024));
  }

  /** A stamp no slot holds yet (after 2³² − 1 passes every stamp is cleared once). */
  nextStamp(): number {
    if (this.current === 0xffffffff) {
      this.stamp.fill(0);
      this.current = 0;
    }
    return ++this.current;
  }

  /** Appends `item` at position `n` of {@link touched} (growing it); returns n + 1. */
  touch(n: number, item: number): number {
    if (n === this.touched.length) {
      const grown = new Int32Array(Math.min(this.stamp.length, Math.max(16, 2 * n)));
      grown.set(this.touched);
      this.touched = grown;
    }
    this.touched[n] = item;
    return n + 1;
  }
}

/**
 * Encodes neighbour lists for the artifact: little-endian int32 nItems, int32 nnz,
 * int32 ptr[nItems+1], int32 items[nnz], float32 weights[nnz].
 */
export function encodeItemNeighbors(nb: ItemNeighbors): Buffer {
  const nItems = nb.ptr.length - 1;
  const nnz = nb.items.length;
  const buf = Buffer.alloc(4 * (2 + nItems + 1 + 2 * nnz));
  let o = writeInt32LE(buf, [nItems, nnz]);
  o = writeInt32LE(buf, nb.ptr, o);
  o = writeInt32LE(buf, nb.items, o);
  writeFloat32LE(buf, nb.weights, o);
  return buf;
}

/**
 * Decodes {@link encodeItemNeighbors}' format and checks it against the catalogue size.
 *
 * @throws Error describing the first inconsistency (size, offsets, item range, weights)
 */
export function decodeItemNeighbors(buf: Buffer, nItems: number): ItemNeighbors {
  if (buf.length < 8) throw new Error(`${buf.length} bytes, too short for a header`);
  const n = buf.readInt32LE(0);
  const nnz = buf.readInt32LE(4);
  if (n !== nItems) throw new Error(`lists for ${n} items, the artifact has ${nItems}`);
  const expected = 4 * (2 + n + 1 + 2 * nnz);
  if (nnz < 0 || buf.length !== expected) throw new Error(`${buf.length} bytes, expected ${expected} for ${n} items and ${nnz} neighbours`);
  // Bulk copies: decoding happens on a service's event loop during a hot reload.
  const ptr = readInt32LE(buf, 8, n + 1);
  const items = readInt32LE(buf, 8 + 4 * (n + 1), nnz);
  const weights = readFloat32LE(buf, 8 + 4 * (n + 1 + nnz), nnz);
  if (ptr[0] !== 0 || ptr[n] !== nnz) throw new Error('offsets do not start at 0 and end at the neighbour count');
  for (let i = 0; i < n; i++) if (ptr[i + 1]! < ptr[i]!) throw new Error(`offsets decrease at item row ${i}`);
  for (let p = 0; p < nnz; p++) {
    if (!(items[p]! >= 0 && items[p]! < n)) throw new Error(`neighbour ${p} names item row ${items[p]}, outside 0..${n - 1}`);
    if (!Number.isFinite(weights[p]!)) throw new Error(`neighbour ${p} has a non-finite weight`);
  }
  return { ptr, items, weights };
}
