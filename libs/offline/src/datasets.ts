/**
 * Datasets for the offline pipeline: the raw shape every source produces (synthetic today,
 * MovieLens loaders later), its indexed form, and the per-user temporal split of
 * docs/EVALUATION.md.
 */
import { createHash } from 'node:crypto';

/** One rating event. Every row counts as one implicit interaction, whatever its rating. */
export interface Interaction {
  /** Raw user id. */
  user: string;
  /** Raw item id. */
  item: string;
  /** Explicit rating, 0.5–5 in MovieLens. */
  rating: number;
  /** Unix time in seconds. */
  ts: number;
}

/** What is known about an item besides its interactions. */
export interface ItemMetadata {
  /** Genre names, each one of {@link Dataset.genres}. */
  genres: string[];
  /** Release year, when known. */
  year?: number;
  /** Human-readable title, when known. */
  title?: string;
}

/** A dataset as loaded from its source, before indexing. */
export interface Dataset {
  /** Short name, used as the artifact version prefix: `synthetic`, `ml-latest-small`, … */
  name: string;
  /** Where it came from (generator and parameters, or the files read). */
  source: string;
  /** Seed of a generated dataset. */
  seed?: number;
  /** The genre vocabulary; genre feature `genre_k` is `genres[k]`. */
  genres: string[];
  /** Every rating row. */
  interactions: Interaction[];
  /** Item metadata by raw item id; items without metadata get no genres and no year. */
  items: Map<string, ItemMetadata>;
}

/**
 * A dataset with internal indices: users and items that occur in the interactions, each
 * sorted by raw id ({@link compareIds}); interactions grouped by user (CSR), each user's
 * sorted by (timestamp, raw item id).
 */
export interface IndexedDataset {
  name: string;
  source: string;
  seed?: number;
  genres: string[];
  userIds: string[];
  itemIds: string[];
  /** items × genres, 1 when the item has the genre. */
  itemGenres: Uint8Array;
  /** Release year per item; NaN when unknown. */
  itemYear: Float64Array;
  /** User u's interactions are positions userPtr[u] … userPtr[u+1]−1. */
  userPtr: Int32Array;
  /** Item index of each interaction. */
  items: Int32Array;
  /** Rating of each interaction. */
  ratings: Float32Array;
  /** Unix seconds of each interaction. */
  ts: Float64Array;
}

/**
 * A user → items history over the full index space of an {@link IndexedDataset}
 * (a subset of its interactions), each user's interactions in chronological order.
 */
export interface History {
  nUsers: number;
  nItems: number;
  userPtr: Int32Array;
  items: Int32Array;
  ratings: Float32Array;
  ts: Float64Array;
}

const DIGITS = /^(0|[1-9][0-9]*)$/;

/**
 * Raw id order: numerically when both ids are plain non-negative integers (as in
 * MovieLens), else by UTF-16 code units; numbers sort before other strings.
 */
export function compareIds(a: string, b: string): number {
  const na = DIGITS.test(a);
  const nb = DIGITS.test(b);
  if (na && nb) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  if (na !== nb) return na ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Indexes a dataset per docs/EVALUATION.md: internal user and item indices in ascending raw
 * id order, only items that occur in the interactions (the catalogue), interactions
 * grouped by user and sorted by (timestamp, raw item id).
 *
 * @throws Error when an interaction has an empty id or a non-finite rating or timestamp,
 *   or item metadata names a genre outside the vocabulary
 */
export function indexDataset(ds: Dataset): IndexedDataset {
  const userSet = new Set<string>();
  const itemSet = new Set<string>();
  ds.interactions.forEach((r, i) => {
    if (!r.user || !r.item) throw new Error(`dataset ${ds.name}: interaction #${i} has an empty user or item id`);
    if (!Number.isFinite(r.rating) || !Number.isFinite(r.ts)) {
      throw new Error(`dataset ${ds.name}: interaction #${i} (user ${r.user}, item ${r.item}) has a non-finite rating or timestamp`);
    }
    userSet.add(r.user);
    itemSet.add(r.item);
  });
  const userIds = [...userSet].sort(compareIds);
  const itemIds = [...itemSet].sort(compareIds);
  const userIndex = new Map(userIds.map((id, i) => [id, i]));
  const itemIndex = new Map(itemIds.map((id, i) => [id, i]));

  const nUsers = userIds.length;
  const nnz = ds.interactions.length;
  const counts = new Int32Array(nUsers + 1);
  const rowUser = new Int32Array(nnz);
  const rowItem = new Int32Array(nnz);
  ds.interactions.forEach((r, i) => {
    const u = userIndex.get(r.user)!;
    rowUser[i] = u;
    rowItem[i] = itemIndex.get(r.item)!;
    counts[u + 1]!++;
  });
  const userPtr = new Int32Array(nUsers + 1);
  for (let u = 0; u < nUsers; u++) userPtr[u + 1] = userPtr[u]! + counts[u + 1]!;
  const fill = userPtr.slice(0, nUsers);
  const order = new Int32Array(nnz);
  for (let i = 0; i < nnz; i++) order[fill[rowUser[i]!]!++] = i;

  const items = new Int32Array(nnz);
  const ratings = new Float32Array(nnz);
  const ts = new Float64Array(nnz);
  for (let u = 0; u < nUsers; u++) {
    const rows = Array.from(order.subarray(userPtr[u]!, userPtr[u + 1]!));
    rows.sort((a, b) => ds.interactions[a]!.ts - ds.interactions[b]!.ts || rowItem[a]! - rowItem[b]! || a - b);
    rows.forEach((row, k) => {
      const p = userPtr[u]! + k;
      const r = ds.interactions[row]!;
      items[p] = rowItem[row]!;
      ratings[p] = r.rating;
      ts[p] = r.ts;
    });
  }

  const nGenres = ds.genres.length;
  const genreIndex = new Map(ds.genres.map((g, i) => [g, i]));
  const itemGenres = new Uint8Array(itemIds.length * nGenres);
  const itemYear = new Float64Array(itemIds.length).fill(NaN);
  itemIds.forEach((id, i) => {
    const meta = ds.items.get(id);
    if (meta === undefined) return;
    for (const g of meta.genres) {
      const k = genreIndex.get(g);
      if (k === undefined) throw new Error(`dataset ${ds.name}: item ${id} has genre "${g}", which is not in the genre list`);
      itemGenres[i * nGenres + k] = 1;
    }
    if (meta.year !== undefined && Number.isFinite(meta.year)) itemYear[i] = meta.year;
  });

  return {
    name: ds.name,
    source: ds.source,
    ...(ds.seed === undefined ? {} : { seed: ds.seed }),
    genres: [...ds.genres],
    userIds,
    itemIds,
    itemGenres,
    itemYear,
    userPtr,
    items,
    ratings,
    ts,
  };
}

/** Split part of an interaction: re-ranker fit, re-ranker validation, or test. */
export type SplitPart = 'fit' | 'val' | 'test';

/** Numeric codes of {@link SplitPart} in {@link splitByUser}'s output. */
export const PART_CODE: Readonly<Record<SplitPart, number>> = { fit: 0, val: 1, test: 2 };

/**
 * The temporal per-user split of docs/EVALUATION.md, exact: per user with n interactions
 * (already in (ts, raw item id) order), n < 5 → all fit; else the last (n+4)//5 are test;
 * of the remaining n_tr, if n_tr ≥ 5 the last (n_tr+9)//10 are val; the rest are fit.
 *
 * @returns one {@link PART_CODE} per interaction position of `ix`
 */
export function splitByUser(ix: IndexedDataset): Uint8Array {
  const part = new Uint8Array(ix.items.length);
  for (let u = 0; u + 1 < ix.userPtr.length; u++) {
    const start = ix.userPtr[u]!;
    const n = ix.userPtr[u + 1]! - start;
    if (n < 5) continue;
    const nTest = Math.floor((n + 4) / 5);
    const nTrain = n - nTest;
    const nVal = nTrain >= 5 ? Math.floor((nTrain + 9) / 10) : 0;
    part.fill(PART_CODE.val, start + nTrain - nVal, start + nTrain);
    part.fill(PART_CODE.test, start + nTrain, start + n);
  }
  return part;
}

/**
 * The history made of the interactions whose split part is in `parts`
 * (`['fit']` for re-ranker training, `['fit', 'val']` = train, all three = everything).
 */
export function selectHistory(ix: IndexedDataset, part: Uint8Array, parts: readonly SplitPart[]): History {
  const keep = new Set(parts.map((p) => PART_CODE[p]));
  const nUsers = ix.userIds.length;
  const userPtr = new Int32Array(nUsers + 1);
  let total = 0;
  for (let p = 0; p < part.length; p++) if (keep.has(part[p]!)) total++;
  const items = new Int32Array(total);
  const ratings = new Float32Array(total);
  const ts = new Float64Array(total);
  let w = 0;
  for (let u = 0; u < nUsers; u++) {
    for (let p = ix.userPtr[u]!; p < ix.userPtr[u + 1]!; p++) {
      if (!keep.has(part[p]!)) continue;
      items[w] = ix.items[p]!;
      ratings[w] = ix.ratings[p]!;
      ts[w] = ix.ts[p]!;
      w++;
    }
    userPtr[u + 1] = w;
  }
  return { nUsers, nItems: ix.itemIds.length, userPtr, items, ratings, ts };
}

/** Each user's item indices in one split part, as sets (empty for users without any). */
export function partItemSets(ix: IndexedDataset, part: Uint8Array, which: SplitPart): Array<Set<number>> {
  const code = PART_CODE[which];
  return ix.userIds.map((_, u) => {
    const s = new Set<number>();
    for (let p = ix.userPtr[u]!; p < ix.userPtr[u + 1]!; p++) if (part[p] === code) s.add(ix.items[p]!);
    return s;
  });
}

/**
 * The split fingerprint of docs/EVALUATION.md for one part: the interaction count and the
 * first 12 hex digits of the md5 of the little-endian int64 array
 * sort(raw_user·10^7 + raw_item). Needs integer raw ids (MovieLens).
 *
 * @throws Error when an id is not a plain integer
 */
export function splitFingerprint(ix: IndexedDataset, part: Uint8Array, which: SplitPart): { count: number; md5: string } {
  const code = PART_CODE[which];
  const keys: bigint[] = [];
  for (let u = 0; u < ix.userIds.length; u++) {
    const rawUser = ix.userIds[u]!;
    if (!DIGITS.test(rawUser)) throw new Error(`split fingerprint needs integer ids, got user "${rawUser}"`);
    for (let p = ix.userPtr[u]!; p < ix.userPtr[u + 1]!; p++) {
      if (part[p] !== code) continue;
      const rawItem = ix.itemIds[ix.items[p]!]!;
      if (!DIGITS.test(rawItem)) throw new Error(`split fingerprint needs integer ids, got item "${rawItem}"`);
      keys.push(BigInt(rawUser) * 10_000_000n + BigInt(rawItem));
    }
  }
  keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(keys.length * 8);
  keys.forEach((k, i) => buf.writeBigInt64LE(k, i * 8));
  return { count: keys.length, md5: createHash('md5').update(buf).digest('hex').slice(0, 12) };
}
