/**
 * Candidate features: per (user, candidate) signals computed from the artifact and the
 * request (the user's recent items), by the candidate generator online and by the
 * offline trainer and evaluation from the same artifact data, so offline = online.
 *
 * Features (see {@link CANDIDATE_FEATURES}); "recent" is the user's most recent items,
 * newest first, at most the manifest's `serving.recent_items` of them; the reference day
 * is the user's latest interaction (`user_last_ts_days` of the user view):
 * - `als_score`, `als_rank`: dot product of the user and item embeddings for every
 *   candidate, and its 1-based rank among all eligible, non-excluded items: counted over
 *   every such item up to {@link ALS_RANK_SAMPLE} eligible items, estimated beyond (see
 *   there), so its cost per request stays bounded on a catalogue of millions;
 * - `i2i_all`, `i2i_last1`, `i2i_last3`, `i2i_last5`: Σ over the recent items (all / the
 *   newest 1, 3, 5) of the item-to-item similarity to the candidate, each with its rank
 *   within the candidate list (`*_rank`, 1 + #candidates scoring strictly higher);
 * - `pop_30d`, `pop_180d`: the candidate's interactions in the 30 / 180 days up to the
 *   reference day; `item_age_days`: reference day − the candidate's first interaction;
 * - `genre_last10`, `genre_recent`: Σ_g share of genre g among the newest 10 / all recent
 *   items × the candidate's genre g.
 * Values a user cannot have (no embedding, no recent items) take the feature's default.
 */
import type { ItemTimeline, LoadedArtifacts } from './artifact-types';
import { readFloat32LE, readInt32LE, writeFloat32LE, writeInt32LE } from './little-endian';
import type { ItemNeighbors } from './retrieval';

export type { ItemTimeline } from './artifact-types';

/** One candidate feature: its name and the value used when it cannot be computed. */
export interface CandidateFeatureDefinition {
  name: string;
  default: number;
  description: string;
}

/** Rank given to an item no ranking reached (cold-start users' `als_rank`). */
const NO_RANK = 100_000;

/**
 * Eligible items up to which `als_rank` counts every item. In a larger catalogue the
 * higher-scoring items are counted exactly among the candidates themselves and estimated
 * among the others from a fixed, evenly strided sample of this many eligible items (the
 * same rows offline and online), scaled by eligible / sample: unbiased, and exact wherever
 * every higher-scoring item is a candidate (the top of an embedding retrieval). The work
 * per request is O(sample · dim) instead of O(catalogue · dim): at 1,000,000 items × 64
 * dimensions the full count alone took ~130 ms of JavaScript per request.
 */
export const ALS_RANK_SAMPLE = 32_768;

/** Every candidate feature, in the order {@link CandidateFeaturizer.compute} returns them. */
export const CANDIDATE_FEATURES: readonly CandidateFeatureDefinition[] = [
  { name: 'als_score', default: 0, description: 'dot product of the user and item embeddings' },
  { name: 'als_rank', default: NO_RANK, description: 'rank of als_score among all eligible, non-excluded items (1 = best)' },
  { name: 'i2i_all', default: 0, description: 'Σ item-to-item similarity to every recent item' },
  { name: 'i2i_all_rank', default: NO_RANK, description: 'rank of i2i_all within the candidate list' },
  { name: 'i2i_last1', default: 0, description: 'item-to-item similarity to the newest item' },
  { name: 'i2i_last1_rank', default: NO_RANK, description: 'rank of i2i_last1 within the candidate list' },
  { name: 'i2i_last3', default: 0, description: 'Σ item-to-item similarity to the newest 3 items' },
  { name: 'i2i_last3_rank', default: NO_RANK, description: 'rank of i2i_last3 within the candidate list' },
  { name: 'i2i_last5', default: 0, description: 'Σ item-to-item similarity to the newest 5 items' },
  { name: 'i2i_last5_rank', default: NO_RANK, description: 'rank of i2i_last5 within the candidate list' },
  { name: 'pop_30d', default: 0, description: "interactions with the item in the 30 days up to the user's latest interaction" },
  { name: 'pop_180d', default: 0, description: "interactions with the item in the 180 days up to the user's latest interaction" },
  { name: 'item_age_days', default: 0, description: "days from the item's first interaction to the user's latest interaction" },
  { name: 'genre_last10', default: 0, description: 'genre overlap with the newest 10 recent items (genre shares · item genres)' },
  { name: 'genre_recent', default: 0, description: 'genre overlap with all recent items (genre shares · item genres)' },
];

/** Candidate feature name → definition. */
export const CANDIDATE_FEATURE_INDEX: ReadonlyMap<string, CandidateFeatureDefinition> = new Map(CANDIDATE_FEATURES.map((f) => [f.name, f]));

/**
 * Encodes an item timeline (`item_timeline.bin`): little-endian int32 nItems, int32 n,
 * int32 ptr[nItems+1], float32 days[n].
 */
export function encodeItemTimeline(t: ItemTimeline): Buffer {
  const nItems = t.ptr.length - 1;
  const n = t.days.length;
  const buf = Buffer.alloc(4 * (2 + nItems + 1 + n));
  let o = writeInt32LE(buf, [nItems, n]);
  o = writeInt32LE(buf, t.ptr, o);
  writeFloat32LE(buf, t.days, o);
  return buf;
}

/**
 * Decodes {@link encodeItemTimeline}'s format, checked against the catalogue size.
 *
 * @throws Error describing the first inconsistency
 */
export function decodeItemTimeline(buf: Buffer, nItems: number): ItemTimeline {
  if (buf.length < 8) throw new Error(`${buf.length} bytes, too short for a header`);
  const items = buf.readInt32LE(0);
  const n = buf.readInt32LE(4);
  if (items !== nItems) throw new Error(`timeline of ${items} items, the artifact has ${nItems}`);
  const expected = 4 * (2 + items + 1 + n);
  if (n < 0 || buf.length !== expected) throw new Error(`${buf.length} bytes, expected ${expected} for ${items} items and ${n} days`);
  const ptr = readInt32LE(buf, 8, items + 1);
  const days = readFloat32LE(buf, 8 + 4 * (items + 1), n);
  if (ptr[0] !== 0 || ptr[items] !== n) throw new Error('offsets do not start at 0 and end at the day count');
  for (let i = 0; i < items; i++) {
    if (ptr[i + 1]! < ptr[i]!) throw new Error(`offsets decrease at item row ${i}`);
    for (let p = ptr[i]! + 1; p < ptr[i + 1]!; p++) if (!(days[p]! >= days[p - 1]!)) throw new Error(`days of item row ${i} are not ascending`);
  }
  for (let p = 0; p < n; p++) if (!Number.isFinite(days[p]!)) throw new Error(`day ${p} is not finite`);
  return { ptr, days };
}

/** What the featurizer reads from an artifact (or the offline models). */
export interface CandidateFeatureData {
  nItems: number;
  dim: number;
  /** nItems × dim. */
  itemEmbeddings: Float32Array;
  /** Items with 0 are not eligible (never candidates), so they do not count in `als_rank`. */
  itemPopularity: Float32Array;
  neighbors?: ItemNeighbors;
  timeline: ItemTimeline;
  /** nItems × nGenres, 1 when the item has the genre. */
  itemGenres: Float32Array;
  nGenres: number;
}

/** One user's side of the features. */
export interface CandidateFeatureQuery {
  userEmbedding?: Float32Array;
  /** Item rows, newest first, already cut to the serving window. */
  recentItems: readonly number[];
  /** Items that cannot be candidates (seen, excluded): left out of `als_rank`. */
  exclude: ReadonlySet<number>;
  /** The user's latest interaction, days since 1970-01-01. */
  refDay: number;
}

/** Index of the first element of `a[lo, hi)` with a[i] > x (a ascending). */
function upperBound(a: Float32Array | Float64Array, lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** 1 + #entries strictly greater, per entry. */
function ranksWithin(values: Float32Array): Float32Array {
  const order = Array.from({ length: values.length }, (_, j) => j).sort((a, b) => values[b]! - values[a]!);
  const out = new Float32Array(values.length);
  let rank = 1;
  for (let r = 0; r < order.length; r++) {
    if (r > 0 && values[order[r]!]! < values[order[r - 1]!]!) rank = r + 1;
    out[order[r]!] = rank;
  }
  return out;
}

/**
 * `fround(query · row)` of `count` rows of `matrix` into `out` (returned): row r is
 * `rows[r]` of the matrix, or its r-th row without `rows`. Four rows at a time, four
 * independent sums, each over the dimensions in order: bit for bit the sum of a plain loop,
 * with the adds of one row waiting less on each other.
 */
function dotRows(query: Float32Array, matrix: Float32Array, dim: number, rows: Int32Array | undefined, count: number, out: Float32Array): Float32Array {
  const at = (r: number): number => (rows === undefined ? r : rows[r]!) * dim;
  let r = 0;
  for (; r + 4 <= count; r += 4) {
    const o0 = at(r);
    const o1 = at(r + 1);
    const o2 = at(r + 2);
    const o3 = at(r + 3);
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let k = 0; k < dim; k++) {
      const w = query[k]!;
      s0 += w * matrix[o0 + k]!;
      s1 += w * matrix[o1 + k]!;
      s2 += w * matrix[o2 + k]!;
      s3 += w * matrix[o3 + k]!;
    }
    out[r] = s0;
    out[r + 1] = s1;
    out[r + 2] = s2;
    out[r + 3] = s3;
  }
  for (; r < count; r++) {
    const o = at(r);
    let sum = 0;
    for (let k = 0; k < dim; k++) sum += query[k]! * matrix[o + k]!;
    out[r] = sum;
  }
  return out;
}

/** Computes {@link CANDIDATE_FEATURES} for candidate lists over one artifact version. */
export class CandidateFeaturizer {
  private readonly scratch: Float64Array;
  /** The float32 scores of the rows `als_rank` counts (every eligible row, or the sample's). */
  private readonly rowScores: Float32Array;
  /** Every eligible row: what `als_rank` counts when the catalogue is within the sample size. */
  private readonly eligible: Int32Array;
  /** Beyond {@link ALS_RANK_SAMPLE} eligible items: the sample `als_rank` estimates from. */
  private readonly sample:
    | {
        rows: Int32Array;
        /** Eligible rows per sampled row. */
        weight: number;
        /** 1 for the sampled rows (exclusions outside the sample change nothing). */
        inSample: Uint8Array;
        /** 1 for the rows of the list being computed (set and cleared per call). */
        isCandidate: Uint8Array;
        /**
         * The sample's embeddings, contiguous (sample × dim). Read in place, the sampled rows
         * are spread over the whole matrix (128 MB at 1M × 32) and every dot product waited
         * for memory: 9 ms per request at 1M items, against ~1 ms over this copy (4 MB).
         */
        vectors: Float32Array;
      }
    | undefined;

  constructor(readonly data: CandidateFeatureData) {
    const { nItems, dim } = data;
    if (data.itemEmbeddings.length !== nItems * dim) throw new RangeError(`candidate features: item embeddings hold ${data.itemEmbeddings.length} values, expected ${nItems} × ${dim}`);
    if (data.itemPopularity.length !== nItems) throw new RangeError(`candidate features: ${data.itemPopularity.length} popularity values for ${nItems} items`);
    if (data.timeline.ptr.length !== nItems + 1) throw new RangeError(`candidate features: timeline covers ${data.timeline.ptr.length - 1} items, expected ${nItems}`);
    if (data.itemGenres.length !== nItems * data.nGenres) throw new RangeError(`candidate features: item genres hold ${data.itemGenres.length} values, expected ${nItems} × ${data.nGenres}`);
    if (data.neighbors && data.neighbors.ptr.length !== nItems + 1) throw new RangeError(`candidate features: neighbour lists cover ${data.neighbors.ptr.length - 1} items, expected ${nItems}`);
    this.scratch = new Float64Array(nItems);
    let eligible = 0;
    for (let i = 0; i < nItems; i++) if (data.itemPopularity[i]! > 0) eligible++;
    this.eligible = new Int32Array(eligible);
    for (let i = 0, e = 0; i < nItems; i++) if (data.itemPopularity[i]! > 0) this.eligible[e++] = i;
    if (eligible > ALS_RANK_SAMPLE) {
      const rows = new Int32Array(ALS_RANK_SAMPLE);
      const inSample = new Uint8Array(nItems);
      const vectors = new Float32Array(ALS_RANK_SAMPLE * dim);
      for (let k = 0; k < ALS_RANK_SAMPLE; k++) {
        const row = this.eligible[Math.floor((k * eligible) / ALS_RANK_SAMPLE)]!;
        rows[k] = row;
        inSample[row] = 1;
        vectors.set(data.itemEmbeddings.subarray(row * dim, (row + 1) * dim), k * dim);
      }
      this.sample = { rows, weight: eligible / ALS_RANK_SAMPLE, inSample, isCandidate: new Uint8Array(nItems), vectors };
    }
    this.rowScores = new Float32Array(Math.min(eligible, ALS_RANK_SAMPLE));
  }

  /** Feature name → column over `items` (float32), every name of {@link CANDIDATE_FEATURES}. */
  compute(q: CandidateFeatureQuery, items: ArrayLike<number>): Map<string, Float32Array> {
    const { nItems, dim, itemEmbeddings, timeline, itemGenres, nGenres } = this.data;
    const n = items.length;
    for (let j = 0; j < n; j++) {
      const i = items[j]!;
      if (!(Number.isInteger(i) && i >= 0 && i < nItems)) throw new RangeError(`candidate features: item row ${i} outside 0..${nItems - 1}`);
    }
    const out = new Map<string, Float32Array>();
    const col = (name: string): Float32Array => {
      const c = new Float32Array(n).fill(CANDIDATE_FEATURE_INDEX.get(name)!.default);
      out.set(name, c);
      return c;
    };
    const alsScore = col('als_score');
    const alsRank = col('als_rank');
    const ue = q.userEmbedding;
    if (ue !== undefined) {
      if (ue.length !== dim) throw new RangeError(`candidate features: user embedding has ${ue.length} values, expected ${dim}`);
      const dot = (i: number): number => {
        let s = 0;
        const o = i * dim;
        for (let k = 0; k < dim; k++) s += ue[k]! * itemEmbeddings[o + k]!;
        return Math.fround(s);
      };
      // als_rank = 1 + #eligible, non-excluded items scoring strictly higher, in one pass
      // over the counted rows without sorting them (O(rows · log n)): with the candidates'
      // scores ascending, an item beats exactly the first `lo` of them (lo = #scores below
      // it), counted in beats[lo]; a candidate at sorted position p is beaten by Σ beats[t > p].
      const sorted = new Float64Array(n);
      for (let j = 0; j < n; j++) sorted[j] = alsScore[j] = dot(items[j]!);
      sorted.sort();
      const lowest = sorted[0]!;
      const highest = sorted[n - 1]!;
      const below = (x: number): number => {
        // Most items score below every candidate or above all of them: no search for those.
        if (!(x > lowest)) return 0; // also NaN and n = 0, as the search below would answer
        if (x > highest) return n;
        let lo = 0;
        let hi = n;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (sorted[mid]! < x) lo = mid + 1;
          else hi = mid;
        }
        return lo;
      };
      const beats = new Float64Array(n + 1);
      const { sample } = this;
      const countable = (i: number): boolean => Number.isInteger(i) && i >= 0 && i < nItems && this.data.itemPopularity[i]! > 0;
      // Sampled: the eligible, non-excluded candidates scoring higher are counted exactly
      // (`higher`, each distinct row once, as the full count sees it); the sample, without
      // the candidates, estimates the other items scoring higher.
      const higher = new Float64Array(sample ? n : 0);
      let u = 0;
      if (sample === undefined) {
        const rows = this.eligible;
        const scores = dotRows(ue, itemEmbeddings, dim, rows, rows.length, this.rowScores);
        for (let t = 0; t < rows.length; t++) beats[below(scores[t]!)]!++;
        // Excluded items are few: take theirs back out rather than test every item.
        for (const i of q.exclude) if (countable(i)) beats[below(dot(i))]!--;
      } else {
        const { rows, inSample, isCandidate, vectors } = sample;
        for (let j = 0; j < n; j++) {
          const i = items[j]!;
          if (isCandidate[i] === 1) continue;
          isCandidate[i] = 1;
          if (this.data.itemPopularity[i]! > 0 && !q.exclude.has(i)) higher[u++] = alsScore[j]!;
        }
        higher.subarray(0, u).sort();
        // dot(rows[k]) over the contiguous copy: the same sums in the same order.
        const scores = dotRows(ue, vectors, dim, undefined, rows.length, this.rowScores);
        for (let k = 0; k < rows.length; k++) if (isCandidate[rows[k]!] !== 1) beats[below(scores[k]!)]!++;
        for (const i of q.exclude) if (countable(i) && inSample[i] === 1 && isCandidate[i] === 0) beats[below(dot(i))]!--;
        for (let j = 0; j < n; j++) isCandidate[items[j]!] = 0;
      }
      const beaten = new Float64Array(n + 1);
      for (let t = n - 1; t >= 0; t--) beaten[t] = beaten[t + 1]! + beats[t + 1]!;
      for (let j = 0; j < n; j++) {
        const sc = alsScore[j]!;
        const counted = beaten[below(sc)]!;
        alsRank[j] = sample === undefined ? counted + 1 : 1 + (u - upperBound(higher, 0, u, sc)) + Math.round(counted * sample.weight);
      }
    }

    const nb = this.data.neighbors;
    const recent = q.recentItems.filter((i) => Number.isInteger(i) && i >= 0 && i < nItems);
    for (const [name, take] of [
      ['i2i_last1', 1],
      ['i2i_last3', 3],
      ['i2i_last5', 5],
      ['i2i_all', recent.length],
    ] as const) {
      const c = col(name);
      const r = col(`${name}_rank`);
      if (nb === undefined) continue;
      const acc = this.scratch;
      const touched: number[] = [];
      for (const i of recent.slice(0, take)) {
        for (let p = nb.ptr[i]!; p < nb.ptr[i + 1]!; p++) {
          const j = nb.items[p]!;
          if (acc[j] === 0) touched.push(j);
          acc[j]! += nb.weights[p]!;
        }
      }
      for (let j = 0; j < n; j++) c[j] = acc[items[j]!]!;
      for (const j of touched) acc[j] = 0;
      r.set(ranksWithin(c));
    }

    const pop30 = col('pop_30d');
    const pop180 = col('pop_180d');
    const age = col('item_age_days');
    if (Number.isFinite(q.refDay)) {
      for (let j = 0; j < n; j++) {
        const i = items[j]!;
        const lo = timeline.ptr[i]!;
        const hi = timeline.ptr[i + 1]!;
        if (hi === lo) continue;
        const upTo = upperBound(timeline.days, lo, hi, q.refDay);
        pop30[j] = upTo - upperBound(timeline.days, lo, hi, q.refDay - 30);
        pop180[j] = upTo - upperBound(timeline.days, lo, hi, q.refDay - 180);
        age[j] = q.refDay - timeline.days[lo]!;
      }
    }

    for (const [name, take] of [
      ['genre_last10', 10],
      ['genre_recent', recent.length],
    ] as const) {
      const c = col(name);
      const share = new Float64Array(nGenres);
      let total = 0;
      for (const i of recent.slice(0, take)) {
        for (let g = 0; g < nGenres; g++) {
          share[g]! += itemGenres[i * nGenres + g]!;
          total += itemGenres[i * nGenres + g]!;
        }
      }
      if (total === 0) continue;
      for (let j = 0; j < n; j++) {
        let s = 0;
        const o = items[j]! * nGenres;
        for (let g = 0; g < nGenres; g++) s += share[g]! * itemGenres[o + g]!;
        c[j] = s / total;
      }
    }
    return out;
  }
}

/** The featurizer of a loaded artifact and the user-side inputs it needs, by user row. */
export interface ArtifactCandidateFeatures {
  featurizer: CandidateFeaturizer;
  /** The user's latest interaction day (the user view's default for unknown users). */
  refDay(userRow: number | undefined): number;
}

/**
 * Builds the candidate featurizer of an artifact loaded with `itemEmbeddings`,
 * `itemPopularity`, `itemFeatures`, `userFeatures`, `itemNeighbors` and `itemTimeline`;
 * genres are the item view's `genre_k` columns.
 *
 * @throws RangeError when a needed part was not loaded
 */
export function artifactCandidateFeatures(a: LoadedArtifacts): ArtifactCandidateFeatures {
  const { manifest } = a;
  const nItems = a.itemIds.length;
  if (a.itemTimeline === undefined) throw new RangeError(`candidate features: artifact ${a.dir} has no item timeline`);
  const itemView = manifest.feature_views.item.features;
  const genreCols = itemView.flatMap((f, c) => (/^genre_[0-9]+$/.test(f.name) ? [c] : []));
  const iw = itemView.length;
  if (a.itemFeatures.length !== nItems * iw) throw new RangeError('candidate features: item features were not loaded');
  const itemGenres = new Float32Array(nItems * genreCols.length);
  for (let i = 0; i < nItems; i++) genreCols.forEach((c, g) => (itemGenres[i * genreCols.length + g] = a.itemFeatures[i * iw + c]!));
  const userView = manifest.feature_views.user.features;
  const lastCol = userView.findIndex((f) => f.name === 'user_last_ts_days');
  const uw = userView.length;
  const featurizer = new CandidateFeaturizer({
    nItems,
    dim: manifest.embedding_dim,
    itemEmbeddings: a.itemEmbeddings,
    itemPopularity: a.itemPopularity,
    ...(a.itemNeighbors ? { neighbors: a.itemNeighbors } : {}),
    timeline: a.itemTimeline,
    itemGenres,
    nGenres: genreCols.length,
  });
  return {
    featurizer,
    refDay: (row) => {
      if (lastCol < 0) return NaN;
      if (row === undefined || a.userFeatures.length < (row + 1) * uw) return userView[lastCol]!.default;
      return a.userFeatures[row * uw + lastCol]!;
    },
  };
}
