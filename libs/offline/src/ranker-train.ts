/**
 * The ranker: candidates from the merged retrieval of `@recsys/core` (ALS, ItemKNN,
 * popularity; the same code the candidate generator runs), model inputs built with the same
 * `assembleRankerInput` the online ranker uses, a small MLP trained on validation labels
 * (docs/EVALUATION.md "Two-stage", stage A), and the offline metrics of retrieval alone
 * versus retrieval + ranker.
 */
import {
  assembleRankerInput,
  DEFAULT_RETRIEVAL_CONFIG,
  MergedRetriever,
  ndcgAtK,
  recallAtK,
  rocAuc,
  type ItemNeighbors,
  type RankerFeature,
  type RetrievalConfig,
  type RetrievalSource,
} from '@recsys/core';
import type { AlsModel } from './als';
import type { History } from './datasets';
import { genreFeature, type FeatureSnapshot } from './features';
import {
  applyStandardization,
  fitStandardization,
  foldStandardization,
  mlpForward,
  toFloat32,
  trainBinaryMlp,
  type Mlp,
  type MlpTrainOptions,
} from './mlp';
import { createRng } from './random';

/**
 * The default ranker inputs (docs/EVALUATION.md's feature table, named for serving, plus the
 * per-source retrieval scores): ALS score, ItemKNN score, fused retrieval score and rank
 * in the merged candidate list, item popularity and mean rating, user activity and mean
 * rating, user–item genre overlap, release year, and days between the user's and the
 * item's latest interactions.
 */
export function defaultRankerFeatures(nGenres: number): RankerFeature[] {
  const genres = Array.from({ length: nGenres }, (_, k) => genreFeature(k));
  return [
    { name: 'als_score', kind: 'source_score', source: 'embedding', default: 0 },
    { name: 'covis_score', kind: 'source_score', source: 'covisitation', default: 0 },
    { name: 'retrieval_score', kind: 'retrieval_score' },
    { name: 'retrieval_rank', kind: 'retrieval_rank' },
    { name: 'item_log_pop', kind: 'item', feature: 'item_log_pop' },
    { name: 'item_mean_rating', kind: 'item', feature: 'item_mean_rating' },
    { name: 'user_activity', kind: 'user', feature: 'user_activity' },
    { name: 'user_mean_rating', kind: 'user', feature: 'user_mean_rating' },
    { name: 'genre_overlap', kind: 'dot', user: genres, item: genres },
    { name: 'item_year', kind: 'item', feature: 'item_year' },
    { name: 'item_days_since_last', kind: 'diff', user: 'user_last_ts_days', item: 'item_last_ts_days', scale: 1 },
  ];
}

/** User and item embeddings as served (float32). */
export interface Embeddings {
  dim: number;
  /** users × dim. */
  user: Float32Array;
  /** items × dim. */
  item: Float32Array;
}

/** Float32 copies of an ALS model's factors, as the artifact stores them. */
export function alsEmbeddings(model: AlsModel): Embeddings {
  return { dim: model.factors, user: Float32Array.from(model.userFactors), item: Float32Array.from(model.itemFactors) };
}

/** One user's retrieval result. */
export interface CandidateList {
  user: number;
  /** Item indices, best first. */
  items: Int32Array;
  /** Merged (fused) retrieval score of each, float32 as served. */
  scores: Float32Array;
  /** Per-source scores, NaN where the source did not retrieve the item. */
  sourceScores: Partial<Record<RetrievalSource, Float32Array>>;
}

/** What the merged retrieval needs from training: models fit on one history. */
export interface RetrievalModels {
  embeddings: Embeddings;
  neighbors: ItemNeighbors;
  config?: RetrievalConfig;
}

/** The core retriever over in-memory models, with popularity counted from `history`. */
function retrieverFor(models: RetrievalModels, history: History): Promise<MergedRetriever> {
  const pop = new Float32Array(history.nItems);
  for (const i of history.items) pop[i]!++;
  return MergedRetriever.create({
    nItems: history.nItems,
    dim: models.embeddings.dim,
    itemEmbeddings: models.embeddings.item,
    itemPopularity: pop,
    neighbors: models.neighbors,
    config: models.config ?? DEFAULT_RETRIEVAL_CONFIG,
  });
}

/** User u's history items, newest first, each once: what the feature store sends as recent items. */
export function recentItems(history: History, u: number): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (let p = history.userPtr[u + 1]! - 1; p >= history.userPtr[u]!; p--) {
    const i = history.items[p]!;
    if (!seen.has(i)) {
      seen.add(i);
      out.push(i);
    }
  }
  return out;
}

/**
 * Merged top-`k` candidates for each user, excluding the user's own history items and
 * items without any interaction in `history` (docs/EVALUATION.md's candidate rule).
 */
export async function retrieveCandidates(models: RetrievalModels, history: History, users: readonly number[], k: number, only?: readonly RetrievalSource[]): Promise<CandidateList[]> {
  const retriever = await retrieverFor(models, history);
  const emb = models.embeddings;
  const out: CandidateList[] = [];
  for (const u of users) {
    const recent = recentItems(history, u);
    const r = await retriever.retrieve({
      userEmbedding: emb.user.subarray(u * emb.dim, (u + 1) * emb.dim),
      recentItems: recent,
      exclude: new Set(recent),
      n: k,
      ...(only ? { only } : {}),
    });
    out.push({ user: u, items: r.items, scores: r.scores, sourceScores: r.sourceScores });
  }
  await retriever.release();
  return out;
}

/**
 * Model input rows (candidates × spec) for one user's candidates, read from a feature
 * snapshot exactly the way the online ranker reads the feature store.
 */
export function rankerInputFor(spec: readonly RankerFeature[], snapshot: FeatureSnapshot, cands: CandidateList): Float32Array {
  const { user: userView, item: itemView } = snapshot.views;
  const uw = userView.features.length;
  const iw = itemView.features.length;
  const user = new Map<string, number>();
  userView.features.forEach((f, c) => user.set(f.name, snapshot.userFeatures[cands.user * uw + c]!));
  const n = cands.items.length;
  const item = new Map<string, Float32Array>();
  itemView.features.forEach((f, c) => {
    const col = new Float32Array(n);
    for (let j = 0; j < n; j++) col[j] = snapshot.itemFeatures[cands.items[j]! * iw + c]!;
    item.set(f.name, col);
  });
  return assembleRankerInput(spec, { n, candidateScores: cands.scores, sourceScores: cands.sourceScores, user, item });
}

/** Candidate positions re-ordered by `scores` descending; ties keep the retrieval order. */
export function rerank(scores: ArrayLike<number>): number[] {
  return Array.from({ length: scores.length }, (_, j) => j).sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/** Options of {@link trainRanker}. */
export interface RankerTrainOptions {
  /** Candidates per user (docs/EVALUATION.md: 300). */
  candidates: number;
  /** Negative rows sampled per training user (all positives are kept). Default 50. */
  negativesPerUser: number;
  /** Share of the users with validation items held out to measure the ranker. Default 0.2. */
  holdoutFraction: number;
  /** MLP settings. */
  mlp: Partial<MlpTrainOptions>;
  /**
   * After measuring on the held-out users, train the returned model again on all users
   * (same settings); the metrics stay those of the held-out measurement. Default false.
   */
  refit: boolean;
  seed: number;
  /** Progress in [0, 1] with a short note. */
  onProgress?: (fraction: number, note: string) => void;
}

/** Defaults of {@link trainRanker}. */
const DEFAULT_RANKER_OPTIONS: Readonly<RankerTrainOptions> = {
  candidates: 300,
  negativesPerUser: 50,
  holdoutFraction: 0.2,
  mlp: {},
  refit: false,
  seed: 42,
};

/** A trained ranker and how it did on held-out users. */
export interface TrainedRanker {
  spec: RankerFeature[];
  /** Takes raw (unstandardised) features; float32 weights, as exported. */
  mlp: Mlp;
  /**
   * `ranker_train_users`, `ranker_train_rows`, `ranker_holdout_users`, `val_auc`,
   * `val_ndcg_at_10_merged` / `_ranker`, `val_recall_at_10_merged` / `_ranker`.
   */
  metrics: Record<string, number>;
}

/** What {@link trainRanker} learns from (stage A). */
export interface RankerTrainingInput {
  /** The history the candidates, features and ALS model come from (`fit`). */
  history: History;
  snapshot: FeatureSnapshot;
  models: RetrievalModels;
  /** Per user, the items to predict (`val`); users with none are not used. */
  targets: ReadonlyArray<ReadonlySet<number>>;
  spec: RankerFeature[];
}

/**
 * Trains the ranker (stage A): for every user with targets, the top-`candidates` merged
 * retrieval items labelled 1 when in the user's targets. Users are split into training users and a
 * held-out share; training keeps users with ≥ 1 positive candidate, all their positives and
 * `negativesPerUser` sampled negatives; the held-out users measure AUC, NDCG@10 and
 * Recall@10 of the ranker against the merged retrieval order.
 */
export async function trainRanker(input: RankerTrainingInput, options: Partial<RankerTrainOptions> = {}): Promise<TrainedRanker> {
  const o: RankerTrainOptions = { ...DEFAULT_RANKER_OPTIONS, ...options };
  const { spec } = input;
  const width = spec.length;
  const rng = createRng(o.seed);
  const users = input.targets.flatMap((t, u) => (t.size > 0 ? [u] : []));
  rng.shuffle(users);
  const nHoldout = Math.round(users.length * o.holdoutFraction);
  const holdout = users.slice(0, nHoldout).sort((a, b) => a - b);
  const training = users.slice(nHoldout).sort((a, b) => a - b);

  /** Builds the labelled rows of `userList` and trains an MLP on them (progress from `p0` to `p1`). */
  const fit = async (userList: number[], p0: number, p1: number): Promise<{ mlp: Mlp; rows: number; users: number }> => {
    const at = (f: number): number => p0 + (p1 - p0) * f;
    o.onProgress?.(at(0), 'retrieving candidates');
    const cands = await retrieveCandidates(input.models, input.history, userList, o.candidates);
    const rows: number[] = [];
    const labels: number[] = [];
    let usersKept = 0;
    cands.forEach((c, idx) => {
      const t = input.targets[c.user]!;
      const label = Array.from(c.items, (i) => (t.has(i) ? 1 : 0));
      if (!label.includes(1)) return;
      usersKept++;
      const x = rankerInputFor(spec, input.snapshot, c);
      const negatives = rng.shuffle(label.flatMap((l, j) => (l === 0 ? [j] : [])));
      const keep = new Set([...label.flatMap((l, j) => (l === 1 ? [j] : [])), ...negatives.slice(0, o.negativesPerUser)]);
      for (const j of [...keep].sort((a, b) => a - b)) {
        for (let f = 0; f < width; f++) rows.push(x[j * width + f]!);
        labels.push(label[j]!);
      }
      if (idx % 200 === 0) o.onProgress?.(at((0.3 * idx) / cands.length), 'building training rows');
    });
    const n = labels.length;
    if (n === 0 || !labels.includes(1)) throw new Error('ranker training: no positive candidates; the dataset is too small');
    const standardization = fitStandardization(rows, n, width);
    const xs = applyStandardization(rows, n, standardization);
    const trained = trainBinaryMlp(xs, labels, width, {
      seed: o.seed,
      ...o.mlp,
      onEpoch: (epoch, epochs, loss) => o.onProgress?.(at(0.3 + (0.7 * epoch) / epochs), `epoch ${epoch}/${epochs} log-loss ${loss.toFixed(4)}`),
    });
    return { mlp: toFloat32(foldStandardization(trained, standardization)), rows: n, users: usersKept };
  };
  const refit = o.refit && holdout.length > 0;
  const first = await fit(training, 0, refit ? 0.45 : 0.9);
  const { mlp } = first;
  const n = first.rows;
  const usersKept = first.users;

  o.onProgress?.(refit ? 0.47 : 0.9, 'validating on held-out users');
  const holdoutCands = await retrieveCandidates(input.models, input.history, holdout, o.candidates);
  const allScores: number[] = [];
  const allLabels: number[] = [];
  const sums = { ndcgAls: 0, ndcgRanker: 0, recallAls: 0, recallRanker: 0 };
  for (const c of holdoutCands) {
    const t = input.targets[c.user]!;
    const pred = mlpForward(mlp, rankerInputFor(spec, input.snapshot, c), c.items.length);
    const ranked = rerank(pred).map((j) => c.items[j]!);
    sums.ndcgAls += ndcgAtK(c.items, t, 10);
    sums.ndcgRanker += ndcgAtK(ranked, t, 10);
    sums.recallAls += recallAtK(c.items, t, 10);
    sums.recallRanker += recallAtK(ranked, t, 10);
    c.items.forEach((i, j) => {
      allScores.push(pred[j]!);
      allLabels.push(t.has(i) ? 1 : 0);
    });
  }
  const h = Math.max(1, holdoutCands.length);
  const metrics: Record<string, number> = {
    ranker_train_users: usersKept,
    ranker_train_rows: n,
    ranker_holdout_users: holdoutCands.length,
    val_auc: rocAuc(allScores, allLabels),
    val_ndcg_at_10_merged: sums.ndcgAls / h,
    val_ndcg_at_10_ranker: sums.ndcgRanker / h,
    val_recall_at_10_merged: sums.recallAls / h,
    val_recall_at_10_ranker: sums.recallRanker / h,
  };
  if (refit) {
    // Settings and metrics come from the held-out users; the served model then learns from all of them.
    const all = await fit([...training, ...holdout].sort((a, b) => a - b), 0.5, 0.95);
    metrics['ranker_refit_users'] = all.users;
    metrics['ranker_refit_rows'] = all.rows;
    o.onProgress?.(1, `held-out AUC ${metrics['val_auc']!.toFixed(3)}; refit on all ${all.users} users`);
    return { spec, mlp: all.mlp, metrics };
  }
  o.onProgress?.(1, `held-out AUC ${metrics['val_auc']!.toFixed(3)}`);
  return { spec, mlp, metrics };
}

