import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_HNSW_PARAMS, ExactIndex, exactRetrievalGraph, HnswIndex, parseHnswParams, type HnswParams } from '@recsys/core';
import { rng } from './rng';


/** The reference: every eligible, non-excluded row by float32 dot product, stable sort (ties → lower row). */
function reference(items: Float32Array, dim: number, q: Float32Array, k: number, eligible?: Uint8Array, exclude?: Set<number>): number[] {
  const rows = items.length / dim;
  const scored: Array<[number, number]> = [];
  for (let r = 0; r < rows; r++) {
    if ((eligible && eligible[r] !== 1) || exclude?.has(r)) continue;
    let s = 0;
    for (let d = 0; d < dim; d++) s += items[r * dim + d]! * q[d]!;
    scored.push([r, s]);
  }
  return scored
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, k)
    .map(([r]) => r);
}

describe('ExactIndex (ONNX MatMul + TopK)', () => {
  it('finds the exact top-k by dot product, best first, ties to the lower row', async () => {
    // Quantised values give many exact ties, which must all break towards the lower row.
    const rand = rng(7);
    const rows = 500;
    const dim = 8;
    const items = Float32Array.from({ length: rows * dim }, () => Math.round(rand() * 4) / 4);
    const index = await ExactIndex.create(items, dim);
    for (let t = 0; t < 20; t++) {
      const q = Float32Array.from({ length: dim }, () => Math.round(rand() * 4) / 4);
      const hits = await index.search(q, 37);
      expect(Array.from(hits.rows)).toEqual(reference(items, dim, q, 37));
      for (let j = 0; j < hits.rows.length; j++) {
        let s = 0;
        for (let d = 0; d < dim; d++) s += items[hits.rows[j]! * dim + d]! * q[d]!;
        expect(hits.scores[j]).toBeCloseTo(s, 4);
      }
    }
    await index.release();
  });

  it('never returns an excluded or ineligible row, and still returns k rows when enough exist', async () => {
    const rand = rng(11);
    const rows = 300;
    const dim = 4;
    const items = Float32Array.from({ length: rows * dim }, () => rand() - 0.5);
    const eligible = Uint8Array.from({ length: rows }, (_, r) => (r % 3 === 0 ? 0 : 1));
    const index = await ExactIndex.create(items, dim, { eligible });
    const q = Float32Array.from([1, 0.5, -0.25, 2]);
    // Exclude the 60 best eligible rows, some ineligible ones and rows outside the index.
    const best = reference(items, dim, q, 60, eligible);
    const exclude = new Set([...best, 0, 3, 6, -1, 1e9]);
    const hits = await index.search(q, 50, exclude);
    expect(Array.from(hits.rows)).toEqual(reference(items, dim, q, 50, eligible, exclude));
    expect(hits.rows).toHaveLength(50);
    // Asking for more than remain returns all that remain (200 eligible − 60 excluded).
    expect((await index.search(q, 1000, exclude)).rows).toHaveLength(140);
    expect((await index.search(q, 0)).rows).toHaveLength(0);
    await index.release();
  });

  it('names what is wrong with bad input', async () => {
    expect(() => exactRetrievalGraph(0)).toThrow('dim must be a positive integer, got 0');
    await expect(ExactIndex.create(new Float32Array(10), 3)).rejects.toThrow('10 values are not a multiple of dim 3');
    await expect(ExactIndex.create(new Float32Array(6), 3, { eligible: new Uint8Array(3) })).rejects.toThrow('eligibility of 3 rows for 2 rows');
    const index = await ExactIndex.create(new Float32Array(6), 3);
    await expect(index.search(new Float32Array(2), 1)).rejects.toThrow('query has 2 values, expected dim 3');
    await expect(index.search(new Float32Array(3), -1)).rejects.toThrow('k must be a non-negative integer, got -1');
    await index.release();
  });
});

/** Clustered vectors of varying norms (the shape ANN has to cope with). */
function clustered(rows: number, dim: number, seed: number): Float32Array {
  const rand = rng(seed);
  const g = (): number => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centres = Array.from({ length: 20 }, () => Array.from({ length: dim }, g));
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const c = centres[r % 20]!;
    const norm = Math.exp(0.35 * g());
    for (let d = 0; d < dim; d++) out[r * dim + d] = (c[d]! + g() / 3) * norm;
  }
  return out;
}

describe('HnswIndex (usearch cosine graphs per norm bucket, exact re-score)', () => {
  const rows = 3000;
  const dim = 16;
  const items = clustered(rows, dim, 5);
  const params: HnswParams = { ...DEFAULT_HNSW_PARAMS, buckets: 3 };
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-hnsw-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds nearly the exact top-k, saved, memory-mapped and loaded alike', async () => {
    const eligible = Uint8Array.from({ length: rows }, (_, r) => (r % 10 === 9 ? 0 : 1));
    const built = HnswIndex.build(items, dim, params, { eligible, threads: 1 });
    const buckets = built.save(path.join(dir, 'item_index'));
    expect(buckets.map((b) => b.file)).toEqual(['item_index.0.usearch', 'item_index.1.usearch', 'item_index.2.usearch']);
    expect(buckets.reduce((s, b) => s + b.rows, 0)).toBe(2700);
    // Longest vectors first.
    expect(buckets[0]!.max_norm).toBeGreaterThan(buckets[2]!.max_norm);
    const viewed = HnswIndex.open(dir, buckets, items, dim, params, { eligible, mode: 'view' });
    const loaded = HnswIndex.open(dir, buckets, items, dim, params, { eligible, mode: 'load' });
    const rand = rng(9);
    let hit = 0;
    let total = 0;
    for (let t = 0; t < 30; t++) {
      const q = items.slice((t * 37) * dim, (t * 37 + 1) * dim).map((v) => v + (rand() - 0.5) * 0.1);
      const truth = reference(items, dim, q, 50, eligible);
      for (const index of [built, viewed, loaded]) {
        const hits = await index.search(q, 50);
        expect(hits.rows).toHaveLength(50);
        for (const r of hits.rows) expect(eligible[r]).toBe(1);
        for (let j = 1; j < 50; j++) expect(hits.scores[j]!).toBeLessThanOrEqual(hits.scores[j - 1]!);
        const set = new Set(truth);
        hit += Array.from(hits.rows).filter((r) => set.has(r)).length;
        total += 50;
      }
    }
    // Measured recall of the approximate search against the exact one (no timing).
    expect(hit / total).toBeGreaterThanOrEqual(0.95);
  });

  it('never returns an excluded row and still returns k rows, even when the best ones are all excluded', async () => {
    const index = HnswIndex.build(items, dim, params, { threads: 1 });
    const q = items.slice(0, dim);
    const best = reference(items, dim, q, 400);
    const exclude = new Set(best);
    const hits = await index.search(q, 100, exclude);
    expect(hits.rows).toHaveLength(100);
    for (const r of hits.rows) expect(exclude.has(r)).toBe(false);
    // More than remain: everything that remains.
    expect((await index.search(q, 5000, exclude)).rows).toHaveLength(rows - 400);
  });

  it('refuses graphs that do not match the artifact, naming the file, and checks its parameters', () => {
    const built = HnswIndex.build(items, dim, params, { threads: 1 });
    const buckets = built.save(path.join(dir, 'other'));
    expect(() => HnswIndex.open(dir, buckets, items.subarray(0, 100 * dim), dim, params)).toThrow('the HNSW buckets hold 3000 items, the artifact has 100 eligible items');
    const wrongRows = buckets.map((b, i) => (i === 0 ? { ...b, rows: b.rows + 1 } : i === 1 ? { ...b, rows: b.rows - 1 } : b));
    expect(() => HnswIndex.open(dir, wrongRows, items, dim, params)).toThrow(/other\.0\.usearch: the HNSW graph holds \d+ vectors, the manifest says \d+/);
    expect(() => parseHnswParams({ ...DEFAULT_HNSW_PARAMS, connectivity: 1 }, 'retrieval.index.params')).toThrow('retrieval.index.params.connectivity must be an integer between 2 and 256, got 1');
    expect(() => parseHnswParams({ ...DEFAULT_HNSW_PARAMS, metric: 'ip' })).toThrow('hnsw.metric must be "cos", got "ip"');
  });
});
