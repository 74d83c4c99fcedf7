/**
 * The first ranker: candidates from ALS, model inputs built with the same
 * `assembleRankerInput` the online ranker uses, a small MLP trained on validation labels
 * (docs/EVALUATION.md "Two-stage", stage A), and the offline metrics of retrieval alone
 * versus retrieval + ranker.
 */
import {
  assembleRankerInput,
  ndcgAtK,
  recallAtK,
  rocAuc,
  topKByDot,
  topKByScore,
  type RankerFeature,
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
 * The default ranker inputs (EVALUATION.md's feature table, named for serving):
 * ALS score, candidate rank, item popularity and mean rating, user activity and mean
 * rating, user–item genre overlap, release year, and days between the user's and the
 * item's latest interactions.
 */
export function defaultRankerFeatures(nGenres: number): RankerFeature[] {
  const genres = Array.from({ length: nGenres }, (_, k) => genreFeature(k));
  return [
    { name: 'als_score', kind: 'source_score', source: 'embedding', default: 0 },
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
  /** Retrieval (dot product) score of each. */
  scores: Float64Array;
}

/**
 * Top-`k` items by embedding dot product for each user, excluding the user's own history
 * items and items without any interaction in `history` (EVALUATION.md's candidate rule).
 */
export function retrieveCandidates(emb: Embeddings, history: History, users: readonly number[], k: number): CandidateList[] {
  const unseen = new Set<number>();
  const seen = new Uint8Array(history.nItems);
  for (const i of history.items) seen[i] = 1;
  seen.forEach((s, i) => {
    if (s === 0) unseen.add(i);
  });
  return users.map((u) => {
    const exclude = new Set(unseen);
    for (let p = history.userPtr[u]!; p < history.userPtr[u + 1]!; p++) exclude.add(history.items[p]!);
    const query = emb.user.subarray(u * emb.dim, (u + 1) * emb.dim);
    const top = topKByDot(emb.item, emb.dim, query, k, exclude);
    return { user: u, items: top.indices, scores: top.scores };
  });
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
  const scores = Float32Array.from(cands.scores);
  return assembleRankerInput(spec, { n, candidateScores: scores, sourceScores: { embedding: scores }, user, item });
}

/** Candidate positions re-ordered by `scores` descending; ties keep the retrieval order. */
export function rerank(scores: ArrayLike<number>): number[] {
  return Array.from({ length: scores.length }, (_, j) => j).sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/** Options of {@link trainRanker}. */
export interface RankerTrainOptions {
  /** Candidates per user (EVALUATION.md: 300). */
  candidates: number;
  /** Negative rows sampled per training user (all positives are kept). Default 50. */
  negativesPerUser: number;
  /** Share of the users with validation items held out to measure the ranker. Default 0.2. */
  holdoutFraction: number;
  /** MLP settings. */
  mlp: Partial<MlpTrainOptions>;
  seed: number;
  /** Progress in [0, 1] with a short note. */
  onProgress?: (fraction: number, note: string) => void;
}

/** Defaults of {@link trainRanker}. */
export const DEFAULT_RANKER_OPTIONS: Readonly<RankerTrainOptions> = {
  candidates: 300,
  negativesPerUser: 50,
  holdoutFraction: 0.2,
  mlp: {},
  seed: 42,
};

/** A trained ranker and how it did on held-out users. */
export interface TrainedRanker {
  spec: RankerFeature[];
  /** Takes raw (unstandardised) features; float32 weights, as exported. */
  mlp: Mlp;
  /**
   * `ranker_train_users`, `ranker_train_rows`, `ranker_holdout_users`, `val_auc`,
   * `val_ndcg_at_10_als` / `_ranker`, `val_recall_at_10_als` / `_ranker`.
   */
  metrics: Record<string, number>;
}

/** What {@link trainRanker} learns from (stage A). */
export interface RankerTrainingInput {
  /** The history the candidates, features and ALS model come from (`fit`). */
  history: History;
  snapshot: FeatureSnapshot;
  embeddings: Embeddings;
  /** Per user, the items to predict (`val`); users with none are not used. */
  targets: ReadonlyArray<ReadonlySet<number>>;
  spec: RankerFeature[];
}

/**
 * Trains the ranker (stage A): for every user with targets, the top-`candidates` ALS
 * items labelled 1 when in the user's targets. Users are split into training users and a
 * held-out share; training keeps users with ≥ 1 positive candidate, all their positives and
 * `negativesPerUser` sampled negatives; the held-out users measure AUC, NDCG@10 and
 * Recall@10 of the ranker against the ALS order.
 */
export function trainRanker(input: RankerTrainingInput, options: Partial<RankerTrainOptions> = {}): TrainedRanker {
  const o: RankerTrainOptions = { ...DEFAULT_RANKER_OPTIONS, ...options };
  const { spec } = input;
  const width = spec.length;
  const rng = createRng(o.seed);
  const users = input.targets.flatMap((t, u) => (t.size > 0 ? [u] : []));
  rng.shuffle(users);
  const nHoldout = Math.round(users.length * o.holdoutFraction);
  const holdout = users.slice(0, nHoldout).sort((a, b) => a - b);
  const training = users.slice(nHoldout).sort((a, b) => a - b);

  o.onProgress?.(0, 'retrieving candidates');
  const trainCands = retrieveCandidates(input.embeddings, input.history, training, o.candidates);
  const rows: number[] = [];
  const labels: number[] = [];
  let usersKept = 0;
  trainCands.forEach((c, idx) => {
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
    if (idx % 200 === 0) o.onProgress?.((0.3 * idx) / trainCands.length, 'building training rows');
  });
  const n = labels.length;
  if (n === 0 || !labels.includes(1)) throw new Error('ranker training: no positive candidates; the dataset is too small');

  const standardization = fitStandardization(rows, n, width);
  const xs = applyStandardization(rows, n, standardization);
  const trained = trainBinaryMlp(xs, labels, width, {
    seed: o.seed,
    ...o.mlp,
    onEpoch: (epoch, epochs, loss) => o.onProgress?.(0.3 + (0.6 * epoch) / epochs, `epoch ${epoch}/${epochs} log-loss ${loss.toFixed(4)}`),
  });
  const mlp = toFloat32(foldStandardization(trained, standardization));

  o.onProgress?.(0.9, 'validating on held-out users');
  const holdoutCands = retrieveCandidates(input.embeddings, input.history, holdout, o.candidates);
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
    val_ndcg_at_10_als: sums.ndcgAls / h,
    val_ndcg_at_10_ranker: sums.ndcgRanker / h,
    val_recall_at_10_als: sums.recallAls / h,
    val_recall_at_10_ranker: sums.recallRanker / h,
  };
  o.onProgress?.(1, `held-out AUC ${metrics['val_auc']!.toFixed(3)}`);
  return { spec, mlp, metrics };
}

/** Inputs of {@link evaluateTwoStage} (stage B: history = train, targets = test). */
export interface EvaluationInput {
  history: History;
  snapshot: FeatureSnapshot;
  embeddings: Embeddings;
  targets: ReadonlyArray<ReadonlySet<number>>;
  /** Score the candidates with this ranker too (two-stage metrics). */
  ranker?: { spec: RankerFeature[]; mlp: Mlp };
  candidates?: number;
  onProgress?: (fraction: number) => void;
}

/**
 * Offline metrics of EVALUATION.md over the users with ≥ 1 target: Recall@10, NDCG@10,
 * Recall@300 and Coverage@10 for popularity and ALS, and Recall@10, NDCG@10 and
 * Coverage@10 of ALS + ranker when a ranker is given. Keys: `<metric>_<method>`, e.g.
 * `ndcg_at_10_als`, plus `users`.
 */
export function evaluateTwoStage(input: EvaluationInput): Record<string, number> {
  const k = input.candidates ?? 300;
  const users = input.targets.flatMap((t, u) => (t.size > 0 ? [u] : []));
  const nItems = input.history.nItems;
  const popularity = new Float64Array(nItems);
  for (const i of input.history.items) popularity[i]!++;
  const unseen = new Set<number>();
  popularity.forEach((c, i) => {
    if (c === 0) unseen.add(i);
  });
  const methods = input.ranker ? ['pop', 'als', 'two_stage'] : ['pop', 'als'];
  const sums = new Map<string, number>();
  const add = (key: string, v: number): void => void sums.set(key, (sums.get(key) ?? 0) + v);
  const covered = new Map(methods.map((m) => [m, new Set<number>()]));
  const record = (method: string, ranked: ArrayLike<number>, t: ReadonlySet<number>): void => {
    add(`recall_at_10_${method}`, recallAtK(ranked, t, 10));
    add(`ndcg_at_10_${method}`, ndcgAtK(ranked, t, 10));
    if (method !== 'two_stage') add(`recall_at_${k}_${method}`, recallAtK(ranked, t, k, 'all'));
    const cov = covered.get(method)!;
    for (let r = 0; r < Math.min(10, ranked.length); r++) cov.add(ranked[r]!);
  };
  // Popularity order of the whole catalogue once (ties → lower index); per user, skip own items.
  const popOrder = topKByScore(popularity, nItems).indices;
  const candidates = retrieveCandidates(input.embeddings, input.history, users, k);
  candidates.forEach((c, idx) => {
    const u = c.user;
    const t = input.targets[u]!;
    const own = new Set(input.history.items.subarray(input.history.userPtr[u]!, input.history.userPtr[u + 1]!));
    const pop: number[] = [];
    for (let r = 0; r < popOrder.length && pop.length < k; r++) {
      const i = popOrder[r]!;
      if (!own.has(i) && !unseen.has(i)) pop.push(i);
    }
    record('pop', pop, t);
    record('als', c.items, t);
    if (input.ranker) {
      const pred = mlpForward(input.ranker.mlp, rankerInputFor(input.ranker.spec, input.snapshot, c), c.items.length);
      record('two_stage', rerank(pred).map((j) => c.items[j]!), t);
    }
    if (idx % 100 === 0) input.onProgress?.(idx / users.length);
  });
  const out: Record<string, number> = { users: users.length };
  for (const [key, v] of [...sums.entries()].sort()) out[key] = v / Math.max(1, users.length);
  for (const m of methods) out[`coverage_at_10_${m}`] = covered.get(m)!.size / nItems;
  input.onProgress?.(1);
  return out;
}
