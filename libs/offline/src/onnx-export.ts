/**
 * Writes ONNX models from TypeScript (with `onnx-proto`, the ONNX protobuf schema compiled
 * for protobufjs): an MLP as Gemm layers with Relu/Sigmoid activations, its feature spec
 * in `metadata_props`. The output is byte-for-byte deterministic for a given network.
 */
import { FEATURE_SPEC_METADATA_KEY, float32LEBytes, type RankerFeature } from '@recsys/core';
import { onnx } from 'onnx-proto';
import type { Activation, Mlp } from './mlp';

/** ONNX operator set the exported graphs use. */
const ONNX_OPSET = 13;
/** ONNX IR version written into the model (IR 7 is the minimum for opset 13). */
const ONNX_IR_VERSION = 7;

/** Options of {@link exportMlpToOnnx}. */
export interface OnnxMlpExportOptions {
  /** Input tensor name; shape [N, inputs], float32. Default `features`. */
  inputName?: string;
  /** Output tensor name; shape [N, 1], float32. Default `score`. */
  outputName?: string;
  /** The model's input columns, stored as JSON in metadata `recsys.feature_spec`. */
  featureSpec: readonly RankerFeature[];
  /** Further `metadata_props` entries (sorted by key when written). */
  metadata?: Record<string, string>;
  /** Graph name. Default `recsys_ranker`. */
  graphName?: string;
  /** Free-text description stored in the model's doc_string. */
  docString?: string;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;

function floatTensor(name: string, dims: number[], values: ArrayLike<number>): onnx.ITensorProto {
  // A copy first: the tensor must not share memory with the caller's weights.
  return { name, dims, dataType: FLOAT, rawData: float32LEBytes(Float32Array.from(values)) };
}

/** A float32 tensor's value info; a string dimension is symbolic (e.g. the batch `N`). */
export function tensorValue(name: string, dims: Array<number | string>): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

const ACTIVATION_OP: Record<Activation, string | undefined> = { relu: 'Relu', sigmoid: 'Sigmoid', identity: undefined };

/**
 * Serializes an {@link Mlp} as an ONNX model: input `[N, inputs]` float32, one `Gemm`
 * (x·W + b) per layer followed by its activation (`Relu` / `Sigmoid`), output `[N, 1]`
 * float32. Weights are stored as float32. Metadata `recsys.feature_spec` holds
 * `JSON.stringify(featureSpec)`; the spec must have one entry per input column.
 *
 * @example
 * const bytes = exportMlpToOnnx(mlp, { featureSpec: spec });
 * const session = await InferenceSession.create(bytes); // onnxruntime-node
 */
export function exportMlpToOnnx(mlp: Mlp, options: OnnxMlpExportOptions): Uint8Array {
  const inputName = options.inputName ?? 'features';
  const outputName = options.outputName ?? 'score';
  const first = mlp.layers[0];
  const last = mlp.layers[mlp.layers.length - 1];
  if (first === undefined || last === undefined) throw new RangeError('ONNX export: the network has no layers');
  if (last.outputs !== 1) throw new RangeError(`ONNX export: the last layer must have 1 output, it has ${last.outputs}`);
  if (options.featureSpec.length !== first.inputs) {
    throw new RangeError(`ONNX export: feature spec has ${options.featureSpec.length} features, the network takes ${first.inputs} inputs`);
  }

  const nodes: onnx.INodeProto[] = [];
  const initializers: onnx.ITensorProto[] = [];
  let current = inputName;
  mlp.layers.forEach((layer, l) => {
    const prev = mlp.layers[l - 1];
    if (prev !== undefined && prev.outputs !== layer.inputs) {
      throw new RangeError(`ONNX export: layer ${l} takes ${layer.inputs} inputs, layer ${l - 1} gives ${prev.outputs}`);
    }
    const w = `layer${l}_weight`;
    const b = `layer${l}_bias`;
    initializers.push(floatTensor(w, [layer.inputs, layer.outputs], layer.weight), floatTensor(b, [layer.outputs], layer.bias));
    const op = ACTIVATION_OP[layer.activation];
    const isLast = l === mlp.layers.length - 1;
    const gemmOut = op === undefined && isLast ? outputName : `layer${l}_linear`;
    nodes.push({ name: `layer${l}_gemm`, opType: 'Gemm', input: [current, w, b], output: [gemmOut] });
    current = gemmOut;
    if (op !== undefined) {
      const actOut = isLast ? outputName : `layer${l}_${layer.activation}`;
      nodes.push({ name: `layer${l}_${layer.activation}`, opType: op, input: [current], output: [actOut] });
      current = actOut;
    }
  });

  const metadata: Record<string, string> = { ...options.metadata, [FEATURE_SPEC_METADATA_KEY]: JSON.stringify(options.featureSpec) };
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: '@recsys/offline',
    producerVersion: '1',
    docString: options.docString ?? '',
    graph: {
      name: options.graphName ?? 'recsys_ranker',
      node: nodes,
      initializer: initializers,
      input: [tensorValue(inputName, ['N', first.inputs])],
      output: [tensorValue(outputName, ['N', 1])],
    },
    metadataProps: Object.keys(metadata)
      .sort()
      .map((key) => ({ key, value: metadata[key]! })),
  });
  return onnx.ModelProto.encode(model).finish();
}
