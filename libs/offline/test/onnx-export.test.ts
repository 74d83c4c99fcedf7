import { readOnnxFeatureSpec, readOnnxMetadata, type RankerFeature } from '@recsys/core';
import { createRng, exportMlpToOnnx, mlpForward, toFloat32, type Mlp } from '@recsys/offline';
import { runOnnx } from '../../../test/support/ort-runner';

const spec: RankerFeature[] = [
  { name: 'rank', kind: 'retrieval_rank' },
  { name: 'score', kind: 'retrieval_score' },
  { name: 'pop', kind: 'item', feature: 'item_log_pop' },
  { name: 'act', kind: 'user', feature: 'user_activity' },
];

function randomMlp(seed: number, sizes: number[]): Mlp {
  const rng = createRng(seed);
  return {
    layers: sizes.slice(1).map((outputs, l) => ({
      inputs: sizes[l]!,
      outputs,
      weight: Float64Array.from({ length: sizes[l]! * outputs }, () => rng.normal()),
      bias: Float64Array.from({ length: outputs }, () => rng.normal() * 0.1),
      activation: l === sizes.length - 2 ? ('sigmoid' as const) : ('relu' as const),
    })),
  };
}

describe('exportMlpToOnnx', () => {
  it('runs in onnxruntime with the same outputs as the JS forward pass (1e-5)', async () => {
    const mlp = randomMlp(1, [4, 16, 8, 1]);
    const bytes = exportMlpToOnnx(mlp, { featureSpec: spec });
    const rng = createRng(2);
    const n = 64;
    const x = Float32Array.from({ length: n * 4 }, () => rng.normal() * 3);
    const result = await runOnnx(bytes, [{ name: 'features', data: x, dims: [n, 4] }]);
    expect(result.inputNames).toEqual(['features']);
    expect(result.outputNames).toEqual(['score']);
    const score = result.outputs['score']!;
    expect(score.dims).toEqual([n, 1]);
    const expected = mlpForward(toFloat32(mlp), x, n);
    let maxDiff = 0;
    for (let i = 0; i < n; i++) maxDiff = Math.max(maxDiff, Math.abs(score.data[i]! - expected[i]!));
    expect(maxDiff).toBeLessThan(1e-5);
    // The outputs are not all saturated: the comparison means something.
    expect(Math.max(...expected) - Math.min(...expected)).toBeGreaterThan(0.1);
  });

  it('stores the feature spec (and extra metadata) in metadata_props', () => {
    const bytes = exportMlpToOnnx(randomMlp(3, [4, 2, 1]), { featureSpec: spec, metadata: { trained_on: 'synthetic' } });
    expect(readOnnxFeatureSpec(bytes)).toEqual(spec);
    expect(readOnnxMetadata(bytes).get('trained_on')).toBe('synthetic');
    expect(readOnnxMetadata(bytes).get('recsys.feature_spec')).toBe(JSON.stringify(spec));
  });

  it('supports custom tensor names and a plain linear (logistic) model', async () => {
    const mlp = randomMlp(4, [4, 1]);
    const bytes = exportMlpToOnnx(mlp, { featureSpec: spec, inputName: 'x', outputName: 'y' });
    const x = Float32Array.from([1, 2, 3, 4, -1, 0, 0.5, 2]);
    const result = await runOnnx(bytes, [{ name: 'x', data: x, dims: [2, 4] }]);
    const expected = mlpForward(toFloat32(mlp), x, 2);
    expect(result.outputs['y']!.data).toHaveLength(2);
    result.outputs['y']!.data.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-5));
  });

  it('is deterministic and refuses a spec that does not match the inputs', () => {
    const mlp = randomMlp(5, [4, 3, 1]);
    expect(Buffer.from(exportMlpToOnnx(mlp, { featureSpec: spec })).equals(Buffer.from(exportMlpToOnnx(mlp, { featureSpec: spec })))).toBe(true);
    expect(() => exportMlpToOnnx(mlp, { featureSpec: spec.slice(0, 3) })).toThrow(/feature spec has 3 features, the network takes 4 inputs/);
  });
});
