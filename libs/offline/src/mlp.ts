/**
 * A small multi-layer perceptron for binary targets: deterministic mini-batch Adam in
 * float64, a plain forward pass (the reference the ONNX export is checked against), and
 * input standardisation that can be folded into the first layer so the exported model
 * takes raw features.
 */
import { createRng } from './random';

/** Activation applied after a dense layer. */
export type Activation = 'relu' | 'sigmoid' | 'identity';

/** y = activation(x · W + b) for a row vector x. */
export interface DenseLayer {
  inputs: number;
  outputs: number;
  /** inputs × outputs, row-major: weight[i * outputs + o]. */
  weight: Float64Array | Float32Array;
  /** outputs values. */
  bias: Float64Array | Float32Array;
  activation: Activation;
}

/** A stack of dense layers; the last one usually has one output and a sigmoid. */
export interface Mlp {
  layers: DenseLayer[];
}

/** Hyper-parameters of {@link trainBinaryMlp}. */
export interface MlpTrainOptions {
  /** Hidden layer widths (ReLU); [] gives logistic regression. Default [16]. */
  hidden: number[];
  /** Passes over the data; more are made when needed to reach `minSteps`. Default 8. */
  epochs: number;
  /** Minimum number of optimizer steps (small datasets get more epochs). Default 1000. */
  minSteps: number;
  batchSize: number;
  learningRate: number;
  /** L2 penalty on weights (not biases). Default 1e-4. */
  l2: number;
  seed: number;
  /** Called after each epoch with the mean training log-loss. */
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
}

/** Defaults of {@link trainBinaryMlp}. */
const DEFAULT_MLP_OPTIONS: Readonly<MlpTrainOptions> = {
  hidden: [16],
  epochs: 8,
  minSteps: 1000,
  batchSize: 256,
  learningRate: 0.005,
  l2: 1e-4,
  seed: 42,
};

function activate(a: Activation, z: number): number {
  switch (a) {
    case 'relu':
      return z > 0 ? z : 0;
    case 'sigmoid':
      return 1 / (1 + Math.exp(-z));
    default:
      return z;
  }
}

/**
 * Runs the network on `n` rows of `x` (n × inputs, row-major), accumulating in float64.
 * Returns n × (last layer's outputs) values: one score per row for a scoring model.
 */
export function mlpForward(mlp: Mlp, x: ArrayLike<number>, n: number): Float64Array {
  let input: ArrayLike<number> = x;
  let width = mlp.layers[0]?.inputs ?? 0;
  if (x.length !== n * width) throw new RangeError(`mlpForward: ${x.length} values for ${n} rows × ${width} inputs`);
  for (const layer of mlp.layers) {
    const out = new Float64Array(n * layer.outputs);
    for (let r = 0; r < n; r++) {
      const io = r * width;
      const oo = r * layer.outputs;
      for (let o = 0; o < layer.outputs; o++) {
        let z = layer.bias[o]!;
        for (let i = 0; i < layer.inputs; i++) z += input[io + i]! * layer.weight[i * layer.outputs + o]!;
        out[oo + o] = activate(layer.activation, z);
      }
    }
    input = out;
    width = layer.outputs;
  }
  return input as Float64Array;
}

/** Per-column mean and standard deviation (std 1 for constant columns). */
export interface Standardization {
  mean: Float64Array;
  std: Float64Array;
}

/** Mean and standard deviation of each of `width` columns of `x` (n rows). */
export function fitStandardization(x: ArrayLike<number>, n: number, width: number): Standardization {
  const mean = new Float64Array(width);
  const std = new Float64Array(width);
  for (let r = 0; r < n; r++) for (let c = 0; c < width; c++) mean[c]! += x[r * width + c]!;
  for (let c = 0; c < width; c++) mean[c]! /= Math.max(1, n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < width; c++) {
      const d = x[r * width + c]! - mean[c]!;
      std[c]! += d * d;
    }
  }
  for (let c = 0; c < width; c++) {
    const s = Math.sqrt(std[c]! / Math.max(1, n));
    std[c] = s > 1e-12 ? s : 1;
  }
  return { mean, std };
}

/** (x − mean) / std for every row, as a new float64 matrix. */
export function applyStandardization(x: ArrayLike<number>, n: number, s: Standardization): Float64Array {
  const width = s.mean.length;
  const out = new Float64Array(n * width);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < width; c++) out[r * width + c] = (x[r * width + c]! - s.mean[c]!) / s.std[c]!;
  }
  return out;
}

/**
 * Folds input standardisation into the first layer: the returned network applied to raw
 * x equals `mlp` applied to (x − mean) / std.
 */
export function foldStandardization(mlp: Mlp, s: Standardization): Mlp {
  const [first, ...rest] = mlp.layers;
  if (first === undefined) return mlp;
  const weight = new Float64Array(first.weight.length);
  const bias = Float64Array.from(first.bias);
  for (let i = 0; i < first.inputs; i++) {
    for (let o = 0; o < first.outputs; o++) {
      const w = first.weight[i * first.outputs + o]! / s.std[i]!;
      weight[i * first.outputs + o] = w;
      bias[o]! -= w * s.mean[i]!;
    }
  }
  return { layers: [{ ...first, weight, bias }, ...rest] };
}

/** A copy of the network with float32 weights, as the ONNX export stores them. */
export function toFloat32(mlp: Mlp): Mlp {
  return {
    layers: mlp.layers.map((l) => ({ ...l, weight: Float32Array.from(l.weight), bias: Float32Array.from(l.bias) })),
  };
}

/**
 * Trains a binary classifier (hidden ReLU layers, sigmoid output, log-loss) with
 * mini-batch Adam. Deterministic: He initialisation and epoch shuffles come from `seed`.
 *
 * @param x n × width inputs, row-major (standardise them first)
 * @param y n labels in {0, 1}
 */
export function trainBinaryMlp(x: ArrayLike<number>, y: ArrayLike<number>, width: number, options: Partial<MlpTrainOptions> = {}): Mlp {
  const o: MlpTrainOptions = { ...DEFAULT_MLP_OPTIONS, ...options };
  const n = y.length;
  if (x.length !== n * width) throw new RangeError(`trainBinaryMlp: ${x.length} inputs for ${n} labels × ${width} features`);
  const rng = createRng(o.seed);
  const sizes = [width, ...o.hidden, 1];
  const layers: Array<DenseLayer & { weight: Float64Array; bias: Float64Array }> = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inputs = sizes[l]!;
    const outputs = sizes[l + 1]!;
    const scale = Math.sqrt(2 / inputs);
    layers.push({
      inputs,
      outputs,
      weight: Float64Array.from({ length: inputs * outputs }, () => rng.normal() * scale),
      bias: new Float64Array(outputs),
      activation: l + 2 === sizes.length ? 'sigmoid' : 'relu',
    });
  }
  // Start the output at the base rate, so the first steps learn ranking, not the bias.
  let positives = 0;
  for (let r = 0; r < n; r++) positives += y[r]! > 0 ? 1 : 0;
  const rate = Math.min(1 - 1e-6, Math.max(1e-6, positives / Math.max(1, n)));
  layers[layers.length - 1]!.bias[0] = Math.log(rate / (1 - rate));
  const params = layers.flatMap((l) => [l.weight, l.bias]);
  const grads = params.map((p) => new Float64Array(p.length));
  const m1 = params.map((p) => new Float64Array(p.length));
  const m2 = params.map((p) => new Float64Array(p.length));
  const beta1 = 0.9;
  const beta2 = 0.999;
  let step = 0;

  // Per-row activations of every layer (index 0 = input) and their gradients.
  const acts = sizes.map((s) => new Float64Array(s));
  const deltas = sizes.map((s) => new Float64Array(s));
  const order = Int32Array.from({ length: n }, (_, i) => i);

  const epochs = Math.max(o.epochs, Math.ceil(o.minSteps / Math.max(1, Math.ceil(n / o.batchSize))));
  for (let epoch = 1; epoch <= epochs; epoch++) {
    rng.shuffle(order);
    let lossSum = 0;
    for (let start = 0; start < n; start += o.batchSize) {
      const end = Math.min(n, start + o.batchSize);
      for (const g of grads) g.fill(0);
      for (let b = start; b < end; b++) {
        const row = order[b]!;
        const a0 = acts[0]!;
        for (let c = 0; c < width; c++) a0[c] = x[row * width + c]!;
        layers.forEach((layer, l) => {
          const inp = acts[l]!;
          const out = acts[l + 1]!;
          for (let k = 0; k < layer.outputs; k++) {
            let z = layer.bias[k]!;
            for (let i = 0; i < layer.inputs; i++) z += inp[i]! * layer.weight[i * layer.outputs + k]!;
            out[k] = activate(layer.activation, z);
          }
        });
        const p = acts[sizes.length - 1]![0]!;
        const label = y[row]! > 0 ? 1 : 0;
        const pc = Math.min(1 - 1e-12, Math.max(1e-12, p));
        lossSum -= label * Math.log(pc) + (1 - label) * Math.log(1 - pc);
        deltas[sizes.length - 1]![0] = p - label;
        for (let l = layers.length - 1; l >= 0; l--) {
          const layer = layers[l]!;
          const inp = acts[l]!;
          const dOut = deltas[l + 1]!;
          const dIn = deltas[l]!;
          const gw = grads[2 * l]!;
          const gb = grads[2 * l + 1]!;
          for (let k = 0; k < layer.outputs; k++) gb[k]! += dOut[k]!;
          for (let i = 0; i < layer.inputs; i++) {
            let s = 0;
            const a = inp[i]!;
            for (let k = 0; k < layer.outputs; k++) {
              gw[i * layer.outputs + k]! += a * dOut[k]!;
              s += layer.weight[i * layer.outputs + k]! * dOut[k]!;
            }
            // Derivative of the ReLU that produced this input (inputs of layer 0 are data).
            dIn[i] = l > 0 && a <= 0 ? 0 : s;
          }
        }
      }
      step++;
      const count = end - start;
      const c1 = 1 - Math.pow(beta1, step);
      const c2 = 1 - Math.pow(beta2, step);
      params.forEach((param, k) => {
        const g = grads[k]!;
        const mm = m1[k]!;
        const vv = m2[k]!;
        const isWeight = k % 2 === 0;
        for (let j = 0; j < param.length; j++) {
          const gj = g[j]! / count + (isWeight ? o.l2 * param[j]! : 0);
          mm[j] = beta1 * mm[j]! + (1 - beta1) * gj;
          vv[j] = beta2 * vv[j]! + (1 - beta2) * gj * gj;
          param[j]! -= (o.learningRate * (mm[j]! / c1)) / (Math.sqrt(vv[j]! / c2) + 1e-8);
        }
      });
    }
    o.onEpoch?.(epoch, epochs, lossSum / Math.max(1, n));
  }
  return { layers };
}
