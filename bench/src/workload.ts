/**
 * The standard serving workload (`shared/bench/README.md`): raw float32 files loaded bit
 * for bit, and their conversion into the mesh's artifact format.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FeatureViewSpec, RankerFeature } from '@recsys/core';
import { exportMlpToOnnx, writeArtifact, type Mlp, type WrittenArtifact } from '@recsys/offline';

/** Shapes the standard workload defines. */
export const WORKLOAD_SHAPE = { items: 20_000, users: 5_000, embeddingDim: 32, featureWidth: 16, hidden: 64 } as const;

/** Reference answers of one user (`reference.json`). */
export interface ReferenceAnswer {
  candidates_top5: number[];
  items: number[];
  scores: number[];
}

/** The workload in memory. */
export interface Workload {
  dir: string;
  items: number;
  users: number;
  embeddingDim: number;
  featureWidth: number;
  itemEmb: Float32Array;
  userEmb: Float32Array;
  itemFeat: Float32Array;
  userFeat: Float32Array;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
  reference: Record<string, ReferenceAnswer>;
}

function readF32(dir: string, file: string, expected: number, shape: string): Float32Array {
  const p = path.join(dir, file);
  if (!fs.existsSync(p)) throw new Error(`workload: ${p} is missing (expected ${shape} float32)`);
  const buf = fs.readFileSync(p);
  if (buf.length !== expected * 4) {
    throw new Error(`workload: ${p} has ${buf.length} bytes, expected ${expected * 4} (${shape} float32 little-endian)`);
  }
  const out = new Float32Array(expected);
  for (let i = 0; i < expected; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

/**
 * Loads the workload folder, checking every file's size against the standard shapes so a
 * truncated or different workload fails naming the file.
 */
export function loadWorkload(dir: string): Workload {
  const { items, users, embeddingDim: d, featureWidth: f, hidden: h } = WORKLOAD_SHAPE;
  const inputs = 2 * f + 2;
  const refPath = path.join(dir, 'reference.json');
  if (!fs.existsSync(refPath)) throw new Error(`workload: ${refPath} is missing (the reference answers)`);
  const reference = JSON.parse(fs.readFileSync(refPath, 'utf8')) as Record<string, ReferenceAnswer>;
  for (const [user, ref] of Object.entries(reference)) {
    if (!Array.isArray(ref.candidates_top5) || !Array.isArray(ref.items) || !Array.isArray(ref.scores) || ref.items.length !== ref.scores.length) {
      throw new Error(`workload: ${refPath}: user ${user} needs candidates_top5, items and scores (same length as items)`);
    }
  }
  return {
    dir,
    items,
    users,
    embeddingDim: d,
    featureWidth: f,
    itemEmb: readF32(dir, 'item_emb.f32', items * d, `${items} × ${d}`),
    userEmb: readF32(dir, 'user_emb.f32', users * d, `${users} × ${d}`),
    itemFeat: readF32(dir, 'item_feat.f32', items * f, `${items} × ${f}`),
    userFeat: readF32(dir, 'user_feat.f32', users * f, `${users} × ${f}`),
    w1: readF32(dir, 'W1.f32', inputs * h, `${inputs} × ${h}`),
    b1: readF32(dir, 'b1.f32', h, `${h}`),
    w2: readF32(dir, 'W2.f32', h, `${h}`),
    b2: readF32(dir, 'b2.f32', 1, 'scalar'),
    reference,
  };
}

/** Feature names f0 … f(n-1) of a view. */
export function featureNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `f${i}`);
}

function view(name: 'user' | 'item', n: number): FeatureViewSpec {
  return {
    name,
    entity: name,
    features: featureNames(n).map((fname) => ({ name: fname, default: 0, description: `${name} feature ${fname} of the standard bench workload` })),
  };
}

/**
 * The ranker spec of the workload: user f0..f15, item f0..f15, the retrieval score, and
 * dot(user f, item f) — 34 inputs in the order of W1's rows.
 */
export function workloadRankerSpec(width: number): RankerFeature[] {
  const names = featureNames(width);
  return [
    ...names.map((f): RankerFeature => ({ name: `user_${f}`, kind: 'user', feature: f })),
    ...names.map((f): RankerFeature => ({ name: `item_${f}`, kind: 'item', feature: f })),
    { name: 'retrieval_score', kind: 'retrieval_score' },
    { name: 'user_item_dot', kind: 'dot', user: names, item: names },
  ];
}

/** The workload's MLP (34→64 relu→1 sigmoid); W1 is inputs × hidden row-major (x·W1). */
export function workloadMlp(w: Workload): Mlp {
  const inputs = 2 * w.featureWidth + 2;
  const hidden = w.b1.length;
  return {
    layers: [
      { inputs, outputs: hidden, weight: w.w1, bias: w.b1, activation: 'relu' },
      { inputs: hidden, outputs: 1, weight: w.w2, bias: w.b2, activation: 'sigmoid' },
    ],
  };
}

/**
 * Writes the workload as an artifact under `root` (CURRENT points at it): ids are row
 * numbers, no histories, the ranker exported with exportMlpToOnnx. Retrieval is the
 * embedding source alone (the workload's exact top-300 by dot product, its own scores):
 * every item counts one interaction so that all are eligible candidates, and the
 * covisitation and popularity sources are off.
 * Identical workloads give the identical version (the creation time is fixed).
 */
export function writeWorkloadArtifact(w: Workload, root: string): WrittenArtifact {
  if (os.endianness() !== 'LE') throw new Error('the benchmark assumes a little-endian machine');
  const spec = workloadRankerSpec(w.featureWidth);
  const model = exportMlpToOnnx(workloadMlp(w), { featureSpec: spec, graphName: 'bench_ranker', docString: 'standard bench workload ranker' });
  return writeArtifact(root, {
    dataset: { name: 'bench', source: w.dir, users: w.users, items: w.items, interactions: 0 },
    itemIds: Array.from({ length: w.items }, (_, i) => String(i)),
    userIds: Array.from({ length: w.users }, (_, i) => String(i)),
    embeddingDim: w.embeddingDim,
    itemEmbeddings: w.itemEmb,
    userEmbeddings: w.userEmb,
    itemPopularity: new Float32Array(w.items).fill(1),
    retrieval: {
      embedding: { n: 300, weight: 1 },
      covisitation: { n: 0, weight: 0, recent_items: 0 },
      popularity: { n: 0, weight: 0 },
      rrf_k: 10,
    },
    featureViews: { user: view('user', w.featureWidth), item: view('item', w.featureWidth) },
    itemFeatures: w.itemFeat,
    userFeatures: w.userFeat,
    userHistory: new Map(),
    ranker: { spec: { file: 'ranker.onnx', input: 'features', output: 'score', features: spec }, model },
    metrics: {},
    created: new Date(0),
  });
}
