/**
 * User and item feature views computed from an interaction history, per the feature table
 * of docs/EVALUATION.md. The same functions produce the serving snapshot (history = all
 * interactions) and the training features (history = fit or train), so the ranker is
 * trained on exactly what it is served.
 */
import type { CandidateFeatureData, FeatureDefinition, FeatureViewSpec, ItemTimeline } from '@recsys/core';
import type { History } from './datasets';

/** Seconds per day, the unit of the `*_last_ts_days` features. */
export const SECONDS_PER_DAY = 86_400;

/** Item attributes that do not come from interactions. */
export interface ItemAttributes {
  /** Genre names; view features `genre_k` follow this order. */
  genres: readonly string[];
  /** items × genres, 1 when the item has the genre. */
  itemGenres: Uint8Array;
  /** Release year per item; NaN when unknown. */
  itemYear: Float64Array;
}

/** Feature views and their values for every user and item of a history. */
export interface FeatureSnapshot {
  views: { user: FeatureViewSpec; item: FeatureViewSpec };
  /** users × user view width, row-major. */
  userFeatures: Float32Array;
  /** items × item view width, row-major. */
  itemFeatures: Float32Array;
  /** Interaction count of each item in the history. */
  itemPopularity: Float32Array;
}

/** Name of the genre feature k, the same in the user and the item view. */
export function genreFeature(k: number): string {
  return `genre_${k}`;
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Rounds a default to float32 so the JSON default equals the stored column value. */
function f32(x: number): number {
  return Math.fround(x);
}

/**
 * Computes the user and item feature views of a history.
 *
 * Item view: `item_log_pop` ln(1 + #interactions), `item_mean_rating`, `item_year`,
 * `item_last_ts_days` (latest interaction, days since the epoch), `genre_k` ∈ {0, 1}.
 * User view: `user_activity` #interactions, `user_mean_rating`, `user_last_ts_days`,
 * `genre_k` = share of the user's interactions with genre k (Σ_j g_j normalised to sum 1;
 * all 0 for an empty history).
 * Entities without interactions get the view defaults, which are: 0 for counts and
 * genres, the history's mean rating, the median known year, the history's earliest day
 * for items and latest day for users.
 */
export function computeFeatures(history: History, attrs: ItemAttributes): FeatureSnapshot {
  const { nUsers, nItems } = history;
  const nGenres = attrs.genres.length;
  if (attrs.itemGenres.length !== nItems * nGenres || attrs.itemYear.length !== nItems) {
    throw new RangeError(`features: item attributes cover ${attrs.itemYear.length} items, the history has ${nItems}`);
  }

  const itemCount = new Float64Array(nItems);
  const itemRatingSum = new Float64Array(nItems);
  const itemLastTs = new Float64Array(nItems).fill(-Infinity);
  let ratingSum = 0;
  let minTs = Infinity;
  let maxTs = -Infinity;
  for (let u = 0; u < nUsers; u++) {
    for (let p = history.userPtr[u]!; p < history.userPtr[u + 1]!; p++) {
      const i = history.items[p]!;
      const ts = history.ts[p]!;
      itemCount[i]!++;
      itemRatingSum[i]! += history.ratings[p]!;
      if (ts > itemLastTs[i]!) itemLastTs[i] = ts;
      ratingSum += history.ratings[p]!;
      if (ts < minTs) minTs = ts;
      if (ts > maxTs) maxTs = ts;
    }
  }
  const total = history.items.length;
  const meanRating = total > 0 ? ratingSum / total : 0;
  const knownYears = Array.from(attrs.itemYear).filter((y) => Number.isFinite(y));
  const medianYear = knownYears.length > 0 ? median(knownYears) : 2000;
  const firstDay = total > 0 ? minTs / SECONDS_PER_DAY : 0;
  const lastDay = total > 0 ? maxTs / SECONDS_PER_DAY : 0;

  const genreDefs = (view: 'user' | 'item'): FeatureDefinition[] =>
    attrs.genres.map((g, k) => ({
      name: genreFeature(k),
      default: 0,
      description:
        view === 'item'
          ? `1 when the item has genre "${g}", else 0`
          : `share of the user's interactions with items of genre "${g}" (genre vectors summed, normalised to sum 1)`,
    }));
  const itemView: FeatureViewSpec = {
    name: 'item',
    entity: 'item',
    features: [
      { name: 'item_log_pop', default: 0, description: 'ln(1 + number of interactions with the item)' },
      { name: 'item_mean_rating', default: f32(meanRating), description: 'mean rating the item received (default: mean of all ratings)' },
      { name: 'item_year', default: f32(medianYear), description: 'release year (default: median release year)' },
      { name: 'item_last_ts_days', default: f32(firstDay), description: 'time of the latest interaction with the item, days since 1970-01-01 (default: earliest day of the history)' },
      ...genreDefs('item'),
    ],
  };
  const userView: FeatureViewSpec = {
    name: 'user',
    entity: 'user',
    features: [
      { name: 'user_activity', default: 0, description: 'number of interactions of the user' },
      { name: 'user_mean_rating', default: f32(meanRating), description: 'mean rating the user gave (default: mean of all ratings)' },
      { name: 'user_last_ts_days', default: f32(lastDay), description: "time of the user's latest interaction, days since 1970-01-01 (default: latest day of the history)" },
      ...genreDefs('user'),
    ],
  };

  const iw = itemView.features.length;
  const itemFeatures = new Float32Array(nItems * iw);
  const itemPopularity = new Float32Array(nItems);
  for (let i = 0; i < nItems; i++) {
    const o = i * iw;
    const c = itemCount[i]!;
    itemPopularity[i] = c;
    itemFeatures[o] = Math.log1p(c);
    itemFeatures[o + 1] = c > 0 ? itemRatingSum[i]! / c : itemView.features[1]!.default;
    const year = attrs.itemYear[i]!;
    itemFeatures[o + 2] = Number.isFinite(year) ? year : itemView.features[2]!.default;
    itemFeatures[o + 3] = c > 0 ? itemLastTs[i]! / SECONDS_PER_DAY : itemView.features[3]!.default;
    for (let k = 0; k < nGenres; k++) itemFeatures[o + 4 + k] = attrs.itemGenres[i * nGenres + k]!;
  }

  const uw = userView.features.length;
  const userFeatures = new Float32Array(nUsers * uw);
  const genreSum = new Float64Array(nGenres);
  for (let u = 0; u < nUsers; u++) {
    const o = u * uw;
    const start = history.userPtr[u]!;
    const end = history.userPtr[u + 1]!;
    const n = end - start;
    if (n === 0) {
      userView.features.forEach((f, k) => (userFeatures[o + k] = f.default));
      continue;
    }
    let rating = 0;
    let last = -Infinity;
    genreSum.fill(0);
    for (let p = start; p < end; p++) {
      const i = history.items[p]!;
      rating += history.ratings[p]!;
      if (history.ts[p]! > last) last = history.ts[p]!;
      for (let k = 0; k < nGenres; k++) genreSum[k]! += attrs.itemGenres[i * nGenres + k]!;
    }
    userFeatures[o] = n;
    userFeatures[o + 1] = rating / n;
    userFeatures[o + 2] = last / SECONDS_PER_DAY;
    let gs = 0;
    for (let k = 0; k < nGenres; k++) gs += genreSum[k]!;
    for (let k = 0; k < nGenres; k++) userFeatures[o + 3 + k] = gs > 0 ? genreSum[k]! / gs : 0;
  }
  return { views: { user: userView, item: itemView }, userFeatures, itemFeatures, itemPopularity };
}

/** Column index of a feature in a view. @throws Error when the view lacks it */
export function featureColumn(view: FeatureViewSpec, name: string): number {
  const c = view.features.findIndex((f) => f.name === name);
  if (c < 0) throw new Error(`feature view "${view.name}" has no feature "${name}"`);
  return c;
}

/** Every item's interaction days (days since 1970-01-01, float32), ascending: the artifact's `item_timeline.bin`. */
export function itemTimeline(history: History): ItemTimeline {
  const ptr = new Int32Array(history.nItems + 1);
  for (const i of history.items) ptr[i + 1]!++;
  for (let i = 0; i < history.nItems; i++) ptr[i + 1]! += ptr[i]!;
  const days = new Float32Array(history.items.length);
  const fill = ptr.slice(0, history.nItems);
  for (let p = 0; p < history.items.length; p++) days[fill[history.items[p]!]!++] = history.ts[p]! / SECONDS_PER_DAY;
  for (let i = 0; i < history.nItems; i++) days.subarray(ptr[i]!, ptr[i + 1]!).sort();
  return { ptr, days };
}

/** The candidate featurizer's inputs over one history (models trained on it, its timeline). */
export function candidateFeatureData(
  history: History,
  attrs: ItemAttributes,
  snapshot: FeatureSnapshot,
  models: { embeddings: { dim: number; item: Float32Array }; neighbors?: CandidateFeatureData['neighbors'] },
): CandidateFeatureData {
  return {
    nItems: history.nItems,
    dim: models.embeddings.dim,
    itemEmbeddings: models.embeddings.item,
    itemPopularity: snapshot.itemPopularity,
    ...(models.neighbors ? { neighbors: models.neighbors } : {}),
    timeline: itemTimeline(history),
    itemGenres: Float32Array.from(attrs.itemGenres),
    nGenres: attrs.genres.length,
  };
}
