/**
 * The ranker reuses its input matrices across runs: scores must be exactly those of a fresh
 * matrix run on its own session, one call after another, for inputs of several sizes, and
 * for calls in flight together.
 */
import * as ort from 'onnxruntime-node';
import { assembleRankerInput, loadArtifacts, resolveArtifactDir, type RankerInput } from '@recsys/core';
import { RankerModel, rankerSessionOptions } from '@recsys/ranker/model';
import { testArtifactsRoot } from '../support/helpers';

jest.setTimeout(60_000);

/** A random input of `n` candidates carrying every view feature the model reads. */
function randomInput(model: RankerModel, n: number, seed: number): RankerInput {
  let s = seed >>> 0;
  const rnd = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const user = new Map([...model.defaults.user.keys()].map((k) => [k, rnd() * 4 - 2]));
  const item = new Map([...model.defaults.item.keys()].map((k) => [k, Float32Array.from({ length: n }, () => rnd() * 4 - 2)]));
  return { n, candidateScores: Float32Array.from({ length: n }, () => rnd()), sourceScores: {}, user, item };
}

let model: RankerModel;
let reference: ort.InferenceSession;
let inputName: string;
beforeAll(async () => {
  const artifacts = loadArtifacts(resolveArtifactDir(testArtifactsRoot()), ['ranker']);
  model = await RankerModel.load(artifacts, 1);
  reference = await ort.InferenceSession.create(artifacts.rankerModel!, rankerSessionOptions(1));
  inputName = artifacts.manifest.ranker.input;
});
afterAll(async () => {
  await model.close();
  await reference.release();
});

async function fresh(input: RankerInput): Promise<number[]> {
  const x = assembleRankerInput(model.spec, input);
  const out = await reference.run({ [inputName]: new ort.Tensor('float32', x, [input.n, model.spec.length]) });
  return Array.from(out[reference.outputNames[0]!]!.data as Float32Array);
}

describe('RankerModel input matrices', () => {
  it('scores like a fresh matrix, call after call, over several sizes', async () => {
    const sizes = [300, 300, 7, 300, 1, 7, 300, 50];
    for (let i = 0; i < sizes.length; i++) {
      const input = randomInput(model, sizes[i]!, 100 + i);
      expect(Array.from(await model.score(input))).toEqual(await fresh(input));
    }
  });

  it('scores like a fresh matrix with twelve calls in flight together', async () => {
    const inputs = Array.from({ length: 12 }, (_, i) => randomInput(model, i % 3 === 0 ? 120 : 300, 900 + i));
    const got = await Promise.all(inputs.map((input) => model.score(input)));
    for (let i = 0; i < inputs.length; i++) expect(Array.from(got[i]!)).toEqual(await fresh(inputs[i]!));
    // Twelve matrices were in use together; the pool keeps four of them.
    expect(model.pooledMatrixSizes()).toHaveLength(4);
  });

  it('keeps no matrix over 64,000 values, and scores such an input like a fresh matrix', async () => {
    const width = model.spec.length;
    const n = Math.floor(64_000 / width) + 1;
    const input = randomInput(model, n, 77);
    expect(Array.from(await model.score(input))).toEqual(await fresh(input));
    expect(model.pooledMatrixSizes().every((size) => size <= 64_000)).toBe(true);
    expect(model.pooledMatrixSizes()).not.toContain(n * width);
    // The largest pooled size still is.
    const largest = randomInput(model, Math.floor(64_000 / width), 78);
    await model.score(largest);
    expect(model.pooledMatrixSizes()).toContain(Math.floor(64_000 / width) * width);
  });
});
