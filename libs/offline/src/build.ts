/**
 * The offline pipeline end to end: dataset → split → retrieval models (ALS, ItemKNN) →
 * features → ranker → ONNX → artifact directory. Deterministic: the same dataset, seed and
 * options give the same files and so the same version.
 *
 * By default the served parts (embeddings, neighbour lists, feature snapshot, user
 * histories, popularity) are built from the protocol's train part (fit + val) and the test
 * part is written to `holdout.json`: the artifact is then exactly the protocol's stage B,
 * and `npm run evaluate` (offline or through a running mesh) measures what is served.
 * `history: 'all'` builds a production artifact from every interaction instead.
 */
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  ARTIFACT_FILES,
  ArtifactError,
  CandidateFeaturizer,
  CURRENT_FILE,
  DEFAULT_HNSW_PARAMS,
  DEFAULT_RETRIEVAL_CONFIG,
  eligibleItems,
  HnswIndex,
  loadArtifacts,
  parseHnswParams,
  type ArtifactIndexSpec,
  type HnswParams,
  type HoldoutFile,
  type IndexChoice,
  type RankerSpec,
  type RetrievalConfig,
  type ServingConfig,
} from '@recsys/core';
import { trainAls, type AlsOptions } from './als';
import { itemKnn } from './item-knn';
import { loadMovieLens } from './movielens';
import { writeArtifact } from './artifact-writer';
import { indexDataset, partItemSets, selectHistory, splitByUser, splitFingerprint, type Dataset, type History, type IndexedDataset, type SplitPart } from './datasets';
import { candidateFeatureData, computeFeatures, itemTimeline, type ItemAttributes } from './features';
import { exportGbdtToOnnx } from './gbdt';
import { exportMlpToOnnx } from './onnx-export';
import { alsEmbeddings, defaultRankerFeatures, trainRanker, type RankerTrainOptions } from './ranker-train';
import { PhaseProgressBar, type ProgressStream } from './progress-bar';
import { generateSynthetic, type SyntheticOptions } from './synthetic';

/** Datasets {@link buildArtifacts} can build from. */
export type DatasetName = 'synthetic' | 'movielens';

/** The phases of a build, in order. */
export const BUILD_PHASES = ['dataset', 'split', 'retrieval-fit', 'ranker', 'retrieval-serve', 'features', 'export', 'index', 'write'] as const;
/** One phase of {@link BUILD_PHASES}. */
export type BuildPhase = (typeof BUILD_PHASES)[number];

/** Human-readable phase titles, for progress displays. */
export const PHASE_TITLES: Readonly<Record<BuildPhase, string>> = {
  dataset: 'load dataset',
  split: 'split per user',
  'retrieval-fit': 'ALS + ItemKNN on fit part',
  ranker: 'train ranker',
  'retrieval-serve': 'ALS + ItemKNN to serve',
  features: 'feature snapshot',
  export: 'export ONNX',
  index: 'HNSW index',
  write: 'write artifact',
};

/** A progress report: `fraction` of `phase` is done (1 = finished). */
export interface BuildProgress {
  phase: BuildPhase;
  fraction: number;
  /** Short note, e.g. `iteration 3/15 loss 1.2e5`. */
  note?: string;
}

/**
 * Serving parameters written into new artifacts: the whole history (up to 1000 items, the
 * wire limit) for the candidate features, 300 candidates (docs/EVALUATION.md).
 */
export const DEFAULT_BUILD_SERVING: Readonly<ServingConfig> = { recent_items: 1000, num_candidates: 300 };

/** Options of {@link buildArtifacts}. */
export interface BuildOptions {
  /** Which dataset. Default `synthetic`. */
  dataset?: DatasetName;
  /** Directory of a MovieLens dataset (either layout); required for `movielens`. */
  dataPath?: string;
  /**
   * History the served parts are built from: `train` (default; test held out in
   * `holdout.json` for `npm run evaluate`) or `all` (production, nothing held out).
   */
  history?: 'train' | 'all';
  /** Merge settings of the candidate generator (default {@link DEFAULT_RETRIEVAL_CONFIG}). */
  retrieval?: RetrievalConfig;
  /** Neighbours kept per item in the ItemKNN lists. Default 100. */
  knnK?: number;
  /** Serving parameters for the manifest (default {@link DEFAULT_BUILD_SERVING}). */
  serving?: Partial<ServingConfig>;
  /** Seed of the dataset generator and of every training step. Default 42. */
  seed?: number;
  /** Artifact root; the version directory is created inside and `CURRENT` updated. */
  outRoot: string;
  /** Progress callback (phases in {@link BUILD_PHASES} order; `evaluate` may be skipped). */
  onProgress?: (progress: BuildProgress) => void;
  /** Overrides of the synthetic generator (size, shape). */
  synthetic?: Partial<Omit<SyntheticOptions, 'seed'>>;
  /** Overrides of ALS; defaults: synthetic f = 32, α = 20; MovieLens f = 32, α = 5 (λ = 0.05, 15 iterations). */
  als?: Partial<Omit<AlsOptions, 'onProgress' | 'seed'>>;
  /** Overrides of ranker training. */
  ranker?: Partial<Omit<RankerTrainOptions, 'onProgress' | 'seed'>>;
  /**
   * Approximate index of the embedding source: `hnsw` builds one, `exact` none, `auto`
   * (default) one when the catalogue has at least {@link hnswMinItems} items.
   */
  index?: IndexChoice;
  /** Catalogue size from which `auto` builds the HNSW index. Default {@link DEFAULT_HNSW_MIN_ITEMS}. */
  hnswMinItems?: number;
  /** HNSW parameters (default {@link DEFAULT_HNSW_PARAMS}). */
  hnsw?: Partial<HnswParams>;
  /** Point `CURRENT` at the new version. Default true. */
  setCurrent?: boolean;
  /** Creation time for the manifest (default now); e.g. from SOURCE_DATE_EPOCH. */
  created?: Date;
}

/** What a build produced. */
export interface BuildSummary {
  version: string;
  /** Absolute version directory. */
  dir: string;
  /** Absolute artifact root. */
  root: string;
  dataset: string;
  users: number;
  items: number;
  interactions: number;
  embeddingDim: number;
  rankerFeatures: number;
  /** File name → size in bytes. */
  files: Record<string, number>;
  totalBytes: number;
  metrics: Record<string, number>;
  /** Split fingerprints (MovieLens: integer ids), to match runs with docs/EVALUATION.md. */
  split?: HoldoutFile['split'];
  /** History the served parts come from. */
  history: 'train' | 'all';
  /** Milliseconds per phase. */
  timings: Partial<Record<BuildPhase, number>>;
  /** The process's peak resident set (bytes) at the end of each phase: the high-water mark up to and including it. */
  peakRss: Partial<Record<BuildPhase, number>>;
  totalMs: number;
  /** True when an identical version already existed and was kept. */
  reused: boolean;
}

/**
 * Catalogue size from which `--index auto` builds an HNSW index: below it the exact ONNX
 * search of one query takes about 3 ms or less on one core (README, Scale), as fast as
 * the approximate one is allowed to be.
 */
export const DEFAULT_HNSW_MIN_ITEMS = 200_000;

/** Builds the HNSW graphs of `embeddings` (eligible items only) into buffers named `item_index.<b>.usearch`. */
function buildHnswFiles(
  embeddings: { item: Float32Array; dim: number },
  popularity: Float32Array,
  params: HnswParams,
  onProgress: (fraction: number) => void,
): { spec: ArtifactIndexSpec; files: Map<string, Buffer> } {
  const built = HnswIndex.build(embeddings.item, embeddings.dim, params, { eligible: eligibleItems(popularity), onProgress });
  const tmp = mkdtempSync(path.join(tmpdir(), 'recsys-hnsw-'));
  try {
    const buckets = built.save(path.join(tmp, 'item_index'));
    const files = new Map(buckets.map((b) => [b.file, readFileSync(path.join(tmp, b.file))] as const));
    return { spec: { kind: 'hnsw', params, files: buckets }, files };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** ALS settings used for the synthetic dataset: small enough to build in seconds. */
const SYNTHETIC_ALS_OPTIONS: Readonly<Partial<AlsOptions>> = { factors: 32, alpha: 20, lambda: 0.05, iterations: 15 };

/**
 * ALS settings used for MovieLens: f = 32, α = 5, the best of docs/EVALUATION.md's 9-point grid
 * by validation (never chosen on test).
 */
const MOVIELENS_ALS_OPTIONS: Readonly<Partial<AlsOptions>> = { factors: 32, alpha: 5, lambda: 0.05, iterations: 15 };

/**
 * Ranker settings used for MovieLens, chosen by 5-fold cross-validated NDCG@10 over the
 * validation users, averaged over seeds 42, 1 and 2 (never on test; see README, Quality):
 * logistic beat pairwise (0.1284 against 0.1225), 100 negatives per user beat all 300
 * candidates, and the tree count is fixed where the mean curve peaks instead of
 * early-stopped on one small held-out share; three bagged ensembles flatten the curve
 * around that count. The MLP settings come from an earlier grid.
 */
const MOVIELENS_RANKER_OPTIONS: Readonly<Partial<RankerTrainOptions>> = {
  negativesPerUser: 100,
  model: 'gbdt',
  gbdt: { objective: 'logistic', learningRate: 0.05, trees: 100, evalEvery: 10 },
  earlyStopping: false,
  bags: 3,
  mlp: { hidden: [32], epochs: 20 },
  refit: true,
};

/** Ranker settings used for the synthetic dataset: fewer trees, so `npm start`'s first build stays quick. */
const SYNTHETIC_RANKER_OPTIONS: Readonly<Partial<RankerTrainOptions>> = { gbdt: { trees: 60, maxDepth: 5 } };

function loadDataset(name: DatasetName, seed: number, options: BuildOptions): Dataset {
  switch (name) {
    case 'synthetic':
      return generateSynthetic({ ...options.synthetic, seed });
    case 'movielens':
      if (options.dataPath === undefined) throw new Error('dataset movielens needs a data directory (--data DIR)');
      return loadMovieLens(options.dataPath);
    default:
      throw new Error(`unknown dataset "${String(name)}" (supported: synthetic, movielens)`);
  }
}

/** Fingerprints of the three parts, or none when the ids are not integers. */
function fingerprints(ix: IndexedDataset, part: Uint8Array): HoldoutFile['split'] {
  try {
    const out: HoldoutFile['split'] = {};
    for (const p of ['fit', 'val', 'test'] as SplitPart[]) out[p] = splitFingerprint(ix, part, p);
    return out;
  } catch {
    return {};
  }
}

/** User id → seen item ids, newest first, each item once. */
function historyIds(history: History, userIds: readonly string[], itemIds: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  userIds.forEach((id, u) => {
    const seen = new Set<number>();
    const items: string[] = [];
    for (let p = history.userPtr[u + 1]! - 1; p >= history.userPtr[u]!; p--) {
      const i = history.items[p]!;
      if (seen.has(i)) continue;
      seen.add(i);
      items.push(itemIds[i]!);
    }
    out.set(id, items);
  });
  return out;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Builds an artifact: generates (or loads) the dataset, splits it per user, trains ALS and
 * ItemKNN on the fit part and the ranker on validation labels over the merged candidates
 * (stage A), trains the served ALS and ItemKNN on the served history (train or all),
 * computes the served feature snapshot, exports the ranker to ONNX and writes the version
 * directory (with `holdout.json` when the test part is held out).
 *
 * @example
 * const summary = await buildArtifacts({ outRoot: 'artifacts', seed: 42,
 *   onProgress: (p) => console.error(p.phase, p.fraction) });
 * console.log(summary.version, summary.dir);
 */
export async function buildArtifacts(options: BuildOptions): Promise<BuildSummary> {
  const datasetName = options.dataset ?? 'synthetic';
  const seed = options.seed ?? 42;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in 0..4294967295, got ${seed}`);
  // Fail before minutes of work, not after, when the output root is unusable.
  try {
    mkdirSync(options.outRoot, { recursive: true });
    accessSync(options.outRoot, constants.W_OK);
  } catch (err) {
    throw new Error(`cannot write to artifact root ${path.resolve(options.outRoot)}: ${(err as Error).message}`, { cause: err });
  }
  const report = options.onProgress ?? ((): void => undefined);
  const timings: Partial<Record<BuildPhase, number>> = {};
  const peakRss: Partial<Record<BuildPhase, number>> = {};
  const started = Date.now();
  const phase = async <T>(name: BuildPhase, run: () => T | Promise<T>): Promise<T> => {
    report({ phase: name, fraction: 0 });
    await tick();
    const t0 = Date.now();
    // Awaited, so an asynchronous phase (the ranker's retrieval) is timed to its end.
    const result = await run();
    timings[name] = Date.now() - t0;
    peakRss[name] = process.resourceUsage().maxRSS * 1024;
    report({ phase: name, fraction: 1 });
    return result;
  };
  const baseAls = datasetName === 'movielens' ? MOVIELENS_ALS_OPTIONS : SYNTHETIC_ALS_OPTIONS;
  const retrievalConfig = options.retrieval ?? DEFAULT_RETRIEVAL_CONFIG;
  const historyKind = options.history ?? 'train';
  const serving: ServingConfig = { ...DEFAULT_BUILD_SERVING, ...options.serving };
  const knnK = options.knnK ?? 100;
  /** ALS (70% of the phase) then ItemKNN (30%) on one history. */
  const retrievalModels = (name: BuildPhase, history: History) => {
    const als = trainAls(history, {
      ...baseAls,
      computeLoss: false,
      ...options.als,
      seed,
      onProgress: (p) => report({ phase: name, fraction: (0.7 * p.iteration) / p.iterations, note: `ALS iter ${p.iteration}/${p.iterations}${p.loss === undefined ? '' : ` loss ${p.loss.toExponential(2)}`}` }),
    });
    const neighbors = itemKnn(history, knnK, (f) => report({ phase: name, fraction: 0.7 + 0.3 * f, note: 'ItemKNN' }));
    return { embeddings: alsEmbeddings(als), neighbors, config: retrievalConfig };
  };

  const dataset = await phase('dataset', () => loadDataset(datasetName, seed, options));
  const split = await phase('split', () => {
    const ix = indexDataset(dataset);
    const part = splitByUser(ix);
    const attrs: ItemAttributes = { genres: ix.genres, itemGenres: ix.itemGenres, itemYear: ix.itemYear };
    return {
      ix,
      part,
      attrs,
      fit: selectHistory(ix, part, ['fit']),
      served: selectHistory(ix, part, historyKind === 'train' ? ['fit', 'val'] : ['fit', 'val', 'test']),
      val: partItemSets(ix, part, 'val'),
      fingerprints: fingerprints(ix, part),
    };
  });
  const { ix, attrs } = split;
  if (split.fingerprints['fit']) {
    const f = split.fingerprints;
    report({ phase: 'split', fraction: 1, note: `fit ${f['fit']!.count} ${f['fit']!.md5}, val ${f['val']!.count} ${f['val']!.md5}, test ${f['test']!.count} ${f['test']!.md5}` });
  }
  const spec = defaultRankerFeatures(ix.genres.length, true);

  const fitModels = await phase('retrieval-fit', () => retrievalModels('retrieval-fit', split.fit));
  const ranker = await phase('ranker', () => {
    const fitSnapshot = computeFeatures(split.fit, attrs);
    return trainRanker(
      {
        history: split.fit,
        snapshot: fitSnapshot,
        models: fitModels,
        targets: split.val,
        spec,
        candidateFeatures: new CandidateFeaturizer(candidateFeatureData(split.fit, attrs, fitSnapshot, fitModels)),
        recentItems: serving.recent_items,
      },
      { ...(datasetName === 'movielens' ? MOVIELENS_RANKER_OPTIONS : SYNTHETIC_RANKER_OPTIONS), ...options.ranker, seed, onProgress: (fraction, note) => report({ phase: 'ranker', fraction, note }) },
    );
  });
  const metrics: Record<string, number> = { ...ranker.metrics };
  const served = await phase('retrieval-serve', () => retrievalModels('retrieval-serve', split.served));
  const snapshot = await phase('features', () => computeFeatures(split.served, attrs));
  const rankerSpec: RankerSpec = { file: 'ranker.onnx', input: 'features', output: 'score', features: spec };
  const model = await phase('export', () =>
    ranker.gbdt !== undefined
      ? exportGbdtToOnnx(ranker.gbdt, {
          featureSpec: spec,
          inputName: rankerSpec.input,
          outputName: rankerSpec.output,
          docString: `recsys ranker: ${ranker.gbdt.trees.length} boosted trees over ${spec.length} features, trained on ${dataset.name} (seed ${seed})`,
        })
      : exportMlpToOnnx(ranker.mlp!, {
          featureSpec: spec,
          inputName: rankerSpec.input,
          outputName: rankerSpec.output,
          docString: `recsys ranker: MLP ${ranker.mlp!.layers.map((l) => l.outputs).join('-')} over ${spec.length} features, trained on ${dataset.name} (seed ${seed})`,
        }),
  );
  const embeddings = served.embeddings;
  const indexChoice = options.index ?? 'auto';
  const wantIndex = indexChoice === 'hnsw' || (indexChoice === 'auto' && ix.itemIds.length >= (options.hnswMinItems ?? DEFAULT_HNSW_MIN_ITEMS));
  const hnswParams = parseHnswParams({ ...DEFAULT_HNSW_PARAMS, ...options.hnsw }, 'hnsw');
  // The phase always runs (progress shows every phase); below the threshold it builds nothing.
  const retrievalIndex = await phase('index', () =>
    wantIndex ? buildHnswFiles(embeddings, snapshot.itemPopularity, hnswParams, (f) => report({ phase: 'index', fraction: f, note: `${Math.round(f * 100)}% of items added` })) : undefined,
  );
  let holdout: HoldoutFile | undefined;
  if (historyKind === 'train') {
    const targets: Record<string, string[]> = {};
    partItemSets(ix, split.part, 'test').forEach((items, u) => {
      if (items.size > 0) targets[ix.userIds[u]!] = [...items].sort((a, b) => a - b).map((i) => ix.itemIds[i]!);
    });
    holdout = { part: 'test', split: split.fingerprints, targets };
  }
  const written = await phase('write', () =>
    writeArtifact(
      options.outRoot,
      {
        dataset: {
          name: dataset.name,
          source: dataset.source,
          users: ix.userIds.length,
          items: ix.itemIds.length,
          interactions: dataset.interactions.length,
          ...(dataset.seed === undefined ? {} : { seed: dataset.seed }),
        },
        itemIds: ix.itemIds,
        userIds: ix.userIds,
        embeddingDim: embeddings.dim,
        itemEmbeddings: embeddings.item,
        userEmbeddings: embeddings.user,
        itemPopularity: snapshot.itemPopularity,
        featureViews: snapshot.views,
        itemFeatures: snapshot.itemFeatures,
        userFeatures: snapshot.userFeatures,
        userHistory: historyIds(split.served, ix.userIds, ix.itemIds),
        ranker: { spec: rankerSpec, model },
        metrics,
        retrieval: retrievalConfig,
        neighbors: served.neighbors,
        timeline: itemTimeline(split.served),
        serving,
        history: historyKind,
        ...(holdout ? { holdout } : {}),
        ...(retrievalIndex ? { retrievalIndex } : {}),
        ...(options.created === undefined ? {} : { created: options.created }),
      },
      { setCurrent: options.setCurrent !== false },
    ),
  );

  const files: Record<string, number> = {};
  let totalBytes = 0;
  for (const [name, entry] of Object.entries(written.manifest.files)) {
    files[name] = entry.bytes;
    totalBytes += entry.bytes;
  }
  return {
    version: written.version,
    dir: written.dir,
    root: written.root,
    dataset: dataset.name,
    users: ix.userIds.length,
    items: ix.itemIds.length,
    interactions: dataset.interactions.length,
    embeddingDim: embeddings.dim,
    rankerFeatures: spec.length,
    files,
    totalBytes,
    metrics: written.manifest.metrics,
    ...(split.fingerprints['fit'] ? { split: split.fingerprints } : {}),
    history: historyKind,
    timings,
    peakRss,
    totalMs: Date.now() - started,
    reused: written.reused,
  };
}

/** Options of {@link ensureArtifacts}: build options plus where to report a build. */
export interface EnsureOptions extends Omit<BuildOptions, 'outRoot'> {
  /**
   * Where progress of a build goes when no `onProgress` is given: a per-phase progress
   * bar on this stream (default `process.stderr`); `null` for silence.
   */
  progressStream?: ProgressStream | null;
}

/**
 * Makes sure `root` holds a valid live artifact and returns its absolute version
 * directory. If `root/CURRENT` (or `root` itself, when it is a version directory) loads
 * and verifies, nothing is built; otherwise the default synthetic artifact is built into
 * `root` and made current, with progress on stderr. Used by `npm start` so that a fresh
 * checkout runs with nothing downloaded.
 *
 * @throws ArtifactError when `root` is a version directory that fails verification (it is
 *   reported, not built over); any build error
 */
export async function ensureArtifacts(root: string, options: EnsureOptions = {}): Promise<string> {
  const { progressStream, ...buildOptions } = options;
  try {
    return loadArtifacts(root).dir;
  } catch (err) {
    if (!(err instanceof ArtifactError)) throw err;
    // A broken version directory, or a root whose CURRENT names a broken or missing
    // version, is a problem to report, not a root to build over: only an empty root builds.
    if (existsSync(path.join(root, ARTIFACT_FILES.manifest)) || existsSync(path.join(root, CURRENT_FILE))) throw err;
    const stream = progressStream === undefined ? process.stderr : progressStream;
    if (buildOptions.onProgress === undefined && stream !== null) {
      stream.write(`no valid artifact in ${path.resolve(root)} (${err.problem}); building the synthetic one\n`);
      const bar = new PhaseProgressBar(stream, BUILD_PHASES.length);
      buildOptions.onProgress = (p) => bar.update(PHASE_TITLES[p.phase], p.fraction, p.note);
    }
    const summary = await buildArtifacts({ ...buildOptions, outRoot: root });
    return summary.dir;
  }
}
