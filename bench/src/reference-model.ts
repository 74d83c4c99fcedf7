/**
 * The standard request computed the plain way, as the workload's definition states it, to
 * give reference answers for a generated workload. Written for clarity, not speed, and
 * sharing no code with the serving path: no topKByDot, no feature assembly, no ONNX.
 *
 * One request for user u (k = 20):
 * 1. retrieval: score(i) = item_emb[i] · user_emb[u] for every item; the 300 best, score
 *    descending, ties to the lower id;
 * 2. ranking: for each candidate, x = user_feat(u) ++ item_feat(i) ++ [retrieval score,
 *    user_feat(u) · item_feat(i)] (34 values), h = relu(x·W1 + b1) (64),
 *    score = sigmoid(h·W2 + b2);
 * 3. the 20 best by score, descending, ties to the lower id.
 *
 * Arithmetic: every input is float32. Each dot product and each layer's sum is taken in
 * float64 (exact products, one rounding per sum) and rounded to float32 where the serving
 * path hands a float32 on: the retrieval score, the feature dot, the hidden units, the
 * logit and the score. A serving path in float32 (onnxruntime's MatMul) differs from this
 * by float rounding only, far below the 6 decimals the comparison keeps.
 */
import type { ReferenceAnswer, Workload } from './workload';

/** What the reference needs of a workload: the arrays (row-major; W1 is inputs × hidden, x·W1) and their widths. */
export type ReferenceInputs = Pick<Workload, 'items' | 'users' | 'embeddingDim' | 'featureWidth' | 'itemEmb' | 'userEmb' | 'itemFeat' | 'userFeat' | 'w1' | 'b1' | 'w2' | 'b2'>;

/** Candidates retrieved, and final items returned, per request of the standard workload. */
export const RETRIEVED = 300;
export const RETURNED = 20;

const f32 = Math.fround;

/** Row `r` of a row-major matrix with `width` columns. */
function row(m: Float32Array, r: number, width: number): Float32Array {
  return m.subarray(r * width, (r + 1) * width);
}

/** a · b summed in float64 in index order. */
function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}

/** Orders (id, score) pairs by score descending, then id ascending. */
function byScoreThenId(a: { id: number; score: number }, b: { id: number; score: number }): number {
  return b.score - a.score || a.id - b.id;
}

/** Step 1: the RETRIEVED best items for `user`, best first, with float32 scores. */
export function retrieve(w: ReferenceInputs, user: number): { id: number; score: number }[] {
  const u = row(w.userEmb, user, w.embeddingDim);
  const scored: { id: number; exact: number }[] = [];
  for (let i = 0; i < w.items; i++) scored.push({ id: i, exact: dot(row(w.itemEmb, i, w.embeddingDim), u) });
  // Ordered on the float64 sums (rounding first would invent ties), handed on as float32.
  scored.sort((a, b) => b.exact - a.exact || a.id - b.id);
  return scored.slice(0, RETRIEVED).map((s) => ({ id: s.id, score: f32(s.exact) }));
}

/** Step 2 for one candidate: the MLP's score of (user, item) given its retrieval score. */
export function score(w: ReferenceInputs, user: number, item: number, retrievalScore: number): number {
  const uf = row(w.userFeat, user, w.featureWidth);
  const itf = row(w.itemFeat, item, w.featureWidth);
  const x = new Float32Array(2 * w.featureWidth + 2);
  x.set(uf, 0);
  x.set(itf, w.featureWidth);
  x[2 * w.featureWidth] = retrievalScore;
  x[2 * w.featureWidth + 1] = dot(uf, itf);

  const hidden = w.b1.length;
  const h = new Float32Array(hidden);
  for (let j = 0; j < hidden; j++) {
    let sum = w.b1[j] as number;
    for (let i = 0; i < x.length; i++) sum += (x[i] as number) * (w.w1[i * hidden + j] as number);
    h[j] = Math.max(0, f32(sum));
  }
  let logit = w.b2[0] as number;
  for (let j = 0; j < hidden; j++) logit += (h[j] as number) * (w.w2[j] as number);
  return f32(1 / (1 + Math.exp(-f32(logit))));
}

/**
 * The reference answer of `user`: the first five retrieval candidates and the RETURNED
 * final items with their scores rounded to 6 decimals (the format of reference.json).
 */
export function referenceAnswer(w: ReferenceInputs, user: number): ReferenceAnswer {
  const candidates = retrieve(w, user);
  const ranked = candidates.map((c) => ({ id: c.id, score: score(w, user, c.id, c.score) })).sort(byScoreThenId);
  const top = ranked.slice(0, RETURNED);
  return {
    candidates_top5: candidates.slice(0, 5).map((c) => c.id),
    items: top.map((t) => t.id),
    scores: top.map((t) => Math.round(t.score * 1e6) / 1e6),
  };
}

/** Reference answers of several users, keyed by user id (the decimal row number). */
export function referenceAnswers(w: ReferenceInputs, users: readonly number[]): Record<string, ReferenceAnswer> {
  const out: Record<string, ReferenceAnswer> = {};
  for (const u of users) {
    if (!Number.isInteger(u) || u < 0 || u >= w.users) throw new RangeError(`reference user ${u} is not a row of the ${w.users} users`);
    out[String(u)] = referenceAnswer(w, u);
  }
  return out;
}
