import { rocAuc } from '@recsys/core';
import { applyStandardization, createRng, fitStandardization, foldStandardization, mlpForward, trainBinaryMlp } from '@recsys/offline';

/** Labels from a non-linear rule on raw features of very different scales. */
function data(n: number, seed: number): { x: Float64Array; y: Float64Array } {
  const rng = createRng(seed);
  const x = new Float64Array(n * 3);
  const y = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    const a = rng.normal();
    const b = 1000 + 300 * rng.normal();
    const c = rng.normal();
    x.set([a, b, c], r * 3);
    y[r] = a * a + (b - 1000) / 300 > 1 ? 1 : 0;
  }
  return { x, y };
}

describe('trainBinaryMlp', () => {
  it('learns a non-linear rule and generalises to fresh data', () => {
    const train = data(3000, 1);
    const test = data(1000, 2);
    const s = fitStandardization(train.x, 3000, 3);
    const auc = (hidden: number[]): number => {
      const mlp = trainBinaryMlp(applyStandardization(train.x, 3000, s), train.y, 3, { hidden, epochs: 10, seed: 3 });
      return rocAuc(mlpForward(mlp, applyStandardization(test.x, 1000, s), 1000), test.y);
    };
    const mlpAuc = auc([16]);
    expect(mlpAuc).toBeGreaterThan(0.93);
    // A hidden layer is what makes a² learnable: logistic regression stays well below.
    expect(mlpAuc - auc([])).toBeGreaterThan(0.05);
  });

  it('is deterministic for a seed', () => {
    const { x, y } = data(500, 4);
    const a = trainBinaryMlp(x, y, 3, { epochs: 2, seed: 7 });
    const b = trainBinaryMlp(x, y, 3, { epochs: 2, seed: 7 });
    expect(Array.from(a.layers[0]!.weight)).toEqual(Array.from(b.layers[0]!.weight));
  });

  it('folds standardisation into the first layer without changing outputs', () => {
    const { x, y } = data(400, 5);
    const s = fitStandardization(x, 400, 3);
    const mlp = trainBinaryMlp(applyStandardization(x, 400, s), y, 3, { epochs: 1, seed: 1 });
    const folded = foldStandardization(mlp, s);
    const a = mlpForward(mlp, applyStandardization(x, 400, s), 400);
    const b = mlpForward(folded, x, 400);
    for (let i = 0; i < 400; i++) expect(b[i]).toBeCloseTo(a[i]!, 9);
  });
});
