/**
 * The workload `npm run bench` runs by default: the standard shapes (20,000 items × 32,
 * 5,000 users, 16 + 16 features, the 34→64→1 MLP), generated from a fixed seed with the
 * project's seeded generator, so every machine builds the same bytes, and reference answers
 * computed by reference-model.ts. `--write-workload DIR` writes it in the standard format
 * that `--workload DIR` loads.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRng, type Rng } from '@recsys/offline';
import { referenceAnswers } from './reference-model';
import { WORKLOAD_FILES, WORKLOAD_SHAPE, type Workload } from './workload';

/** Seed of the generated workload; changing it changes every figure's workload. */
export const GENERATED_WORKLOAD_SEED = 20_000;

/** Users whose answers are checked before anything is measured (first, middle, last rows). */
export const REFERENCE_USERS: readonly number[] = [0, 1, 2, 3, 42, 777, 1234, 4999];

/** `n` float32 values, each a standard normal deviate times `scale`. */
function normals(rng: Rng, n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * scale;
  return out;
}

/**
 * Generates the standard-shape workload. Each array draws from its own fork of one seeded
 * generator: embeddings N(0, 1/32) per value (unit expected norm), features N(0, 1), W1
 * N(0, 1/34), b1 N(0, 0.01), W2 N(0, 1/64), b2 = 0 — scales under which retrieval scores
 * and ranker scores spread out instead of saturating.
 */
export function generateWorkload(seed = GENERATED_WORKLOAD_SEED): Workload {
  const { items, users, embeddingDim: d, featureWidth: f, hidden: h } = WORKLOAD_SHAPE;
  const inputs = 2 * f + 2;
  const root = createRng(seed);
  const next = (): Rng => root.fork();
  const arrays = {
    itemEmb: normals(next(), items * d, 1 / Math.sqrt(d)),
    userEmb: normals(next(), users * d, 1 / Math.sqrt(d)),
    itemFeat: normals(next(), items * f, 1),
    userFeat: normals(next(), users * f, 1),
    w1: normals(next(), inputs * h, 1 / Math.sqrt(inputs)),
    b1: normals(next(), h, 0.1),
    w2: normals(next(), h, 1 / Math.sqrt(h)),
    b2: new Float32Array(1),
  };
  const shape = { items, users, embeddingDim: d, featureWidth: f };
  return {
    source: `generated (seed ${seed})`,
    ...shape,
    ...arrays,
    reference: referenceAnswers({ ...shape, ...arrays }, REFERENCE_USERS),
    referenceFrom: 'the reference answers of bench/src/reference-model.ts',
  };
}

/** sha256 of the workload's float32 files, in WORKLOAD_FILES order, as the folder holds them. */
export function workloadFingerprint(w: Workload): string {
  const hash = createHash('sha256');
  for (const { key } of WORKLOAD_FILES) hash.update(Buffer.from(w[key].buffer, w[key].byteOffset, w[key].byteLength));
  return hash.digest('hex');
}

/**
 * Writes `w` in the standard format (`<name>.f32` little-endian float32, row-major, and
 * reference.json) into `dir`, creating it; refuses a folder that already holds files.
 */
export function writeWorkload(w: Workload, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const present = fs.readdirSync(dir);
  if (present.length > 0) throw new Error(`write-workload: ${dir} is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''})`);
  for (const { file, key } of WORKLOAD_FILES) {
    const values = w[key];
    const buf = Buffer.alloc(values.length * 4);
    for (let i = 0; i < values.length; i++) buf.writeFloatLE(values[i] as number, i * 4);
    fs.writeFileSync(path.join(dir, file), buf);
  }
  fs.writeFileSync(path.join(dir, 'reference.json'), `${JSON.stringify(w.reference, null, 1)}\n`);
}
