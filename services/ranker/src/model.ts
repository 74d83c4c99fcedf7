import * as ort from 'onnxruntime-node';
import { ArtifactError, LoadedArtifacts, RankerFeature, assembleRankerInput, viewDefaults } from '@recsys/core';
import type { RankerInput } from '@recsys/core';

/**
 * The onnxruntime session options the ranker scores with; `npm run evaluate` uses the same
 * ones, so offline and served scores agree bit for bit.
 */
export function rankerSessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

/** Scores of a candidate list, one per candidate, in candidate order. */
export type Scores = Float32Array;

/** Input matrices kept for reuse per model (one per concurrent run of the usual size). */
const MAX_FREE_MATRICES = 4;
/** The largest input matrix kept for reuse (1000 candidates × 64 features). */
const MAX_POOLED_VALUES = 64_000;

/**
 * The ranking model of one artifact version: an onnxruntime session plus the feature
 * spec it was trained with. `score` builds the [N × F] input in one buffer and runs all
 * candidates in a single inference call.
 */
export class RankerModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly version: string,
    readonly spec: readonly RankerFeature[],
    private readonly inputName: string,
    private readonly outputName: string,
    /** Declared defaults of the user and item views, for features a request lacks. */
    readonly defaults: { user: Map<string, number>; item: Map<string, number> },
  ) {}

  /**
   * Creates the session from a loaded artifact (which already checked the model's
   * metadata spec against the manifest) and checks the model's declared input/output
   * names and width; a mismatch is an ArtifactError naming the model file.
   */
  static async load(artifacts: LoadedArtifacts, threads: number): Promise<RankerModel> {
    const { manifest } = artifacts;
    const file = `${artifacts.dir}/${manifest.ranker.file}`;
    if (!artifacts.rankerModel) throw new ArtifactError(file, 'model was not loaded');
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(artifacts.rankerModel, rankerSessionOptions(threads));
    } catch (err) {
      throw new ArtifactError(file, `onnxruntime cannot load the model: ${(err as Error).message}`, { cause: err });
    }
    const { input, output, features } = manifest.ranker;
    if (!session.inputNames.includes(input)) {
      throw new ArtifactError(file, `model has no input "${input}" (inputs: ${session.inputNames.join(', ')})`);
    }
    if (!session.outputNames.includes(output)) {
      throw new ArtifactError(file, `model has no output "${output}" (outputs: ${session.outputNames.join(', ')})`);
    }
    const model = new RankerModel(session, manifest.version, features, input, output, {
      user: viewDefaults(manifest.feature_views.user),
      item: viewDefaults(manifest.feature_views.item),
    });
    // A trial run proves the declared width matches the model before we report SERVING.
    try {
      await model.score({ n: 1, candidateScores: [0], sourceScores: {}, user: model.defaults.user, item: new Map() });
    } catch (err) {
      throw new ArtifactError(file, `model rejects a ${features.length}-feature input: ${(err as Error).message}`, { cause: err });
    }
    return model;
  }

  /** Scores all candidates of `input` in one run; missing view features use defaults. */
  async score(input: RankerInput): Promise<Scores> {
    const n = input.n;
    // Copies only when a view feature is missing (the feature store sends complete views).
    let item: Map<string, ArrayLike<number>> | undefined;
    for (const [name, def] of this.defaults.item) {
      if (!input.item.has(name)) (item ??= new Map(input.item)).set(name, new Float32Array(n).fill(def));
    }
    let user: Map<string, number> | undefined;
    for (const [name, def] of this.defaults.user) {
      if (!input.user.has(name)) (user ??= new Map(input.user)).set(name, def);
    }
    const x = this.takeMatrix(n * this.spec.length);
    try {
      assembleRankerInput(this.spec, item === undefined && user === undefined ? input : { ...input, user: user ?? input.user, item: item ?? input.item }, x);
      const tensor = new ort.Tensor('float32', x, [n, this.spec.length]);
      const out = await this.session.run({ [this.inputName]: tensor });
      const scores = out[this.outputName];
      if (!scores || scores.data.length !== n) throw new Error(`model returned ${scores?.data.length ?? 0} scores for ${n} candidates`);
      return scores.data as Float32Array;
    } finally {
      // The run is over: onnxruntime holds no reference to its input any more.
      this.giveMatrix(x);
    }
  }

  /**
   * Input matrices of finished runs, for the next ones: a fresh 40 KB matrix per call (300 ×
   * 34) costs its allocation and zeroing and runs on memory no cache holds. At most
   * {@link MAX_FREE_MATRICES}, each at most {@link MAX_POOLED_VALUES} values (1000 × 64).
   */
  private readonly freeMatrices: Float32Array[] = [];

  private takeMatrix(length: number): Float32Array {
    const free = this.freeMatrices;
    for (let i = free.length - 1; i >= 0; i--) {
      if (free[i]!.length === length) {
        const m = free[i]!;
        free[i] = free[free.length - 1]!;
        free.pop();
        return m;
      }
    }
    return new Float32Array(length);
  }

  /** Sizes (values) of the input matrices the pool holds now: at most four, none over 64,000 values. */
  pooledMatrixSizes(): number[] {
    return this.freeMatrices.map((m) => m.length);
  }

  private giveMatrix(m: Float32Array): void {
    if (m.length > MAX_POOLED_VALUES) return;
    if (this.freeMatrices.length >= MAX_FREE_MATRICES) this.freeMatrices.shift();
    this.freeMatrices.push(m);
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Candidate indices sorted by descending score, ties to the lower index; the first `k`
 * (all when k is 0). NaN scores sort last.
 */
export function rankOrder(scores: ArrayLike<number>, k: number): number[] {
  const n = scores.length;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = scores[i] as number;
    keys[i] = s !== s ? -Infinity : s;
  }
  const want = k > 0 && k < n ? k : n;
  if (want === n) {
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => keys[b]! - keys[a]! || a - b);
    return order;
  }
  // The best `want` kept sorted as they come: a later index never beats an equal score, so
  // it goes after the equal ones (ties to the lower index), and only a strictly better
  // score enters a full list.
  const top: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = keys[i]!;
    if (top.length === want && !(s > keys[top[want - 1]!]!)) continue;
    let lo = 0;
    let hi = top.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[top[mid]!]! >= s) lo = mid + 1;
      else hi = mid;
    }
    top.splice(lo, 0, i);
    if (top.length > want) top.pop();
  }
  return top;
}
