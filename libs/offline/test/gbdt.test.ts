import { averageGbdt, createRng, exportGbdtToOnnx, gbdtGainShares, gbdtPredict, gbdtScore, trainGbdt, type GbdtModel } from '@recsys/offline';
import type { RankerFeature } from '@recsys/core';
import { runOnnx } from '../../../test/support/ort-runner';

describe('trainGbdt', () => {
  it('finds the one informative split of a tiny dataset (feature 1 at 0.5)', () => {
    // Feature 0 is noise, feature 1 separates the labels exactly between 0.4 and 0.6.
    const rows = [
      [0.3, 0.1, 0],
      [0.9, 0.2, 0],
      [0.1, 0.3, 0],
      [0.7, 0.4, 0],
      [0.2, 0.6, 1],
      [0.8, 0.7, 1],
      [0.4, 0.8, 1],
      [0.6, 0.9, 1],
    ];
    const x = Float32Array.from(rows.flatMap((r) => r.slice(0, 2)));
    const labels = rows.map((r) => r[2]!);
    const model = trainGbdt({ x, rows: rows.length, features: 2, labels }, { trees: 1, maxDepth: 1, subsample: 1, colsample: 1, minChildWeight: 0, lambda: 0, learningRate: 1 });
    const root = model.trees[0]![0]!;
    expect(root.feature).toBe(1);
    expect(root.threshold).toBe(Math.fround(0.5));
    const raw = gbdtPredict(model, x, rows.length);
    rows.forEach((r, i) => expect(raw[i]! > 0).toBe(r[2] === 1));
    expect(Array.from(gbdtGainShares(model))).toEqual([0, 1]);
  });

  it('learns where missing values go', () => {
    // NaN rows are all positive: the split on feature 0 must send NaN to the positive side.
    const n = 200;
    const rng = createRng(3);
    const x = new Float32Array(n);
    const labels: number[] = [];
    for (let r = 0; r < n; r++) {
      const kind = r % 3;
      x[r] = kind === 0 ? NaN : kind === 1 ? rng.float() : 2 + rng.float();
      labels.push(kind === 1 ? 0 : 1);
    }
    const model = trainGbdt({ x, rows: n, features: 1, labels }, { trees: 20, maxDepth: 2, subsample: 1, colsample: 1, learningRate: 0.5 });
    const s = gbdtScore(model, Float32Array.from([NaN, 0.5, 2.5]), 3);
    expect(s[0]!).toBeGreaterThan(0.9);
    expect(s[1]!).toBeLessThan(0.1);
    expect(s[2]!).toBeGreaterThan(0.9);
  });

  it('pairwise: ranks the positive of each group first and stops early on validation', () => {
    const rng = createRng(5);
    const groups = 60;
    const per = 10;
    const rows = groups * per;
    const x = new Float32Array(rows * 3);
    const labels: number[] = [];
    const groupPtr = Int32Array.from({ length: groups + 1 }, (_, q) => q * per);
    for (let r = 0; r < rows; r++) {
      const y = r % per === 0 ? 1 : 0;
      labels.push(y);
      x[r * 3] = rng.normal() + 4 * y; // informative
      x[r * 3 + 1] = rng.normal(); // noise
      x[r * 3 + 2] = Math.floor(r / per); // group id: constant within a group, useless for ranking
    }
    let evaluations = 0;
    const hitsAt1 = (p: Float64Array): number => {
      evaluations++;
      let hits = 0;
      for (let q = 0; q < groups; q++) {
        let best = q * per;
        for (let r = q * per; r < (q + 1) * per; r++) if (p[r]! > p[best]!) best = r;
        hits += labels[best]!;
      }
      return hits / groups;
    };
    const model = trainGbdt({ x, rows, features: 3, labels, groupPtr }, { objective: 'pairwise', trees: 400, maxDepth: 2, evalEvery: 5, patience: 3 }, { x, rows, metric: hitsAt1 });
    expect(hitsAt1(gbdtPredict(model, x, rows))).toBeGreaterThan(0.9);
    expect(model.trees.length).toBeLessThan(400);
    expect(evaluations).toBeLessThan(80);
    const share = gbdtGainShares(model);
    expect(share[0]!).toBeGreaterThan(share[1]! + share[2]!);
  });

  it('rejects malformed input, naming what is wrong', () => {
    expect(() => trainGbdt({ x: new Float32Array(3), rows: 2, features: 2, labels: [0, 1] })).toThrow(/3 values for 2 × 2/);
    expect(() => trainGbdt({ x: new Float32Array(4), rows: 2, features: 2, labels: [0] })).toThrow(/1 labels for 2 rows/);
    expect(() => trainGbdt({ x: new Float32Array(4), rows: 2, features: 2, labels: [0, 1] }, { objective: 'pairwise' })).toThrow(/groupPtr/);
    expect(() => trainGbdt({ x: new Float32Array(4), rows: 2, features: 2, labels: [0, 1] }, { maxBins: 300 })).toThrow(/maxBins/);
  });
});

describe('exportGbdtToOnnx', () => {
  const spec: RankerFeature[] = Array.from({ length: 5 }, (_, k) => ({ name: `f${k}`, kind: 'item' as const, feature: `f${k}` }));

  function randomData(seed: number, rows: number): { x: Float32Array; labels: number[] } {
    const rng = createRng(seed);
    const x = new Float32Array(rows * 5);
    const labels: number[] = [];
    for (let r = 0; r < rows; r++) {
      for (let f = 0; f < 5; f++) x[r * 5 + f] = rng.float() < 0.1 ? NaN : rng.normal() * (f + 1) * 10;
      const z = (Number.isNaN(x[r * 5]!) ? 1 : x[r * 5]! / 10) - (x[r * 5 + 2]! > 5 ? 1 : 0) + rng.normal() * 0.5;
      labels.push(z > 0 ? 1 : 0);
    }
    return { x, labels };
  }

  it('onnxruntime and gbdtScore agree to 1e-6 on random rows, NaN included', async () => {
    // (A child process runs onnxruntime: seconds on a loaded machine.)
    const train = randomData(11, 2000);
    const model: GbdtModel = trainGbdt({ ...train, rows: 2000, features: 5 }, { trees: 40, maxDepth: 4 });
    expect(model.trees.length).toBe(40);
    const test = randomData(12, 500);
    // Values exactly on thresholds too: the `<` comparison must match.
    for (let k = 0; k < 20; k++) {
      const node = model.trees[k]![0]!;
      if (node.feature >= 0) test.x[k * 5 + node.feature] = node.threshold;
    }
    const bytes = exportGbdtToOnnx(model, { featureSpec: spec });
    const result = await runOnnx(bytes, [{ name: 'features', data: test.x, dims: [500, 5] }]);
    const score = result.outputs['score']!;
    expect(score.dims).toEqual([500, 1]);
    const expected = gbdtScore(model, test.x, 500);
    let maxDiff = 0;
    for (let i = 0; i < 500; i++) maxDiff = Math.max(maxDiff, Math.abs(score.data[i]! - expected[i]!));
    expect(maxDiff).toBeLessThan(1e-6);
    // Not a constant model.
    expect(new Set(expected).size).toBeGreaterThan(20);
  }, 60_000);

  it('averageGbdt: one ensemble scoring the members\' mean raw score, exported and run as one model', async () => {
    const train = randomData(21, 1000);
    const a = trainGbdt({ ...train, rows: 1000, features: 5 }, { trees: 15, maxDepth: 3, seed: 1 });
    const b = trainGbdt({ ...train, rows: 1000, features: 5 }, { trees: 25, maxDepth: 4, seed: 2, learningRate: 0.2 });
    const avg = averageGbdt([a, b]);
    expect(avg.trees.length).toBe(40);
    const test = randomData(22, 300);
    const ra = gbdtPredict(a, test.x, 300);
    const rb = gbdtPredict(b, test.x, 300);
    const r = gbdtPredict(avg, test.x, 300);
    for (let i = 0; i < 300; i++) expect(r[i]!).toBeCloseTo((ra[i]! + rb[i]!) / 2, 10);
    // The members differ, so the mean is not either one of them.
    expect(Array.from(ra)).not.toEqual(Array.from(rb));
    const shares = gbdtGainShares(avg);
    expect(shares.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 9);
    const result = await runOnnx(exportGbdtToOnnx(avg, { featureSpec: spec }), [{ name: 'features', data: test.x, dims: [300, 5] }]);
    const expected = gbdtScore(avg, test.x, 300);
    let maxDiff = 0;
    for (let i = 0; i < 300; i++) maxDiff = Math.max(maxDiff, Math.abs(result.outputs['score']!.data[i]! - expected[i]!));
    expect(maxDiff).toBeLessThan(1e-6);
    expect(() => averageGbdt([])).toThrow(/at least one model/);
    expect(() => averageGbdt([a, { features: 2, base: 0, trees: [] }])).toThrow(/over 5 and 2 features/);
  }, 60_000);

  it('refuses a spec of the wrong width', () => {
    const model: GbdtModel = { features: 2, base: 0, trees: [] };
    expect(() => exportGbdtToOnnx(model, { featureSpec: spec })).toThrow(/5 features, the model takes 2/);
  });
});
