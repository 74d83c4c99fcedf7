/**
 * The protocol's metrics (docs/EVALUATION.md) measured on a served artifact: every user of
 * the artifact's holdout is run through the same merged retrieval the candidate generator
 * runs (`@recsys/core` MergedRetriever, fed from the artifact's arrays and the user's
 * history as the feature store serves it) and the same ranker input assembly the ranker
 * runs. The model itself is a caller-supplied scorer (onnxruntime in the CLI), so that
 * this module stays pure and testable.
 */
import * as path from 'node:path';
import {
  ArtifactError,
  artifactCandidateFeatures,
  assembleRankerInput,
  servingConfig,
  DEFAULT_RETRIEVAL_CONFIG,
  MergedRetriever,
  openRetrievalIndex,
  type OpenIndexOptions,
  ndcgAtK,
  readVerifiedFile,
  recallAtK,
  type HoldoutFile,
  type LoadedArtifacts,
  type RetrievalSource,
} from '@recsys/core';

/** The four numbers of the protocol's table for one method. */
export interface MethodMetrics {
  'recall@10': number;
  'ndcg@10': number;
  'recall@300': number;
  'coverage@10': number;
}

/** Methods of the table, in print order. */
const EVALUATION_METHODS = ['popularity', 'als', 'itemknn', 'merged_retrieval', 'two_stage'] as const;
/** One row of the table. */
export type EvaluationMethod = (typeof EVALUATION_METHODS)[number];

/** What method runs which retrieval sources (`two_stage` = merged + ranker). */
const SOURCES_OF: Record<Exclude<EvaluationMethod, 'two_stage'>, readonly RetrievalSource[] | undefined> = {
  popularity: ['popularity'],
  als: ['embedding'],
  itemknn: ['covisitation'],
  merged_retrieval: undefined,
};

/** `evaluation.json`. */
export interface EvaluationReport {
  split: HoldoutFile['split'];
  /** Users with ≥ 1 held-out item: the average's denominator. */
  users: number;
  /** Catalogue size: the coverage denominator. */
  catalogue: number;
  artifact_version: string;
  results: Partial<Record<EvaluationMethod, MethodMetrics>>;
}

/** Scores the rows of a candidates × features float32 matrix (e.g. an ONNX session run). */
export type RowScorer = (features: Float32Array, rows: number, width: number) => Promise<ArrayLike<number>>;

/** Candidate positions by score descending, ties → lower position; NaN last (as the ranker orders). */
export function rankPositions(scores: ArrayLike<number>): number[] {
  const key = (i: number): number => (Number.isNaN(scores[i]!) ? -Infinity : scores[i]!);
  return Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => key(b) - key(a) || a - b);
}

/** Held-out item rows per user id (unknown items dropped: they cannot be recommended or scored). */
function holdoutTargets(a: LoadedArtifacts, holdout: HoldoutFile): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const [user, items] of Object.entries(holdout.targets)) {
    const rows = new Set<number>();
    for (const id of items) {
      const r = a.itemIndex.get(id);
      if (r !== undefined) rows.add(r);
    }
    if (rows.size > 0) out.set(user, rows);
  }
  return out;
}

/** Accumulates the protocol's averages for one method. */
class MetricAccumulator {
  private sums = { r10: 0, n10: 0, r300: 0 };
  private users = 0;
  private readonly covered = new Set<number | string>();

  /** Adds one user's ranked list (best first) against its targets. */
  add<T extends number | string>(ranked: ArrayLike<T>, targets: ReadonlySet<T>): void {
    this.sums.r10 += recallAtK(ranked, targets, 10);
    this.sums.n10 += ndcgAtK(ranked, targets, 10);
    this.sums.r300 += recallAtK(ranked, targets, 300, 'all');
    for (let r = 0; r < Math.min(10, ranked.length); r++) this.covered.add(ranked[r]!);
    this.users++;
  }

  /** The averages; coverage over `catalogue` items. */
  result(catalogue: number): MethodMetrics {
    const n = Math.max(1, this.users);
    return {
      'recall@10': this.sums.r10 / n,
      'ndcg@10': this.sums.n10 / n,
      'recall@300': this.sums.r300 / n,
      'coverage@10': this.covered.size / catalogue,
    };
  }
}

/**
 * Runs every holdout user through each retrieval source alone, the merged retrieval, and
 * the merged retrieval re-ranked by `score` (two-stage), and averages the protocol's
 * metrics. `a` must hold every part (loadArtifacts default).
 */
export async function evaluateArtifact(
  a: LoadedArtifacts,
  holdout: HoldoutFile,
  score: RowScorer,
  onProgress?: (fraction: number) => void,
  /** Receives every user's two-stage top 10 (item ids, best first), e.g. to compare with the mesh. */
  onTwoStage?: (userId: string, top10: string[]) => void,
  /** The embedding index, chosen as the candidate generator chooses it (RETRIEVAL_INDEX); default auto. */
  index: OpenIndexOptions = {},
): Promise<EvaluationReport> {
  const { manifest } = a;
  const dim = manifest.embedding_dim;
  const retriever = await MergedRetriever.create({
    index: await openRetrievalIndex(a, index),
    nItems: a.itemIds.length,
    dim,
    itemEmbeddings: a.itemEmbeddings,
    itemPopularity: a.itemPopularity,
    ...(a.itemNeighbors ? { neighbors: a.itemNeighbors } : {}),
    config: manifest.retrieval ?? DEFAULT_RETRIEVAL_CONFIG,
  });
  const spec = manifest.ranker.features;
  const candidateFeatures = spec.some((f) => f.kind === 'candidate') ? artifactCandidateFeatures(a) : undefined;
  const recentWindow = servingConfig(manifest).recent_items;
  const uw = manifest.feature_views.user.features.length;
  const iw = manifest.feature_views.item.features.length;
  const acc = new Map(EVALUATION_METHODS.map((m) => [m, new MetricAccumulator()]));
  const targets = holdoutTargets(a, holdout);
  let done = 0;
  for (const [userId, t] of targets) {
    const history = (a.userHistory.get(userId) ?? []).flatMap((id) => {
      const r = a.itemIndex.get(id);
      return r === undefined ? [] : [r];
    });
    const userRow = a.userIndex.get(userId);
    const query = {
      ...(userRow === undefined ? {} : { userEmbedding: a.userEmbeddings.subarray(userRow * dim, (userRow + 1) * dim) }),
      recentItems: history,
      exclude: new Set(history),
      n: 300,
    };
    for (const [method, only] of Object.entries(SOURCES_OF) as Array<[EvaluationMethod, readonly RetrievalSource[] | undefined]>) {
      const r = await retriever.retrieve(only ? { ...query, only } : query);
      acc.get(method)!.add(r.items, t);
      if (method !== 'merged_retrieval') continue;
      // Two-stage: the ranker's input exactly as the ranker service assembles it.
      const n = r.items.length;
      const user = new Map<string, number>();
      manifest.feature_views.user.features.forEach((f, c) => user.set(f.name, userRow === undefined ? f.default : a.userFeatures[userRow * uw + c]!));
      const item = new Map<string, Float32Array>();
      manifest.feature_views.item.features.forEach((f, c) => {
        const col = new Float32Array(n);
        for (let j = 0; j < n; j++) col[j] = a.itemFeatures[r.items[j]! * iw + c]!;
        item.set(f.name, col);
      });
      const cf = candidateFeatures?.featurizer.compute(
        { ...(query.userEmbedding ? { userEmbedding: query.userEmbedding } : {}), recentItems: history.slice(0, recentWindow), exclude: query.exclude, refDay: candidateFeatures.refDay(userRow) },
        r.items,
      );
      const x = assembleRankerInput(spec, { n, candidateScores: r.scores, sourceScores: r.sourceScores, user, item, ...(cf ? { candidateFeatures: cf } : {}) });
      const scores = n === 0 ? [] : await score(x, n, spec.length);
      const ranked = rankPositions(scores).map((j) => r.items[j]!);
      acc.get('two_stage')!.add(ranked, t);
      onTwoStage?.(userId, ranked.slice(0, 10).map((i) => a.itemIds[i]!));
    }
    done++;
    if (done % 50 === 0) onProgress?.(done / targets.size);
  }
  onProgress?.(1);
  await retriever.release();
  const results: EvaluationReport['results'] = {};
  for (const m of EVALUATION_METHODS) results[m] = acc.get(m)!.result(a.itemIds.length);
  return { split: holdout.split, users: targets.size, catalogue: a.itemIds.length, artifact_version: manifest.version, results };
}

/** The table printed by `npm run evaluate`. */
export function formatEvaluation(results: Partial<Record<string, MethodMetrics>>): string {
  const header = ['method', 'Recall@10', 'NDCG@10', 'Recall@300', 'Coverage@10'];
  const rows = Object.entries(results).map(([m, r]) => [m, ...(['recall@10', 'ndcg@10', 'recall@300', 'coverage@10'] as const).map((k) => (r && Number.isFinite(r[k]) ? r[k].toFixed(4) : '-'))]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const fmt = (r: string[]): string => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [fmt(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(fmt)].join('\n');
}

/**
 * Reads `holdout.json` of an evaluation artifact (built with `--history train`).
 *
 * @throws ArtifactError naming the directory when it is not one, or the file when it is malformed
 */
export function readHoldout(a: LoadedArtifacts): HoldoutFile {
  const name = a.manifest.holdout_file;
  if (a.manifest.history !== 'train' || name === undefined) {
    throw new ArtifactError(
      a.dir,
      `is not an evaluation artifact (history ${a.manifest.history ?? 'all'}, no holdout file); build one with \`npm run artifacts -- ... --history train\``,
    );
  }
  const file = path.join(a.dir, name);
  try {
    return JSON.parse(readVerifiedFile(a.dir, a.manifest, name).toString('utf8')) as HoldoutFile;
  } catch (err) {
    if (err instanceof ArtifactError) throw err;
    throw new ArtifactError(file, `malformed JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** One answer of the serving mesh to a k = 10 request, as {@link evaluateOnline} needs it. */
export interface OnlineAnswer {
  itemIds: string[];
  /** `artifact/model` versions that served it. */
  version: string;
  /** Reasons of degraded stages (none for a comparable answer). */
  degraded: string[];
}

/**
 * Two-stage metrics of a serving mesh: `recommend` (GatewayService/Recommend with k = 10,
 * supplied by the caller) for every holdout user, `concurrency` at a time. A degraded
 * answer stops the run: its metrics would not be comparable with the offline ones.
 */
export async function evaluateOnline(
  a: LoadedArtifacts,
  holdout: HoldoutFile,
  recommend: (userId: string) => Promise<OnlineAnswer>,
  concurrency: number,
  onProgress: (fraction: number) => void = () => {},
): Promise<{ metrics: MethodMetrics; versions: Set<string>; lists: Map<string, string[]> }> {
  const targets = holdoutTargets(a, holdout);
  const users = [...targets.keys()];
  const lists = new Map<string, string[]>();
  const versions = new Set<string>();
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < users.length) {
        const userId = users[next++]!;
        const res = await recommend(userId);
        if (res.degraded.length > 0) {
          throw new Error(`user ${userId}: the mesh answered degraded (${res.degraded.join('; ')}); online metrics would not be comparable`);
        }
        versions.add(res.version);
        lists.set(userId, res.itemIds);
        if (++done % 50 === 0) onProgress(done / users.length);
      }
    }),
  );
  onProgress(1);
  const acc = new MetricAccumulator();
  for (const u of users) {
    const rows = lists.get(u)!.map((id) => a.itemIndex.get(id) ?? -1);
    acc.add(rows, targets.get(u)!);
  }
  return { metrics: acc.result(a.itemIds.length), versions, lists };
}
