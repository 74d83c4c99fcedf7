/**
 * The offline pipeline end to end: dataset → split → ALS → features → ranker → ONNX →
 * artifact directory. Deterministic: the same dataset, seed and options give the same
 * files and so the same version.
 */
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { ARTIFACT_FILES, ArtifactError, CURRENT_FILE, loadArtifacts, type RankerSpec } from '@recsys/core';
import { trainAls, type AlsOptions } from './als';
import { writeArtifact } from './artifact-writer';
import { indexDataset, partItemSets, selectHistory, splitByUser, type Dataset, type History } from './datasets';
import { computeFeatures, type ItemAttributes } from './features';
import { exportMlpToOnnx } from './onnx-export';
import { alsEmbeddings, defaultRankerFeatures, evaluateTwoStage, trainRanker, type RankerTrainOptions } from './ranker-train';
import { PhaseProgressBar, type ProgressStream } from './progress-bar';
import { generateSynthetic, type SyntheticOptions } from './synthetic';

/** Datasets {@link buildArtifacts} can build from. */
export type DatasetName = 'synthetic';

/** The phases of a build, in order. */
export const BUILD_PHASES = ['dataset', 'split', 'als-fit', 'ranker', 'evaluate', 'als-serve', 'features', 'export', 'write'] as const;
/** One phase of {@link BUILD_PHASES}. */
export type BuildPhase = (typeof BUILD_PHASES)[number];

/** Human-readable phase titles, for progress displays. */
export const PHASE_TITLES: Readonly<Record<BuildPhase, string>> = {
  dataset: 'load dataset',
  split: 'split per user',
  'als-fit': 'ALS on fit part',
  ranker: 'train ranker',
  evaluate: 'evaluate on test',
  'als-serve': 'ALS on all data',
  features: 'feature snapshot',
  export: 'export ONNX',
  write: 'write artifact',
};

/** A progress report: `fraction` of `phase` is done (1 = finished). */
export interface BuildProgress {
  phase: BuildPhase;
  fraction: number;
  /** Short note, e.g. `iteration 3/15 loss 1.2e5`. */
  note?: string;
}

/** Options of {@link buildArtifacts}. */
export interface BuildOptions {
  /** Which dataset. Default `synthetic`. */
  dataset?: DatasetName;
  /** Seed of the dataset generator and of every training step. Default 42. */
  seed?: number;
  /** Artifact root; the version directory is created inside and `CURRENT` updated. */
  outRoot: string;
  /** Progress callback (phases in {@link BUILD_PHASES} order; `evaluate` may be skipped). */
  onProgress?: (progress: BuildProgress) => void;
  /** Overrides of the synthetic generator (size, shape). */
  synthetic?: Partial<Omit<SyntheticOptions, 'seed'>>;
  /** Overrides of ALS; defaults for synthetic: f = 32, α = 20, λ = 0.05, 15 iterations. */
  als?: Partial<Omit<AlsOptions, 'onProgress' | 'seed'>>;
  /** Overrides of ranker training. */
  ranker?: Partial<Omit<RankerTrainOptions, 'onProgress' | 'seed'>>;
  /** Measure test metrics (one more ALS run). Default true. */
  evaluate?: boolean;
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
  /** Milliseconds per phase. */
  timings: Partial<Record<BuildPhase, number>>;
  totalMs: number;
  /** True when an identical version already existed and was kept. */
  reused: boolean;
}

/** ALS settings used for the synthetic dataset: small enough to build in seconds. */
export const SYNTHETIC_ALS_OPTIONS: Readonly<Partial<AlsOptions>> = { factors: 32, alpha: 20, lambda: 0.05, iterations: 15 };

function loadDataset(name: DatasetName, seed: number, options: BuildOptions): Dataset {
  switch (name) {
    case 'synthetic':
      return generateSynthetic({ ...options.synthetic, seed });
    default:
      throw new Error(`unknown dataset "${String(name)}" (supported: synthetic)`);
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
 * Builds an artifact: generates (or loads) the dataset, splits it per user, trains ALS on
 * the fit part and the ranker on validation labels (stage A), optionally measures test
 * metrics (stage B: ALS on train), trains the served ALS on all interactions, computes the
 * served feature snapshot, exports the ranker to ONNX and writes the version directory.
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
  const started = Date.now();
  const phase = async <T>(name: BuildPhase, run: () => T): Promise<T> => {
    report({ phase: name, fraction: 0 });
    await tick();
    const t0 = Date.now();
    const result = run();
    timings[name] = Date.now() - t0;
    report({ phase: name, fraction: 1 });
    return result;
  };
  const alsOptions = (name: BuildPhase): Partial<AlsOptions> => ({
    ...SYNTHETIC_ALS_OPTIONS,
    ...options.als,
    seed,
    onProgress: (p) =>
      report({ phase: name, fraction: p.iteration / p.iterations, note: `iter ${p.iteration}/${p.iterations}${p.loss === undefined ? '' : ` loss ${p.loss.toExponential(2)}`}` }),
  });

  const dataset = await phase('dataset', () => loadDataset(datasetName, seed, options));
  const split = await phase('split', () => {
    const ix = indexDataset(dataset);
    const part = splitByUser(ix);
    const attrs: ItemAttributes = { genres: ix.genres, itemGenres: ix.itemGenres, itemYear: ix.itemYear };
    return {
      ix,
      attrs,
      fit: selectHistory(ix, part, ['fit']),
      train: selectHistory(ix, part, ['fit', 'val']),
      all: selectHistory(ix, part, ['fit', 'val', 'test']),
      val: partItemSets(ix, part, 'val'),
      test: partItemSets(ix, part, 'test'),
    };
  });
  const { ix, attrs } = split;
  const spec = defaultRankerFeatures(ix.genres.length);

  const alsFit = await phase('als-fit', () => trainAls(split.fit, alsOptions('als-fit')));
  const ranker = await phase('ranker', () =>
    trainRanker(
      { history: split.fit, snapshot: computeFeatures(split.fit, attrs), embeddings: alsEmbeddings(alsFit), targets: split.val, spec },
      { ...options.ranker, seed, onProgress: (fraction, note) => report({ phase: 'ranker', fraction, note }) },
    ),
  );
  const metrics: Record<string, number> = { ...ranker.metrics };
  if (options.evaluate !== false) {
    await phase('evaluate', () => {
      const alsTrain = trainAls(split.train, {
        ...alsOptions('evaluate'),
        onProgress: (p) => report({ phase: 'evaluate', fraction: (0.7 * p.iteration) / p.iterations, note: `ALS on train, iter ${p.iteration}/${p.iterations}` }),
      });
      const test = evaluateTwoStage({
        history: split.train,
        snapshot: computeFeatures(split.train, attrs),
        embeddings: alsEmbeddings(alsTrain),
        targets: split.test,
        ranker,
        onProgress: (f) => report({ phase: 'evaluate', fraction: 0.7 + 0.3 * f, note: 'scoring test users' }),
      });
      for (const [k, v] of Object.entries(test)) metrics[`test_${k}`] = v;
    });
  }
  const alsServe = await phase('als-serve', () => trainAls(split.all, alsOptions('als-serve')));
  const snapshot = await phase('features', () => computeFeatures(split.all, attrs));
  const rankerSpec: RankerSpec = { file: 'ranker.onnx', input: 'features', output: 'score', features: spec };
  const model = await phase('export', () =>
    exportMlpToOnnx(ranker.mlp, {
      featureSpec: spec,
      inputName: rankerSpec.input,
      outputName: rankerSpec.output,
      docString: `recsys ranker: MLP ${ranker.mlp.layers.map((l) => l.outputs).join('-')} over ${spec.length} features, trained on ${dataset.name} (seed ${seed})`,
    }),
  );
  const embeddings = alsEmbeddings(alsServe);
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
        userHistory: historyIds(split.all, ix.userIds, ix.itemIds),
        ranker: { spec: rankerSpec, model },
        metrics,
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
    timings,
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
      const bar = new PhaseProgressBar(stream, buildOptions.evaluate === false ? BUILD_PHASES.length - 1 : BUILD_PHASES.length);
      buildOptions.onProgress = (p) => bar.update(PHASE_TITLES[p.phase], p.fraction, p.note);
    }
    const summary = await buildArtifacts({ ...buildOptions, outRoot: root });
    return summary.dir;
  }
}
