/**
 * The standard serving workload: its shapes, the folder format (raw float32 files plus
 * reference.json) loaded bit for bit, and its conversion into the mesh's artifact format.
 * Without --workload the bench generates one (generated-workload.ts).
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
  /** Where it came from: the folder it was loaded from, or how it was generated. */
  source: string;
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
  /** Where the reference answers come from, for messages (a reference.json, or the reference model). */
  referenceFrom: string;
}

type ArrayKey = 'itemEmb' | 'userEmb' | 'itemFeat' | 'userFeat' | 'w1' | 'b1' | 'w2' | 'b2';

const { items: I, users: U, embeddingDim: D, featureWidth: F, hidden: H } = WORKLOAD_SHAPE;

/** The float32 files of a workload folder: name, array, value count and shape. */
export const WORKLOAD_FILES: readonly { file: string; key: ArrayKey; values: number; shape: string }[] = [
  { file: 'item_emb.f32', key: 'itemEmb', values: I * D, shape: `${I} × ${D}` },
  { file: 'user_emb.f32', key: 'userEmb', values: U * D, shape: `${U} × ${D}` },
  { file: 'item_feat.f32', key: 'itemFeat', values: I * F, shape: `${I} × ${F}` },
  { file: 'user_feat.f32', key: 'userFeat', values: U * F, shape: `${U} × ${F}` },
  { file: 'W1.f32', key: 'w1', values: (2 * F + 2) * H, shape: `${2 * F + 2} × ${H}` },
  { file: 'b1.f32', key: 'b1', values: H, shape: `${H}` },
  { file: 'W2.f32', key: 'w2', values: H, shape: `${H}` },
  { file: 'b2.f32', key: 'b2', values: 1, shape: 'scalar' },
];

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

const isIdList = (v: unknown, n: number): v is number[] => Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0 && x < n);

/** Parses reference.json, naming the user and field of anything malformed. */
export function parseReference(text: string, where: string): Record<string, ReferenceAnswer> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`workload: ${where} is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.keys(parsed).length === 0) {
    throw new Error(`workload: ${where} must be an object of user id → answer, with at least one user`);
  }
  for (const [user, ref] of Object.entries(parsed as Record<string, Partial<ReferenceAnswer>>)) {
    if (!/^(0|[1-9][0-9]*)$/.test(user) || Number(user) >= U) throw new Error(`workload: ${where}: user "${user}" is not a row of the ${U} users`);
    if (!isIdList(ref?.candidates_top5, I)) throw new Error(`workload: ${where}: user ${user}: candidates_top5 must be a list of item rows`);
    if (!isIdList(ref.items, I)) throw new Error(`workload: ${where}: user ${user}: items must be a list of item rows`);
    if (!Array.isArray(ref.scores) || ref.scores.length !== ref.items.length || !ref.scores.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new Error(`workload: ${where}: user ${user}: scores must be numbers, as many as items`);
    }
  }
  return parsed as Record<string, ReferenceAnswer>;
}

/**
 * Loads a workload folder in the standard format, checking every file's size against the
 * standard shapes so a truncated or different workload fails naming the file.
 */
export function loadWorkload(dir: string): Workload {
  const refPath = path.join(dir, 'reference.json');
  if (!fs.existsSync(refPath)) throw new Error(`workload: ${refPath} is missing (the reference answers)`);
  const reference = parseReference(fs.readFileSync(refPath, 'utf8'), refPath);
  const arrays = Object.fromEntries(WORKLOAD_FILES.map(({ file, key, values, shape }) => [key, readF32(dir, file, values, shape)])) as Record<ArrayKey, Float32Array>;
  return { source: dir, items: I, users: U, embeddingDim: D, featureWidth: F, ...arrays, reference, referenceFrom: refPath };
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
    dataset: { name: 'bench', source: w.source, users: w.users, items: w.items, interactions: 0 },
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
