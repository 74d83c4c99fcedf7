/**
 * Gradient-boosted decision trees for the ranker, trained in TypeScript (no native
 * dependency), and their export to ONNX `ai.onnx.ml` `TreeEnsembleRegressor`.
 *
 * Training (XGBoost-style, histogram based):
 * - every feature is binned once into ≤ `maxBins` quantile bins; a split "bin ≤ b" is the
 *   float32 test `x < cut[b]`, so the exported model compares exactly what was learnt;
 *   NaN is a bin of its own, sent at each split the way that gains most (learned default
 *   direction);
 * - each tree grows depth-wise on first and second derivatives of the objective: gain
 *   ½·[G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)] − γ, leaves −G/(H+λ) · shrinkage, with
 *   `maxDepth`, `minChildWeight` (Σ hessian) and row/column subsampling per tree;
 * - objectives: `logistic` (binary log-loss) and `pairwise` (RankNet log-loss over every
 *   positive/negative pair within a group, e.g. one user's candidates);
 * - early stopping: a caller-supplied validation metric is evaluated every
 *   `evalEvery` trees; training stops after `patience` evaluations without improvement and
 *   keeps the best prefix of trees.
 *
 * The model's raw score is base + Σ tree leaves; {@link gbdtPredict} is the reference the
 * ONNX export is tested against (the export adds a Sigmoid, so scores lie in (0, 1)).
 */
import { FEATURE_SPEC_METADATA_KEY, type RankerFeature } from '@recsys/core';
import { onnx } from 'onnx-proto';
import { tensorValue } from './onnx-export';
import { createRng } from './random';

/** One node of a tree, in array form: a split when `feature ≥ 0`, else a leaf. */
export interface TreeNode {
  /** Column tested, −1 for a leaf. */
  feature: number;
  /** float32 threshold: `x < threshold` goes left. */
  threshold: number;
  /** Where NaN goes. */
  missingLeft: boolean;
  left: number;
  right: number;
  /** Leaf value (already scaled by the learning rate). */
  value: number;
  /** Split gain (0 for leaves), for feature importance. */
  gain: number;
}

/** A trained ensemble. */
export interface GbdtModel {
  features: number;
  /** Raw score before any tree. */
  base: number;
  trees: TreeNode[][];
}

/** Hyper-parameters of {@link trainGbdt}. */
export interface GbdtOptions {
  objective: 'logistic' | 'pairwise';
  /** Maximum number of trees. Default 300. */
  trees: number;
  /** Shrinkage. Default 0.08. */
  learningRate: number;
  /** Default 6. */
  maxDepth: number;
  /** Minimum Σ hessian in a child. Default 1. */
  minChildWeight: number;
  /** L2 on leaf values (λ). Default 1. */
  lambda: number;
  /** Minimum gain of a split (γ). Default 0. */
  gamma: number;
  /** Share of rows per tree. Default 0.8. */
  subsample: number;
  /** Share of columns per tree. Default 0.8. */
  colsample: number;
  /** Bins per feature (≤ 255). Default 64. */
  maxBins: number;
  /** Validation every this many trees (with `validation`). Default 10. */
  evalEvery: number;
  /** Evaluations without improvement before stopping. Default 4. */
  patience: number;
  seed: number;
  /** Called after each evaluation / every `evalEvery` trees. */
  onProgress?: (trees: number, maxTrees: number, note: string) => void;
}

const DEFAULT_GBDT_OPTIONS: Readonly<GbdtOptions> = {
  objective: 'logistic',
  trees: 300,
  learningRate: 0.08,
  maxDepth: 6,
  minChildWeight: 1,
  lambda: 1,
  gamma: 0,
  subsample: 0.8,
  colsample: 0.8,
  maxBins: 64,
  evalEvery: 10,
  patience: 4,
  seed: 42,
};

/** Training data: `rows` × `features` float32, row-major; NaN = missing. */
export interface GbdtData {
  x: Float32Array;
  rows: number;
  features: number;
  /** 0/1 labels. */
  labels: ArrayLike<number>;
  /** For `pairwise`: group start offsets (groups are contiguous), groups + 1 entries. */
  groupPtr?: Int32Array;
}

/**
 * Validation rows for early stopping and their metric (higher is better) over raw scores;
 * the scores are kept up to date tree by tree, so each evaluation costs one metric call.
 */
export interface GbdtValidation {
  x: Float32Array;
  rows: number;
  metric: (raw: Float64Array) => number;
}

/** Per-feature cut points (float32, ascending): bin(x) = #cuts ≤ x; NaN → bin `cuts.length + 1`. */
function featureCuts(x: Float32Array, rows: number, features: number, f: number, maxBins: number): Float32Array {
  const values: number[] = [];
  for (let r = 0; r < rows; r++) {
    const v = x[r * features + f]!;
    if (!Number.isNaN(v)) values.push(v);
  }
  if (values.length === 0) return new Float32Array(0);
  values.sort((a, b) => a - b);
  const distinct: number[] = [];
  for (const v of values) if (distinct.length === 0 || distinct[distinct.length - 1] !== v) distinct.push(v);
  const cuts: number[] = [];
  if (distinct.length <= maxBins) {
    // A cut between consecutive distinct values: their float32 midpoint, or the upper one.
    for (let k = 1; k < distinct.length; k++) {
      let c = Math.fround((distinct[k - 1]! + distinct[k]!) / 2);
      if (!(c > distinct[k - 1]!)) c = distinct[k]!;
      cuts.push(c);
    }
  } else {
    for (let b = 1; b < maxBins; b++) {
      const v = values[Math.floor((b * values.length) / maxBins)]!;
      const c = Math.fround(v);
      if (c > values[0]! && (cuts.length === 0 || c > cuts[cuts.length - 1]!)) cuts.push(c);
    }
  }
  return Float32Array.from(cuts);
}

function binOf(cuts: Float32Array, v: number): number {
  if (Number.isNaN(v)) return cuts.length + 1;
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v < cuts[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Raw score of one row (`x` at `offset`). */
function treeValue(tree: readonly TreeNode[], x: ArrayLike<number>, offset: number): number {
  let k = 0;
  for (;;) {
    const n = tree[k]!;
    if (n.feature < 0) return n.value;
    const v = x[offset + n.feature]!;
    k = Number.isNaN(v) ? (n.missingLeft ? n.left : n.right) : v < n.threshold ? n.left : n.right;
  }
}

/** Raw scores (base + Σ leaves, float64) of `rows` rows; the reference of the ONNX export. */
export function gbdtPredict(model: GbdtModel, x: ArrayLike<number>, rows: number, trees = model.trees.length): Float64Array {
  const out = new Float64Array(rows).fill(model.base);
  for (let t = 0; t < trees; t++) {
    const tree = model.trees[t]!;
    for (let r = 0; r < rows; r++) out[r]! += treeValue(tree, x, r * model.features);
  }
  return out;
}

/** What {@link gbdtPredict} gives after the exported Sigmoid, in float32 as onnxruntime computes. */
export function gbdtScore(model: GbdtModel, x: ArrayLike<number>, rows: number): Float32Array {
  const raw = gbdtPredict(model, x, rows);
  return Float32Array.from(raw, (v) => 1 / (1 + Math.exp(-v)));
}

/**
 * The average of several ensembles over the same features as one ensemble: base and every
 * leaf value (and split gain) scaled by 1 / models, trees concatenated. Its raw score is
 * the mean of the members' raw scores, so a bag of models exports as one
 * `TreeEnsembleRegressor`.
 */
export function averageGbdt(models: readonly GbdtModel[]): GbdtModel {
  const first = models[0];
  if (first === undefined) throw new RangeError('gbdt: averaging needs at least one model');
  const bad = models.find((m) => m.features !== first.features);
  if (bad !== undefined) throw new RangeError(`gbdt: cannot average models over ${first.features} and ${bad.features} features`);
  const w = 1 / models.length;
  return {
    features: first.features,
    base: models.reduce((a, m) => a + m.base, 0) * w,
    trees: models.flatMap((m) => m.trees.map((tree) => tree.map((n) => ({ ...n, value: n.value * w, gain: n.gain * w })))),
  };
}

/** Total split gain per feature, normalised to sum 1 (all 0 for a model without splits). */
export function gbdtGainShares(model: GbdtModel): Float64Array {
  const gain = new Float64Array(model.features);
  for (const tree of model.trees) for (const n of tree) if (n.feature >= 0) gain[n.feature]! += n.gain;
  const total = gain.reduce((a, b) => a + b, 0);
  if (total > 0) for (let f = 0; f < gain.length; f++) gain[f]! /= total;
  return gain;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** First and second derivatives of the objective at the current raw scores. */
function derivatives(o: GbdtOptions, data: GbdtData, pred: Float64Array, g: Float64Array, h: Float64Array): number {
  const { rows, labels } = data;
  let loss = 0;
  if (o.objective === 'logistic') {
    for (let r = 0; r < rows; r++) {
      const p = sigmoid(pred[r]!);
      const y = labels[r]!;
      g[r] = p - y;
      h[r] = Math.max(p * (1 - p), 1e-12);
      loss -= y * Math.log(Math.max(p, 1e-15)) + (1 - y) * Math.log(Math.max(1 - p, 1e-15));
    }
    return loss / Math.max(1, rows);
  }
  const ptr = data.groupPtr;
  if (ptr === undefined) throw new RangeError('gbdt: the pairwise objective needs groupPtr');
  g.fill(0);
  h.fill(1e-12);
  let pairs = 0;
  for (let q = 0; q + 1 < ptr.length; q++) {
    for (let i = ptr[q]!; i < ptr[q + 1]!; i++) {
      if (labels[i]! !== 1) continue;
      for (let j = ptr[q]!; j < ptr[q + 1]!; j++) {
        if (labels[j]! !== 0) continue;
        const rho = sigmoid(pred[j]! - pred[i]!);
        g[i]! -= rho;
        g[j]! += rho;
        const w = Math.max(rho * (1 - rho), 1e-12);
        h[i]! += w;
        h[j]! += w;
        loss += Math.log1p(Math.exp(pred[j]! - pred[i]!));
        pairs++;
      }
    }
  }
  return loss / Math.max(1, pairs);
}

/**
 * Trains a boosted ensemble on `data`. With `validation`, the returned model is the best
 * prefix by that metric (higher is better), checked every `evalEvery` trees.
 *
 * @example
 * const model = trainGbdt({ x, rows, features, labels }, { trees: 100 });
 * const raw = gbdtPredict(model, x, rows);
 */
export function trainGbdt(data: GbdtData, options: Partial<GbdtOptions> = {}, validation?: GbdtValidation): GbdtModel {
  const o: GbdtOptions = { ...DEFAULT_GBDT_OPTIONS, ...options };
  const { x, rows, features } = data;
  if (x.length !== rows * features) throw new RangeError(`gbdt: ${x.length} values for ${rows} × ${features}`);
  if (data.labels.length !== rows) throw new RangeError(`gbdt: ${data.labels.length} labels for ${rows} rows`);
  if (!(o.maxBins >= 2 && o.maxBins <= 255)) throw new RangeError(`gbdt: maxBins must be in 2..255, got ${o.maxBins}`);
  const rng = createRng(o.seed);

  // Binning: one byte per cell, column-major for the histogram pass.
  const cuts = Array.from({ length: features }, (_, f) => featureCuts(x, rows, features, f, o.maxBins));
  const binned = new Uint8Array(rows * features);
  for (let f = 0; f < features; f++) {
    const c = cuts[f]!;
    for (let r = 0; r < rows; r++) binned[f * rows + r] = binOf(c, x[r * features + f]!);
  }
  const nBins = cuts.map((c) => c.length + 2); // bins 0..len, plus NaN

  let base = 0;
  if (o.objective === 'logistic') {
    let pos = 0;
    for (let r = 0; r < rows; r++) pos += data.labels[r]!;
    const p = Math.min(Math.max(pos / Math.max(1, rows), 1e-6), 1 - 1e-6);
    base = Math.log(p / (1 - p));
  }
  const model: GbdtModel = { features, base, trees: [] };
  const pred = new Float64Array(rows).fill(base);
  if (validation !== undefined && validation.x.length !== validation.rows * features) {
    throw new RangeError(`gbdt: validation has ${validation.x.length} values for ${validation.rows} × ${features}`);
  }
  const vpred = new Float64Array(validation?.rows ?? 0).fill(base);
  const g = new Float64Array(rows);
  const h = new Float64Array(rows);
  let best = -Infinity;
  let bestTrees = 0;
  let stale = 0;

  const maxHist = Math.max(...nBins);

  for (let t = 0; t < o.trees; t++) {
    const loss = derivatives(o, data, pred, g, h);
    // Row and column samples of this tree.
    const sampled: number[] = [];
    const keepBelow = o.subsample * 2 ** 32;
    for (let r = 0; r < rows; r++) if (o.subsample >= 1 || rng.nextUint32() < keepBelow) sampled.push(r);
    const cols = Array.from({ length: features }, (_, f) => f).filter(() => o.colsample >= 1 || rng.float() < o.colsample);
    if (cols.length === 0) cols.push(rng.int(features));
    const nc = cols.length;

    /** Σ g and Σ h per (sampled column, bin) over `rs`: [c][bin][g, h]. */
    const histogram = (rs: Int32Array): Float64Array => {
      const hist = new Float64Array(nc * maxHist * 2);
      for (let c = 0; c < nc; c++) {
        const col = cols[c]! * rows;
        const o0 = c * maxHist * 2;
        for (let k = 0; k < rs.length; k++) {
          const r = rs[k]!;
          const b = o0 + 2 * binned[col + r]!;
          hist[b]! += g[r]!;
          hist[b + 1]! += h[r]!;
        }
      }
      return hist;
    };

    const tree: TreeNode[] = [];
    const leaf = (G: number, H: number): TreeNode => ({ feature: -1, threshold: 0, missingLeft: false, left: -1, right: -1, value: (-G / (H + o.lambda)) * o.learningRate, gain: 0 });
    type Open = { node: number; rows: Int32Array; G: number; H: number; hist: Float64Array | undefined };
    let level: Open[] = [];
    {
      const rs = Int32Array.from(sampled);
      let G = 0;
      let H = 0;
      for (const r of rs) {
        G += g[r]!;
        H += h[r]!;
      }
      tree.push(leaf(G, H));
      level.push({ node: 0, rows: rs, G, H, hist: o.maxDepth > 0 ? histogram(rs) : undefined });
    }
    for (let depth = 0; depth < o.maxDepth && level.length > 0; depth++) {
      const next: Open[] = [];
      for (const nd of level) {
        const hist = nd.hist;
        if (hist === undefined || nd.H < 2 * o.minChildWeight || nd.rows.length < 2) continue;
        const parentScore = (nd.G * nd.G) / (nd.H + o.lambda);
        let bestGain = o.gamma > 0 ? o.gamma : 1e-9;
        let bestC = -1;
        let bestBin = -1;
        let bestMissingLeft = false;
        for (let c = 0; c < nc; c++) {
          const nb = nBins[cols[c]!]!;
          if (nb <= 2) continue;
          const o0 = c * maxHist * 2;
          const missG = hist[o0 + 2 * (nb - 1)]!;
          const missH = hist[o0 + 2 * (nb - 1) + 1]!;
          let gl = 0;
          let hl = 0;
          // Split after bin b (b = 0 … nb − 3): left = bins ≤ b, NaN left or right.
          for (let b = 0; b < nb - 2; b++) {
            gl += hist[o0 + 2 * b]!;
            hl += hist[o0 + 2 * b + 1]!;
            for (let m = missH > 0 ? 1 : 0; m >= 0; m--) {
              const GL = gl + (m === 1 ? missG : 0);
              const HL = hl + (m === 1 ? missH : 0);
              const GR = nd.G - GL;
              const HR = nd.H - HL;
              if (HL < o.minChildWeight || HR < o.minChildWeight) continue;
              const gain = 0.5 * ((GL * GL) / (HL + o.lambda) + (GR * GR) / (HR + o.lambda) - parentScore) - o.gamma;
              if (gain > bestGain) {
                bestGain = gain;
                bestC = c;
                bestBin = b;
                bestMissingLeft = m === 1;
              }
            }
          }
        }
        if (bestC < 0) continue;
        const bestF = cols[bestC]!;
        const nb = nBins[bestF]!;
        const col = bestF * rows;
        const leftRows: number[] = [];
        const rightRows: number[] = [];
        let GL = 0;
        let HL = 0;
        for (const r of nd.rows) {
          const b = binned[col + r]!;
          const goLeft = b === nb - 1 ? bestMissingLeft : b <= bestBin;
          if (goLeft) {
            leftRows.push(r);
            GL += g[r]!;
            HL += h[r]!;
          } else rightRows.push(r);
        }
        const GR = nd.G - GL;
        const HR = nd.H - HL;
        const li = tree.length;
        tree.push(leaf(GL, HL), leaf(GR, HR));
        tree[nd.node] = { feature: bestF, threshold: cuts[bestF]![bestBin]!, missingLeft: bestMissingLeft, left: li, right: li + 1, value: 0, gain: bestGain };
        const left = Int32Array.from(leftRows);
        const right = Int32Array.from(rightRows);
        let lh: Float64Array | undefined;
        let rh: Float64Array | undefined;
        if (depth + 1 < o.maxDepth) {
          // Histogram of the smaller child; the larger one's is the parent's minus it.
          const small = histogram(left.length <= right.length ? left : right);
          for (let k = 0; k < hist.length; k++) hist[k]! -= small[k]!;
          if (left.length <= right.length) {
            lh = small;
            rh = hist;
          } else {
            lh = hist;
            rh = small;
          }
        }
        next.push({ node: li, rows: left, G: GL, H: HL, hist: lh }, { node: li + 1, rows: right, G: GR, H: HR, hist: rh });
      }
      level = next;
    }
    model.trees.push(tree);
    // Update every row's raw score (also rows outside this tree's sample).
    for (let r = 0; r < rows; r++) pred[r]! += treeValue(tree, x, r * features);

    const done = t + 1;
    if (validation !== undefined) for (let r = 0; r < validation.rows; r++) vpred[r]! += treeValue(tree, validation.x, r * features);
    if (validation !== undefined && (done % o.evalEvery === 0 || done === o.trees)) {
      const metric = validation.metric(vpred);
      o.onProgress?.(done, o.trees, `tree ${done}/${o.trees} loss ${loss.toFixed(4)} validation ${metric.toFixed(4)}`);
      if (metric > best) {
        best = metric;
        bestTrees = done;
        stale = 0;
      } else if (++stale >= o.patience) break;
    } else if (done % o.evalEvery === 0) {
      o.onProgress?.(done, o.trees, `tree ${done}/${o.trees} loss ${loss.toFixed(4)}`);
    }
  }
  if (validation !== undefined && bestTrees > 0) model.trees.length = bestTrees;
  return model;
}

/** Options of {@link exportGbdtToOnnx}. */
export interface OnnxGbdtExportOptions {
  inputName?: string;
  outputName?: string;
  featureSpec: readonly RankerFeature[];
  metadata?: Record<string, string>;
  graphName?: string;
  docString?: string;
}

/**
 * Serializes a {@link GbdtModel} as ONNX: `ai.onnx.ml` `TreeEnsembleRegressor` (ml opset
 * 3, `post_transform NONE`, `BRANCH_LT` nodes, NaN routed by
 * `nodes_missing_value_tracks_true`) giving base + Σ leaves as `[N, 1]`, then `Sigmoid`.
 * Input `[N, features]` float32; metadata `recsys.feature_spec` holds the spec.
 */
export function exportGbdtToOnnx(model: GbdtModel, options: OnnxGbdtExportOptions): Uint8Array {
  const inputName = options.inputName ?? 'features';
  const outputName = options.outputName ?? 'score';
  if (options.featureSpec.length !== model.features) {
    throw new RangeError(`ONNX export: feature spec has ${options.featureSpec.length} features, the model takes ${model.features}`);
  }
  const treeIds: number[] = [];
  const nodeIds: number[] = [];
  const featureIds: number[] = [];
  const values: number[] = [];
  const modes: Uint8Array[] = [];
  const trueIds: number[] = [];
  const falseIds: number[] = [];
  const missingTrue: number[] = [];
  const tTree: number[] = [];
  const tNode: number[] = [];
  const tIds: number[] = [];
  const tWeights: number[] = [];
  const enc = new TextEncoder();
  const LT = enc.encode('BRANCH_LT');
  const LEAF = enc.encode('LEAF');
  const trees = model.trees.length > 0 ? model.trees : [[{ feature: -1, threshold: 0, missingLeft: false, left: -1, right: -1, value: 0, gain: 0 }]];
  trees.forEach((tree, t) => {
    tree.forEach((n, k) => {
      treeIds.push(t);
      nodeIds.push(k);
      if (n.feature >= 0) {
        featureIds.push(n.feature);
        values.push(n.threshold);
        modes.push(LT);
        trueIds.push(n.left);
        falseIds.push(n.right);
        missingTrue.push(n.missingLeft ? 1 : 0);
      } else {
        featureIds.push(0);
        values.push(0);
        modes.push(LEAF);
        trueIds.push(0);
        falseIds.push(0);
        missingTrue.push(0);
        tTree.push(t);
        tNode.push(k);
        tIds.push(0);
        tWeights.push(n.value);
      }
    });
  });
  const INTS = onnx.AttributeProto.AttributeType.INTS;
  const FLOATS = onnx.AttributeProto.AttributeType.FLOATS;
  const ints = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: INTS, ints: v });
  const floats = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: FLOATS, floats: v });
  const raw = `${outputName}_raw`;
  const ensemble: onnx.INodeProto = {
    name: 'trees',
    opType: 'TreeEnsembleRegressor',
    domain: 'ai.onnx.ml',
    input: [inputName],
    output: [raw],
    attribute: [
      { name: 'aggregate_function', type: onnx.AttributeProto.AttributeType.STRING, s: enc.encode('SUM') },
      floats('base_values', [model.base]),
      { name: 'n_targets', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
      ints('nodes_falsenodeids', falseIds),
      ints('nodes_featureids', featureIds),
      ints('nodes_missing_value_tracks_true', missingTrue),
      { name: 'nodes_modes', type: onnx.AttributeProto.AttributeType.STRINGS, strings: modes },
      ints('nodes_nodeids', nodeIds),
      ints('nodes_treeids', treeIds),
      ints('nodes_truenodeids', trueIds),
      floats('nodes_values', values),
      { name: 'post_transform', type: onnx.AttributeProto.AttributeType.STRING, s: enc.encode('NONE') },
      ints('target_ids', tIds),
      ints('target_nodeids', tNode),
      ints('target_treeids', tTree),
      floats('target_weights', tWeights),
    ],
  };
  const metadata: Record<string, string> = { ...options.metadata, [FEATURE_SPEC_METADATA_KEY]: JSON.stringify(options.featureSpec) };
  const m = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [
      { domain: '', version: 13 },
      { domain: 'ai.onnx.ml', version: 3 },
    ],
    producerName: '@recsys/offline',
    producerVersion: '1',
    docString: options.docString ?? '',
    graph: {
      name: options.graphName ?? 'recsys_ranker',
      node: [ensemble, { name: 'sigmoid', opType: 'Sigmoid', input: [raw], output: [outputName] }],
      input: [tensorValue(inputName, ['N', model.features])],
      output: [tensorValue(outputName, ['N', 1])],
    },
    metadataProps: Object.keys(metadata)
      .sort()
      .map((key) => ({ key, value: metadata[key]! })),
  });
  return onnx.ModelProto.encode(m).finish();
}
