/**
 * The generated standard-shape workload, its reference answers, and the standard folder
 * format: deterministic bytes, a format round trip bit for bit, loud refusals of bad
 * folders, and the reference model checked against the serving path's own pieces.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { topKByDot } from '@recsys/core';
import { mlpForward } from '@recsys/offline';
import { GENERATED_WORKLOAD_SEED, REFERENCE_USERS, generateWorkload, workloadFingerprint, writeWorkload } from '../../src/generated-workload';
import { RETRIEVED, referenceAnswer, retrieve, score } from '../../src/reference-model';
import { WORKLOAD_FILES, WORKLOAD_SHAPE, loadWorkload, parseReference, workloadMlp, type Workload } from '../../src/workload';

jest.setTimeout(60_000);

let w: Workload;
const tmp: string[] = [];
const tempDir = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-bench-workload-'));
  tmp.push(d);
  return d;
};

beforeAll(() => {
  w = generateWorkload();
});
afterAll(() => {
  for (const d of tmp) fs.rmSync(d, { recursive: true, force: true });
});

describe('generated workload', () => {
  it('has the standard shapes', () => {
    const { items, users, embeddingDim, featureWidth, hidden } = WORKLOAD_SHAPE;
    expect([w.items, w.users, w.embeddingDim, w.featureWidth]).toEqual([items, users, embeddingDim, featureWidth]);
    expect(w.itemEmb).toHaveLength(20_000 * 32);
    expect(w.userEmb).toHaveLength(5_000 * 32);
    expect(w.itemFeat).toHaveLength(20_000 * 16);
    expect(w.userFeat).toHaveLength(5_000 * 16);
    expect(w.w1).toHaveLength(34 * hidden);
    expect([w.b1.length, w.w2.length, w.b2.length]).toEqual([64, 64, 1]);
    expect(Object.keys(w.reference).map(Number)).toEqual([...REFERENCE_USERS].sort((a, b) => a - b));
  });

  it('is the same bytes on every run and machine (the fingerprint is pinned; a deliberate change updates it)', () => {
    expect(workloadFingerprint(generateWorkload())).toBe(workloadFingerprint(w));
    expect(workloadFingerprint(w)).toBe('20041f3a1ade2317c22b33042663a223dc8b131a6deedbf3ddb7c0a0426d3e2d');
    expect(workloadFingerprint(generateWorkload(GENERATED_WORKLOAD_SEED + 1))).not.toBe(workloadFingerprint(w));
  });

  it('draws embeddings with unit expected norm and features with unit variance', () => {
    const sd = (a: Float32Array): number => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(sd(w.itemEmb)).toBeCloseTo(1 / Math.sqrt(32), 2);
    expect(sd(w.itemFeat)).toBeCloseTo(1, 1);
    expect(sd(w.w1)).toBeCloseTo(1 / Math.sqrt(34), 1);
  });

  it('writes the standard format that loadWorkload reads back bit for bit', () => {
    const dir = path.join(tempDir(), 'wl');
    writeWorkload(w, dir);
    expect(fs.readdirSync(dir).sort()).toEqual([...WORKLOAD_FILES.map((f) => f.file), 'reference.json'].sort());
    expect(fs.statSync(path.join(dir, 'item_emb.f32')).size).toBe(20_000 * 32 * 4);
    const back = loadWorkload(dir);
    for (const { key } of WORKLOAD_FILES) expect(Buffer.from(back[key].buffer).equals(Buffer.from(w[key].buffer))).toBe(true);
    expect(back.reference).toEqual(w.reference);
    expect(workloadFingerprint(back)).toBe(workloadFingerprint(w));
    expect(() => writeWorkload(w, dir)).toThrow(/is not empty/);
  });
});

describe('loading a workload folder refuses what does not fit the standard format', () => {
  let dir: string;
  beforeAll(() => {
    dir = path.join(tempDir(), 'wl');
    writeWorkload(w, dir);
  });

  it('a truncated or missing file, naming it and the expected size', () => {
    const broken = path.join(tempDir(), 'broken');
    fs.cpSync(dir, broken, { recursive: true });
    fs.truncateSync(path.join(broken, 'W1.f32'), 100);
    expect(() => loadWorkload(broken)).toThrow(/W1\.f32 has 100 bytes, expected 8704 \(34 × 64 float32/);
    fs.rmSync(path.join(broken, 'user_feat.f32'));
    expect(() => loadWorkload(broken)).toThrow(/user_feat\.f32 is missing/);
    fs.rmSync(path.join(broken, 'reference.json'));
    expect(() => loadWorkload(broken)).toThrow(/reference\.json is missing/);
  });

  it('a malformed reference.json, naming the user and field', () => {
    const ok = { candidates_top5: [1, 2, 3, 4, 5], items: [7], scores: [0.5] };
    expect(() => parseReference('{', 'r.json')).toThrow(/r\.json is not JSON/);
    expect(() => parseReference('{}', 'r.json')).toThrow(/at least one user/);
    expect(() => parseReference(JSON.stringify({ 5000: ok }), 'r.json')).toThrow(/user "5000" is not a row/);
    expect(() => parseReference(JSON.stringify({ 1: { ...ok, items: [20_000] } }), 'r.json')).toThrow(/user 1: items must be a list of item rows/);
    expect(() => parseReference(JSON.stringify({ 1: { ...ok, scores: [] } }), 'r.json')).toThrow(/user 1: scores must be numbers, as many as items/);
    expect(parseReference(JSON.stringify({ 1: ok }), 'r.json')).toEqual({ 1: ok });
  });
});

describe('reference model', () => {
  it('retrieves the same top 300, in the same order, as the serving kernel (topKByDot)', () => {
    for (const u of REFERENCE_USERS) {
      const mine = retrieve(w, u);
      const serving = topKByDot(w.itemEmb, 32, w.userEmb.subarray(u * 32, (u + 1) * 32), RETRIEVED);
      expect(mine.map((c) => c.id)).toEqual(Array.from(serving.indices));
      expect(mine.map((c) => c.score)).toEqual(Array.from(serving.scores, (s) => Math.fround(s)));
    }
  });

  it('scores like the MLP the artifact exports, to float32 rounding', () => {
    const mlp = workloadMlp(w);
    const u = 42;
    const candidates = retrieve(w, u).slice(0, 50);
    const x = new Float32Array(candidates.length * 34);
    candidates.forEach((c, r) => {
      const uf = w.userFeat.subarray(u * 16, u * 16 + 16);
      const itf = w.itemFeat.subarray(c.id * 16, c.id * 16 + 16);
      x.set(uf, r * 34);
      x.set(itf, r * 34 + 16);
      x[r * 34 + 32] = c.score;
      x[r * 34 + 33] = uf.reduce((s, v, i) => s + v * (itf[i] as number), 0);
    });
    const other = mlpForward(mlp, x, candidates.length);
    candidates.forEach((c, r) => expect(Math.abs(score(w, u, c.id, c.score) - (other[r] as number))).toBeLessThan(1e-6));
  });

  it('answers in the reference.json format: five candidates, 20 items best first, scores to 6 decimals', () => {
    const a = referenceAnswer(w, 777);
    expect(a.candidates_top5).toHaveLength(5);
    expect(a.items).toHaveLength(20);
    expect(new Set(a.items).size).toBe(20);
    for (let i = 1; i < 20; i++) expect(a.scores[i - 1]!).toBeGreaterThanOrEqual(a.scores[i]!);
    for (const s of a.scores) expect(Math.round(s * 1e6) / 1e6).toBe(s);
    // Scores spread out (not saturated at 0 or 1), so that a wrong answer shows.
    expect(a.scores[0]! - a.scores[19]!).toBeGreaterThan(0.01);
    expect(a.scores[0]).toBeLessThan(0.999);
  });
});
