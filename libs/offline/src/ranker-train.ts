/**
 * The ranker: candidates from the merged retrieval of `@recsys/core` (ALS, ItemKNN,
 * popularity; the same code the candidate generator runs), model inputs built with the same
 * `assembleRankerInput` the online ranker uses, gradient-boosted trees (or a small MLP) trained on validation labels
 * (docs/EVALUATION.md "Two-stage", stage A), and the offline metrics of retrieval alone
 * versus retrieval + ranker.
 */
import {
  assembleRankerInput,
  CANDIDATE_FEATURES,
  DEFAULT_RETRIEVAL_CONFIG,
  MergedRetriever,
  ndcgAtK,
  recallAtK,
  rocAuc,
  type CandidateFeaturizer,
  type ItemNeighbors,
  type RankerFeature,
  type RetrievalConfig,
  type RetrievalSource,
} from '@recsys/core';
import type { AlsModel } from './als';
import type { History } from './datasets';
import { genreFeature, type FeatureSnapshot } from './features';
import { averageGbdt, DEFAULT_GBDT_OPTIONS, gbdtGainShares, gbdtScore, trainGbdt, type GbdtModel, type GbdtOptions } from './gbdt';
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
import { createRng, type Rng } from './random';

/**
 * The default ranker inputs (docs/EVALUATION.md's feature table, named for serving, plus the
 * per-source retrieval scores): ALS score, ItemKNN score, fused retrieval score and rank
 * in the merged candidate list, item popularity and mean rating, user activity and mean
 * rating, user–item genre overlap, release year, and days between the user's and the
 * item's latest interactions. With `candidateFeatures`, every feature of
 * {@link CANDIDATE_FEATURES} follows (ALS score and rank for every candidate, item-to-item
 * scores over the whole recent history and the newest 1/3/5 items, windowed popularity,
 * item age, genre overlap with the newest 10 items).
 */
export function defaultRankerFeatures(nGenres: number, candidateFeatures = false): RankerFeature[] {
  const genres = Array.from({ length: nGenres }, (_, k) => genreFeature(k));
  return [
    { name: 'als_source_score', kind: 'source_score', source: 'embedding', default: 0 },
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
    ...(candidateFeatures ? CANDIDATE_FEATURES.map((f): RankerFeature => ({ name: f.name, kind: 'candidate', feature: f.name, default: f.default })) : []),
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

/** How a user appears to the ranker: known (its row) or as an unknown, cold-start user. */
export type RankerUser = { row: number } | { row?: undefined };

/**
 * Model input rows (candidates × spec) for one user's candidates, read from a feature
 * snapshot exactly the way the online ranker reads the feature store (an unknown user gets
 * the user view's defaults), with the candidate features the candidate generator would send.
 */
export function rankerInputFor(
  spec: readonly RankerFeature[],
  snapshot: FeatureSnapshot,
  cands: CandidateList,
  candidateFeatures?: ReadonlyMap<string, ArrayLike<number>>,
  who: RankerUser = { row: cands.user },
): Float32Array {
  const { user: userView, item: itemView } = snapshot.views;
  const uw = userView.features.length;
  const iw = itemView.features.length;
  const user = new Map<string, number>();
  userView.features.forEach((f, c) => user.set(f.name, who.row === undefined ? f.default : snapshot.userFeatures[who.row * uw + c]!));
  const n = cands.items.length;
  const item = new Map<string, Float32Array>();
  itemView.features.forEach((f, c) => {
    const col = new Float32Array(n);
    for (let j = 0; j < n; j++) col[j] = snapshot.itemFeatures[cands.items[j]! * iw + c]!;
    item.set(f.name, col);
  });
  return assembleRankerInput(spec, { n, candidateScores: cands.scores, sourceScores: cands.sourceScores, user, item, ...(candidateFeatures ? { candidateFeatures } : {}) });
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
  /**
   * At most this many users with validation items are used (training and held out
   * together), sampled by the seed: each one costs a retrieval over the whole catalogue
   * and the candidate features, so the phase stays bounded on millions of users. Default
   * 10,000 (every user of MovieLens up to ml-1m).
   */
  maxUsers: number;
  /** The model: gradient-boosted trees (default) or the MLP. */
  model: 'gbdt' | 'mlp';
  /** MLP settings. */
  mlp: Partial<MlpTrainOptions>;
  /** GBDT settings; with `earlyStopping`, trees are early-stopped on the held-out users' NDCG@10. */
  gbdt: Partial<Omit<GbdtOptions, 'seed' | 'onProgress'>>;
  /**
   * GBDT: stop the trees early on the held-out users (default true); false trains exactly
   * `gbdt.trees` trees, a count chosen beforehand on validation.
   */
  earlyStopping: boolean;
  /**
   * GBDT: every model is the average of this many ensembles, each trained with its own
   * seed (negatives, cold-start users, row and column samples), exported as one ensemble
   * ({@link averageGbdt}). Default 1.
   */
  bags: number;
  /**
   * Share of the training users also added as cold-start rows: the same targets, ranked as
   * an unknown user is served (popularity candidates, default user features, no history).
   * Default 0.2.
   */
  coldStartFraction: number;
  /**
   * After measuring on the held-out users, train the returned model again on all users
   * (same settings; GBDT with the early-stopped tree count); the metrics stay those of
   * the held-out measurement. Default false.
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
  maxUsers: 10_000,
  model: 'gbdt',
  mlp: {},
  gbdt: {},
  earlyStopping: true,
  bags: 1,
  coldStartFraction: 0.2,
  refit: false,
  seed: 42,
};

/** A trained ranker and how it did on held-out users. */
export interface TrainedRanker {
  spec: RankerFeature[];
  kind: 'gbdt' | 'mlp';
  /** With `kind` mlp: takes raw (unstandardised) features; float32 weights, as exported. */
  mlp?: Mlp;
  /** With `kind` gbdt. */
  gbdt?: GbdtModel;
  /**
   * `ranker_train_users`, `ranker_train_rows`, `ranker_holdout_users`, `val_auc`,
   * `val_ndcg_at_10_merged` / `_ranker`, `val_recall_at_10_merged` / `_ranker`,
   * `ranker_trees` (GBDT), `gain_share_<feature>` (GBDT).
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
  /** Candidate features over `history` (needed when the spec has `candidate` features). */
  candidateFeatures?: CandidateFeaturizer;
  /** Recent items the feature store serves (the manifest's `serving.recent_items`). Default 1000. */
  recentItems?: number;
}

/** One user's candidates and model input, known or as a cold-start user. */
interface UserRows {
  cands: CandidateList;
  x: Float32Array;
}

/**
 * Stage-A rows over one training input: each user's candidates and model input, as served
 * to a known or an unknown user (cached with `keepRows`, for models trained again on the
 * same users), labelled training rows of a list
 * of users (negatives and cold-start users drawn from `rng`), and held-out users' rows.
 */
async function stageARows(input: RankerTrainingInput, o: RankerTrainOptions, rng: Rng, keepRows: boolean) {
  const { spec } = input;
  const width = spec.length;
  const window = input.recentItems ?? 1000;
  const retriever = await retrieverFor(input.models, input.history);
  const emb = input.models.embeddings;
  const lastDayCol = input.snapshot.views.user.features.findIndex((f) => f.name === 'user_last_ts_days');
  const uw = input.snapshot.views.user.features.length;

  /**
   * Candidates and model input of user u, as served to a known user or to an unknown one;
   * kept only with `keepRows` (300 rows × every feature per user add up on many users).
   */
  const cache = new Map<string, UserRows>();
  const rowsOf = async (u: number, cold: boolean): Promise<UserRows> => {
    const key = `${u}${cold ? 'c' : 'k'}`;
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const made = await computeRows(u, cold);
    if (keepRows) cache.set(key, made);
    return made;
  };
  const computeRows = async (u: number, cold: boolean): Promise<UserRows> => {
    const recent = cold ? [] : recentItems(input.history, u);
    const userEmbedding = cold ? undefined : emb.user.subarray(u * emb.dim, (u + 1) * emb.dim);
    const exclude = new Set(recent);
    const r = await retriever.retrieve({ ...(userEmbedding ? { userEmbedding } : {}), recentItems: recent, exclude, n: o.candidates });
    const cands: CandidateList = { user: u, items: r.items, scores: r.scores, sourceScores: r.sourceScores };
    const refDay =
      lastDayCol < 0 ? NaN : cold ? input.snapshot.views.user.features[lastDayCol]!.default : input.snapshot.userFeatures[u * uw + lastDayCol]!;
    const cf = input.candidateFeatures?.compute({ ...(userEmbedding ? { userEmbedding } : {}), recentItems: recent.slice(0, window), exclude, refDay }, r.items);
    return { cands, x: rankerInputFor(spec, input.snapshot, cands, cf, cold ? {} : { row: u }) };
  };

  /** Labelled rows of `userList` (progress from `p0` to `p1`), grouped per user. */
  const buildRows = async (userList: number[], p0: number, p1: number) => {
    const rows: number[] = [];
    const labels: number[] = [];
    const groupPtr: number[] = [0];
    let usersKept = 0;
    const cold = new Set(rng.shuffle([...userList]).slice(0, Math.round(userList.length * o.coldStartFraction)));
    const jobs: Array<[number, boolean]> = userList.flatMap((u): Array<[number, boolean]> => (cold.has(u) ? [[u, false], [u, true]] : [[u, false]]));
    for (const [idx, [u, isCold]] of jobs.entries()) {
      const t = input.targets[u]!;
      const { cands: c, x } = await rowsOf(u, isCold);
      const label = Array.from(c.items, (i) => (t.has(i) ? 1 : 0));
      if (!label.includes(1)) continue;
      if (!isCold) usersKept++;
      const negatives = rng.shuffle(label.flatMap((l, j) => (l === 0 ? [j] : [])));
      const keep = new Set([...label.flatMap((l, j) => (l === 1 ? [j] : [])), ...negatives.slice(0, o.negativesPerUser)]);
      for (const j of [...keep].sort((a, b) => a - b)) {
        for (let f = 0; f < width; f++) rows.push(x[j * width + f]!);
        labels.push(label[j]!);
      }
      groupPtr.push(labels.length);
      if (idx % 100 === 0) o.onProgress?.(p0 + ((p1 - p0) * idx) / jobs.length, 'building training rows');
    }
    if (labels.length === 0 || !labels.includes(1)) throw new Error('ranker training: no positive candidates; the dataset is too small');
    return { x: Float32Array.from(rows), labels, groupPtr: Int32Array.from(groupPtr), users: usersKept };
  };

  /** Known users' rows over all their candidates, and the mean NDCG@10 of ranking each by `pred` (one score per row). */
  const heldOut = async (userList: readonly number[]) => {
    const held: Array<{ u: number } & UserRows> = [];
    for (const u of userList) held.push({ u, ...(await rowsOf(u, false)) });
    const x = new Float32Array(held.reduce((a, h) => a + h.x.length, 0));
    const ptr: number[] = [0];
    for (const h of held) {
      x.set(h.x, ptr[ptr.length - 1]! * width);
      ptr.push(ptr[ptr.length - 1]! + h.cands.items.length);
    }
    const ndcg = (pred: ArrayLike<number>): number => {
      let sum = 0;
      held.forEach((h, k) => {
        const part = Array.from({ length: h.cands.items.length }, (_, j) => pred[ptr[k]! + j]!);
        sum += ndcgAtK(rerank(part).map((j) => h.cands.items[j]!), input.targets[h.u]!, 10);
      });
      return sum / Math.max(1, held.length);
    };
    return { users: held, x, rows: ptr[ptr.length - 1]!, ndcg };
  };
  return { buildRows, heldOut, release: () => retriever.release() };
}

/**
 * Trains the ranker (stage A): for every user with targets, the top-`candidates` merged
 * retrieval items labelled 1 when in the user's targets. Users are split into training users and a
 * held-out share; training keeps users with ≥ 1 positive candidate, all their positives and
 * `negativesPerUser` sampled negatives (plus cold-start rows of a share of them); the
 * held-out users stop the trees early and measure AUC, NDCG@10 and Recall@10 of the ranker
 * against the merged retrieval order.
 */
export async function trainRanker(input: RankerTrainingInput, options: Partial<RankerTrainOptions> = {}): Promise<TrainedRanker> {
  const o: RankerTrainOptions = { ...DEFAULT_RANKER_OPTIONS, ...options };
  const { spec } = input;
  const width = spec.length;
  if (spec.some((f) => f.kind === 'candidate') && input.candidateFeatures === undefined) {
    throw new Error('ranker training: the spec uses candidate features, but no candidate featurizer was given');
  }
  if (!(Number.isInteger(o.bags) && o.bags >= 1 && o.bags <= 16)) throw new RangeError(`ranker training: bags must be an integer in 1..16, got ${o.bags}`);
  const rng = createRng(o.seed);
  if (!Number.isInteger(o.maxUsers) || o.maxUsers < 2) throw new RangeError(`ranker training: maxUsers must be an integer >= 2, got ${o.maxUsers}`);
  const users = input.targets.flatMap((t, u) => (t.size > 0 ? [u] : []));
  rng.shuffle(users);
  users.length = Math.min(users.length, o.maxUsers);
  const nHoldout = Math.round(users.length * o.holdoutFraction);
  const holdout = users.slice(0, nHoldout).sort((a, b) => a - b);
  const training = users.slice(nHoldout).sort((a, b) => a - b);
  const stage = await stageARows(input, o, rng, o.refit);
  const { buildRows } = stage;
  o.onProgress?.(0, 'candidates of held-out users');
  const { users: held, x: heldX, rows: heldRows, ndcg: heldNdcg } = await stage.heldOut(holdout);

  /**
   * Trains one model on `userList`; GBDT early-stops on the held-out users unless `trees`
   * is fixed or early stopping is off, and averages `o.bags` ensembles.
   */
  const fit = async (userList: number[], p0: number, p1: number, trees?: number) => {
    if (o.model === 'gbdt') {
      const bags: GbdtModel[] = [];
      let rows = 0;
      let kept = 0;
      const stopEarly = trees === undefined && o.earlyStopping && held.length > 0;
      for (let b = 0; b < o.bags; b++) {
        const q0 = p0 + ((p1 - p0) * b) / o.bags;
        const q1 = p0 + ((p1 - p0) * (b + 1)) / o.bags;
        const at = (f: number): number => q0 + (q1 - q0) * (0.3 + 0.7 * f);
        const data = await buildRows(userList, q0, q0 + 0.3 * (q1 - q0));
        const bag = o.bags > 1 ? `bag ${b + 1}/${o.bags} ` : '';
        bags.push(
          trainGbdt(
            { x: data.x, rows: data.labels.length, features: width, labels: data.labels, groupPtr: data.groupPtr },
            { ...o.gbdt, ...(trees === undefined ? {} : { trees }), seed: o.seed + b, onProgress: (t, max, note) => o.onProgress?.(at(t / max), bag + note) },
            stopEarly ? { x: heldX, rows: heldRows, metric: heldNdcg } : undefined,
          ),
        );
        rows += data.labels.length;
        kept = data.users;
      }
      return { kind: 'gbdt' as const, gbdt: averageGbdt(bags), rows, users: kept, treesPerBag: Math.max(1, ...bags.map((m) => m.trees.length)) };
    }
    const data = await buildRows(userList, p0, p0 + 0.3 * (p1 - p0));
    const at = (f: number): number => p0 + (p1 - p0) * (0.3 + 0.7 * f);
    const n = data.labels.length;
    const xs0 = Array.from(data.x);
    const standardization = fitStandardization(xs0, n, width);
    const xs = applyStandardization(xs0, n, standardization);
    const trained = trainBinaryMlp(xs, data.labels, width, {
      seed: o.seed,
      ...o.mlp,
      onEpoch: (epoch, epochs, loss) => o.onProgress?.(at(epoch / epochs), `epoch ${epoch}/${epochs} log-loss ${loss.toFixed(4)}`),
    });
    return { kind: 'mlp' as const, mlp: toFloat32(foldStandardization(trained, standardization)), rows: n, users: data.users };
  };
  const scoreRows = (m: Awaited<ReturnType<typeof fit>>, x: Float32Array, rows: number): ArrayLike<number> =>
    m.kind === 'gbdt' ? gbdtScore(m.gbdt, x, rows) : mlpForward(m.mlp, x, rows);

  const refit = o.refit && holdout.length > 0;
  const first = await fit(training, 0.02, refit ? 0.5 : 0.95);

  o.onProgress?.(refit ? 0.5 : 0.95, 'validating on held-out users');
  const allScores: number[] = [];
  const allLabels: number[] = [];
  const sums = { ndcgAls: 0, ndcgRanker: 0, recallAls: 0, recallRanker: 0 };
  for (const h of held) {
    const c = h.cands;
    const t = input.targets[c.user]!;
    const pred = scoreRows(first, h.x, c.items.length);
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
  const hn = Math.max(1, held.length);
  const metrics: Record<string, number> = {
    ranker_train_users: first.users,
    ranker_train_rows: first.rows,
    ranker_holdout_users: held.length,
    val_auc: rocAuc(allScores, allLabels),
    val_ndcg_at_10_merged: sums.ndcgAls / hn,
    val_ndcg_at_10_ranker: sums.ndcgRanker / hn,
    val_recall_at_10_merged: sums.recallAls / hn,
    val_recall_at_10_ranker: sums.recallRanker / hn,
  };
  let final = first;
  if (refit) {
    // Settings and metrics come from the held-out users; the served model then learns from all of them.
    final = await fit([...training, ...holdout].sort((a, b) => a - b), 0.5, 0.98, first.kind === 'gbdt' ? first.treesPerBag : undefined);
    metrics['ranker_refit_users'] = final.users;
    metrics['ranker_refit_rows'] = final.rows;
  }
  await stage.release();
  if (final.kind === 'gbdt') {
    metrics['ranker_trees'] = final.gbdt.trees.length;
    metrics['ranker_bags'] = o.bags;
    const shares = gbdtGainShares(final.gbdt);
    spec.forEach((f, c) => (metrics[`gain_share_${f.name}`] = shares[c]!));
  }
  o.onProgress?.(1, `held-out NDCG@10 ${metrics['val_ndcg_at_10_ranker']!.toFixed(4)} (retrieval order ${metrics['val_ndcg_at_10_merged']!.toFixed(4)})${refit ? `; refit on all ${final.users} users` : ''}`);
  return final.kind === 'gbdt' ? { spec, kind: 'gbdt', gbdt: final.gbdt, metrics } : { spec, kind: 'mlp', mlp: final.mlp, metrics };
}

/** What {@link crossValidateRanker} measured. */
export interface RankerCrossValidation {
  /** Tree counts at which the folds were measured (every `gbdt.evalEvery` trees, and the last). */
  trees: number[];
  /** Mean over the folds of the held-out fold's NDCG@10 at each count. */
  ndcg: number[];
  /** The same per fold. */
  folds: number[][];
}

/**
 * K-fold cross-validation of GBDT ranker settings on stage A, to choose them (tree count
 * included) on validation only: the users with targets are dealt into `folds` folds; per
 * fold, the settings' model (all its bags, each with its own negatives and cold-start
 * users) is trained on the other folds' users, and the fold's users are ranked over all
 * their candidates, their NDCG@10 recorded every `gbdt.evalEvery` trees up to
 * `gbdt.trees` (no early stopping).
 */
export async function crossValidateRanker(input: RankerTrainingInput, options: Partial<RankerTrainOptions> = {}, folds = 5): Promise<RankerCrossValidation> {
  const o: RankerTrainOptions = { ...DEFAULT_RANKER_OPTIONS, ...options };
  if (o.model !== 'gbdt') throw new Error(`ranker cross-validation: model must be gbdt, got ${o.model}`);
  if (!(Number.isInteger(folds) && folds >= 2 && folds <= 20)) throw new RangeError(`ranker cross-validation: folds must be an integer in 2..20, got ${folds}`);
  if (!(Number.isInteger(o.bags) && o.bags >= 1 && o.bags <= 16)) throw new RangeError(`ranker training: bags must be an integer in 1..16, got ${o.bags}`);
  if (input.spec.some((f) => f.kind === 'candidate') && input.candidateFeatures === undefined) {
    throw new Error('ranker training: the spec uses candidate features, but no candidate featurizer was given');
  }
  const width = input.spec.length;
  const rng = createRng(o.seed);
  if (!Number.isInteger(o.maxUsers) || o.maxUsers < 2) throw new RangeError(`ranker training: maxUsers must be an integer >= 2, got ${o.maxUsers}`);
  const users = rng.shuffle(input.targets.flatMap((t, u) => (t.size > 0 ? [u] : [])));
  users.length = Math.min(users.length, o.maxUsers);
  if (users.length < folds) throw new RangeError(`ranker cross-validation: ${users.length} users with targets for ${folds} folds`);
  const stage = await stageARows(input, o, rng, true);
  const perFold: number[][] = [];
  const steps = folds * o.bags;
  for (let k = 0; k < folds; k++) {
    const fold = await stage.heldOut(users.filter((_, i) => i % folds === k).sort((a, b) => a - b));
    const rest = users.filter((_, i) => i % folds !== k).sort((a, b) => a - b);
    /** Σ over the bags of the fold's raw scores at each measured count. */
    const sums: Float64Array[] = [];
    for (let b = 0; b < o.bags; b++) {
      const step = k * o.bags + b;
      const at = (f: number): number => (step + f) / steps;
      const data = await stage.buildRows(rest, at(0), at(0.3));
      let c = 0;
      trainGbdt(
        { x: data.x, rows: data.labels.length, features: width, labels: data.labels, groupPtr: data.groupPtr },
        { ...o.gbdt, patience: Infinity, seed: o.seed + b, onProgress: (t, max, note) => o.onProgress?.(at(0.3 + (0.7 * t) / max), `fold ${k + 1}/${folds} bag ${b + 1}/${o.bags} ${note}`) },
        {
          x: fold.x,
          rows: fold.rows,
          metric: (raw) => {
            const acc = (sums[c] ??= new Float64Array(raw.length));
            for (let r = 0; r < raw.length; r++) acc[r]! += raw[r]!;
            c++;
            return fold.ndcg(raw);
          },
        },
      );
    }
    perFold.push(sums.map((acc) => fold.ndcg(acc)));
  }
  await stage.release();
  const measured = Math.min(...perFold.map((f) => f.length));
  const every = o.gbdt.evalEvery ?? DEFAULT_GBDT_OPTIONS.evalEvery;
  const trees = Array.from({ length: measured }, (_, i) => Math.min((i + 1) * every, o.gbdt.trees ?? DEFAULT_GBDT_OPTIONS.trees));
  const ndcg = trees.map((_, i) => perFold.reduce((a, f) => a + f[i]!, 0) / folds);
  o.onProgress?.(1, `cross-validated NDCG@10 peaks at ${ndcg.reduce((a, v) => Math.max(a, v), 0).toFixed(4)}`);
  return { trees, ndcg, folds: perFold.map((f) => f.slice(0, measured)) };
}
