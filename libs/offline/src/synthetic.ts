/**
 * A deterministic synthetic ratings dataset shaped like MovieLens, so the whole pipeline can
 * be built and tested with nothing downloaded.
 *
 * Generative story: genres have latent centroids; items and users have latent factors drawn
 * around the centroids of their genres (so genres carry signal); item popularity follows a
 * Zipf-like law; each user picks items without replacement with probability
 * ∝ popularity × exp(affinity) (Gumbel top-k), only items already released during the
 * user's active period, at times after the item's release; ratings 0.5–5 in half steps
 * grow with affinity and item quality. Same options → same dataset, bit for bit.
 *
 * Cost O(interactions + items), not O(users × items): when the catalogue is larger than
 * a few times a user's count, the Gumbel top-k runs over a pool drawn from a proposal
 * (popularity overall and within the user's genres) with each key corrected by the
 * proposal's log-probability (importance weighting), so the catalogue is never scanned
 * per user.
 */
import { TopKHeap } from '@recsys/core';
import type { Dataset, Interaction, ItemMetadata } from './datasets';
import { createRng, type Rng } from './random';

/** The 18 MovieLens genres (without IMAX and "(no genres listed)"). */
export const SYNTHETIC_GENRES: readonly string[] = [
  'Action',
  'Adventure',
  'Animation',
  'Children',
  'Comedy',
  'Crime',
  'Documentary',
  'Drama',
  'Fantasy',
  'Film-Noir',
  'Horror',
  'Musical',
  'Mystery',
  'Romance',
  'Sci-Fi',
  'Thriller',
  'War',
  'Western',
];

/** Size and shape of a synthetic dataset. */
export interface SyntheticOptions {
  /** PRNG seed (32-bit integer). Default 42. */
  seed: number;
  /** Number of users. Default 2000. */
  users: number;
  /** Number of items. Default 3000. */
  items: number;
  /** Target number of interactions (the result is close, not exact). Default 100000. */
  interactions: number;
  /** Minimum interactions per user. Default 10. */
  minPerUser: number;
  /** Width of the hidden latent factors. Default 8. */
  latentDim: number;
  /** Strength of user–item affinity versus popularity. Default 2. */
  affinity: number;
  /** Zipf exponent of item popularity. Default 0.9. */
  zipf: number;
}

/** Defaults of {@link generateSynthetic}: ~100k interactions, builds in seconds. */
const DEFAULT_SYNTHETIC_OPTIONS: Readonly<SyntheticOptions> = {
  seed: 42,
  users: 2000,
  items: 3000,
  interactions: 100_000,
  minPerUser: 10,
  latentDim: 8,
  affinity: 2,
  zipf: 0.9,
};

const T_START = Date.UTC(2012, 0, 1) / 1000;
const T_END = Date.UTC(2020, 0, 1) / 1000;
const DAY = 86_400;

function sampleWeighted(rng: Rng, cumulative: Float64Array): number {
  const x = rng.float() * cumulative[cumulative.length - 1]!;
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function distinctGenres(rng: Rng, cumulative: Float64Array, count: number): number[] {
  const out: number[] = [];
  for (let tries = 0; out.length < count && tries < 50; tries++) {
    const g = sampleWeighted(rng, cumulative);
    if (!out.includes(g)) out.push(g);
  }
  return out.sort((a, b) => a - b);
}

/** Latent vector: 0.7 · mean of the genre centroids + 0.7 · N(0, I). */
function latent(rng: Rng, centroids: Float64Array[], genres: number[], dim: number): Float64Array {
  const v = new Float64Array(dim);
  for (let d = 0; d < dim; d++) {
    let c = 0;
    for (const g of genres) c += centroids[g]![d]!;
    v[d] = (0.7 * c) / Math.max(1, genres.length) + 0.7 * rng.normal();
  }
  return v;
}

/** Candidates drawn per chosen item when the catalogue is larger than this many per user's count. */
const POOL_FACTOR = 4;
/** Share of the proposal drawn from the whole catalogue by popularity; the rest from the user's genres. */
const GLOBAL_SHARE = 0.3;

/**
 * The proposal a user's candidate pool is drawn from, in O(log items) per draw: a mixture
 * of item popularity over the whole catalogue ({@link GLOBAL_SHARE}) and popularity within
 * each of the user's genres (the rest, split evenly), by binary search over cumulative
 * weights.
 */
class ItemProposal {
  private readonly cumulative: Float64Array;
  private readonly genreItems: Int32Array[];
  private readonly genreCumulative: Float64Array[];

  constructor(
    private readonly weight: Float64Array,
    private readonly itemGenres: readonly number[][],
    nGenres: number,
  ) {
    this.cumulative = cumulativeSum(weight, null);
    const members: number[][] = Array.from({ length: nGenres }, () => []);
    itemGenres.forEach((gs, i) => gs.forEach((g) => members[g]!.push(i)));
    this.genreItems = members.map((m) => Int32Array.from(m));
    this.genreCumulative = this.genreItems.map((m) => cumulativeSum(weight, m));
  }

  /** Distinct items drawn from the proposal for a user of `genres`, about `size` of them (fewer when draws repeat). */
  pool(rng: Rng, genres: readonly number[], size: number): Int32Array {
    const seen = new Set<number>();
    for (let draw = 0; seen.size < size && draw < 2 * size; draw++) {
      if (rng.float() < GLOBAL_SHARE) {
        seen.add(sampleWeighted(rng, this.cumulative));
      } else {
        const g = genres[rng.int(genres.length)]!;
        const cum = this.genreCumulative[g]!;
        if (cum.length > 0) seen.add(this.genreItems[g]![sampleWeighted(rng, cum)]!);
      }
    }
    return Int32Array.from(seen).sort();
  }

  /** Probability of one draw of {@link pool} giving item `i` for a user of `genres`. */
  probability(i: number, genres: readonly number[]): number {
    const w = this.weight[i]!;
    let p = (GLOBAL_SHARE * w) / this.cumulative[this.cumulative.length - 1]!;
    for (const g of genres) {
      if (!this.itemGenres[i]!.includes(g)) continue;
      const cum = this.genreCumulative[g]!;
      p += ((1 - GLOBAL_SHARE) / genres.length) * (w / cum[cum.length - 1]!);
    }
    return p;
  }
}

/** Running sums of `weight` over `indices` (every index when null). */
function cumulativeSum(weight: Float64Array, indices: ArrayLike<number> | null): Float64Array {
  const n = indices === null ? weight.length : indices.length;
  const out = new Float64Array(n);
  let acc = 0;
  for (let k = 0; k < n; k++) {
    acc += weight[indices === null ? k : indices[k]!]!;
    out[k] = acc;
  }
  return out;
}

/**
 * Generates a synthetic dataset (user and item ids are "1", "2", …, like MovieLens).
 *
 * @example
 * const ds = generateSynthetic({ seed: 7, users: 200, items: 300, interactions: 5000 });
 */
export function generateSynthetic(options: Partial<SyntheticOptions> = {}): Dataset {
  const o: SyntheticOptions = { ...DEFAULT_SYNTHETIC_OPTIONS, ...options };
  for (const key of ['users', 'items', 'interactions', 'minPerUser', 'latentDim'] as const) {
    if (!Number.isInteger(o[key]) || o[key] <= 0) throw new RangeError(`synthetic dataset: ${key} must be a positive integer, got ${o[key]}`);
  }
  if (!Number.isInteger(o.seed)) throw new RangeError(`synthetic dataset: seed must be an integer, got ${o.seed}`);
  const rng = createRng(o.seed);
  const dim = o.latentDim;
  const nGenres = SYNTHETIC_GENRES.length;

  const centroids = Array.from({ length: nGenres }, () => Float64Array.from({ length: dim }, () => 1.2 * rng.normal()));
  const genreWeight = rng.shuffle(Array.from({ length: nGenres }, (_, k) => 1 / Math.pow(k + 1, 0.7)));
  const genreCum = new Float64Array(nGenres);
  let acc = 0;
  genreWeight.forEach((w, k) => {
    acc += w;
    genreCum[k] = acc;
  });

  // Items: latent factors in one flat matrix, popularity by a shuffled Zipf rank.
  const itemVec = new Float64Array(o.items * dim);
  const itemWeight = new Float64Array(o.items);
  const itemQuality = new Float64Array(o.items);
  const itemAvailable = new Float64Array(o.items);
  const itemGenreLists: number[][] = [];
  const itemIds: string[] = [];
  const items = new Map<string, ItemMetadata>();
  const popRank = rng.shuffle(Int32Array.from({ length: o.items }, (_, i) => i));
  for (let i = 0; i < o.items; i++) {
    const extra = rng.float();
    const genres = distinctGenres(rng, genreCum, 1 + (extra < 0.45 ? 0 : extra < 0.8 ? 1 : 2));
    itemVec.set(latent(rng, centroids, genres, dim), i * dim);
    itemGenreLists.push(genres);
    itemWeight[i] = Math.pow(popRank[i]! + 1, -o.zipf);
    itemQuality[i] = 0.4 * rng.normal();
    const u = rng.float();
    const year = 1950 + Math.floor(70 * (1 - u * u));
    const release = Date.UTC(year, 0, 1) / 1000 + Math.floor(rng.float() * 365) * DAY;
    itemAvailable[i] = Math.max(T_START, release);
    const meta: ItemMetadata = { genres: genres.map((g) => SYNTHETIC_GENRES[g]!), title: `Synthetic Movie ${i + 1} (${year})` };
    if (rng.float() >= 0.03) meta.year = year;
    itemIds.push(String(i + 1));
    items.set(itemIds[i]!, meta);
  }
  const proposal = new ItemProposal(itemWeight, itemGenreLists, nGenres);

  // Users and their interactions.
  const sigma = 0.9;
  const mu = Math.log(o.interactions / o.users) - (sigma * sigma) / 2;
  const maxPerUser = Math.max(o.minPerUser, Math.floor(o.items / 4));
  const interactions: Interaction[] = [];
  const scale = o.affinity / Math.sqrt(dim);
  const affinityOf = (x: Float64Array, i: number): number => {
    let s = 0;
    for (let d = 0, off = i * dim; d < dim; d++) s += x[d]! * itemVec[off + d]!;
    return s * scale;
  };
  for (let u = 0; u < o.users; u++) {
    const genres = distinctGenres(rng, genreCum, 1 + rng.int(3));
    const x = latent(rng, centroids, genres, dim);
    const bias = 0.3 * rng.normal();
    const n = Math.min(maxPerUser, Math.max(o.minPerUser, Math.round(Math.exp(mu + sigma * rng.normal()))));
    const start = T_START + rng.float() * (T_END - T_START - 60 * DAY);
    const end = Math.min(T_END, start + 30 * DAY - 2 * 365 * DAY * Math.log(1 - rng.float()));

    // Gumbel top-n of log(popularity) + affinity over the candidates, each corrected by
    // −log of its proposal probability: every item when the catalogue is within
    // POOL_FACTOR · n (then the proposal is uniform), else a pool drawn from the proposal.
    const candidates = o.items <= POOL_FACTOR * n ? null : proposal.pool(rng, genres, POOL_FACTOR * n);
    const count = candidates === null ? o.items : candidates.length;
    const heap = new TopKHeap(n);
    for (let c = 0; c < count; c++) {
      const i = candidates === null ? c : candidates[c]!;
      const gumbel = -Math.log(-Math.log(rng.float() || Number.MIN_VALUE));
      if (itemAvailable[i]! > end) continue;
      const correction = candidates === null ? 0 : -Math.log(proposal.probability(i, genres));
      heap.offer(i, Math.log(itemWeight[i]!) + affinityOf(x, i) + correction + gumbel);
    }
    const chosen = Array.from(heap.result().indices).sort((a, b) => a - b);
    const userId = String(u + 1);
    for (const i of chosen) {
      const lo = Math.max(start, itemAvailable[i]!);
      const ts = Math.floor(lo + rng.float() * (end - lo));
      const raw = 2.4 + 0.4 * affinityOf(x, i) + itemQuality[i]! + bias + 0.7 * rng.normal();
      const rating = Math.min(5, Math.max(0.5, Math.round(raw * 2) / 2));
      interactions.push({ user: userId, item: itemIds[i]!, rating, ts });
    }
  }

  return {
    name: 'synthetic',
    source: `synthetic generator (seed ${o.seed}, ${o.users} users, ${o.items} items, ~${o.interactions} interactions)`,
    seed: o.seed,
    genres: [...SYNTHETIC_GENRES],
    interactions,
    items,
  };
}
