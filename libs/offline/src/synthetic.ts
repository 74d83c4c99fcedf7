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

  // Items.
  const itemVec: Float64Array[] = [];
  const itemLogWeight = new Float64Array(o.items);
  const itemQuality = new Float64Array(o.items);
  const itemAvailable = new Float64Array(o.items);
  const items = new Map<string, ItemMetadata>();
  const popRank = rng.shuffle(Int32Array.from({ length: o.items }, (_, i) => i));
  for (let i = 0; i < o.items; i++) {
    const extra = rng.float();
    const genres = distinctGenres(rng, genreCum, 1 + (extra < 0.45 ? 0 : extra < 0.8 ? 1 : 2));
    itemVec.push(latent(rng, centroids, genres, dim));
    itemLogWeight[i] = -o.zipf * Math.log(popRank[i]! + 1);
    itemQuality[i] = 0.4 * rng.normal();
    const u = rng.float();
    const year = 1950 + Math.floor(70 * (1 - u * u));
    const release = Date.UTC(year, 0, 1) / 1000 + Math.floor(rng.float() * 365) * DAY;
    itemAvailable[i] = Math.max(T_START, release);
    const meta: ItemMetadata = { genres: genres.map((g) => SYNTHETIC_GENRES[g]!), title: `Synthetic Movie ${i + 1} (${year})` };
    if (rng.float() >= 0.03) meta.year = year;
    items.set(String(i + 1), meta);
  }

  // Users and their interactions.
  const sigma = 0.9;
  const mu = Math.log(o.interactions / o.users) - (sigma * sigma) / 2;
  const maxPerUser = Math.max(o.minPerUser, Math.floor(o.items / 4));
  const interactions: Interaction[] = [];
  const scale = o.affinity / Math.sqrt(dim);
  for (let u = 0; u < o.users; u++) {
    const genres = distinctGenres(rng, genreCum, 1 + rng.int(3));
    const x = latent(rng, centroids, genres, dim);
    const bias = 0.3 * rng.normal();
    const n = Math.min(maxPerUser, Math.max(o.minPerUser, Math.round(Math.exp(mu + sigma * rng.normal()))));
    const start = T_START + rng.float() * (T_END - T_START - 60 * DAY);
    const end = Math.min(T_END, start + 30 * DAY - 2 * 365 * DAY * Math.log(1 - rng.float()));

    const heap = new TopKHeap(n);
    const affinity = new Float64Array(o.items);
    for (let i = 0; i < o.items; i++) {
      const gumbel = -Math.log(-Math.log(rng.float() || Number.MIN_VALUE));
      if (itemAvailable[i]! > end) continue;
      const v = itemVec[i]!;
      let s = 0;
      for (let d = 0; d < dim; d++) s += x[d]! * v[d]!;
      affinity[i] = s * scale;
      heap.offer(i, itemLogWeight[i]! + affinity[i]! + gumbel);
    }
    const chosen = Array.from(heap.result().indices).sort((a, b) => a - b);
    for (const i of chosen) {
      const lo = Math.max(start, itemAvailable[i]!);
      const ts = Math.floor(lo + rng.float() * (end - lo));
      const raw = 2.4 + 0.4 * affinity[i]! + itemQuality[i]! + bias + 0.7 * rng.normal();
      const rating = Math.min(5, Math.max(0.5, Math.round(raw * 2) / 2));
      interactions.push({ user: String(u + 1), item: String(i + 1), rating, ts });
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
