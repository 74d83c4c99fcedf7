/**
 * Implicit-feedback ALS (Hu, Koren, Volinsky 2008) exactly as docs/EVALUATION.md specifies:
 * float64, exact per-entity solves by Cholesky, p_ui = 1 on interactions, confidence
 * c_ui = 1 + α on interactions and 1 elsewhere, λ not scaled by counts. One iteration
 * updates all users, then all items:
 *
 *   x_u = (VᵀV + α·V_uᵀV_u + λI)⁻¹ (1+α) Σ_{i∈I_u} y_i
 *
 * VᵀV is computed once per half-iteration; each solve touches only the rows of the
 * entity's own interactions. The reference initialisation draws from numpy's generator,
 * which cannot be reproduced here; this one draws N(0, 0.01²) from the seeded
 * {@link createRng} (users first, then items), so results are deterministic but not
 * bit-identical to the Python reference.
 */
import type { History } from './datasets';
import { createRng } from './random';

/** Hyper-parameters of {@link trainAls}. */
export interface AlsOptions {
  /** Number of latent factors f. Default 64. */
  factors: number;
  /** Confidence weight α. Default 20. */
  alpha: number;
  /** L2 regularisation λ (not scaled by counts). Default 0.05. */
  lambda: number;
  /** Number of full iterations (users then items). Default 15. */
  iterations: number;
  /** Seed of the initialisation. Default 42. */
  seed: number;
  /** Compute the training loss after each iteration (costs about one extra half-iteration's Gram work). Default true. */
  computeLoss: boolean;
  /** Called after every iteration. */
  onProgress?: (progress: AlsProgress) => void;
}

/** Progress report of {@link trainAls}. */
export interface AlsProgress {
  /** Iterations done so far (1-based). */
  iteration: number;
  iterations: number;
  /** Loss after this iteration, when `computeLoss` is on. */
  loss?: number;
}

/** Defaults of {@link trainAls}: the docs/EVALUATION.md default configuration. */
const DEFAULT_ALS_OPTIONS: Readonly<AlsOptions> = {
  factors: 64,
  alpha: 20,
  lambda: 0.05,
  iterations: 15,
  seed: 42,
  computeLoss: true,
};

/** The binary interaction matrix in both orientations (sorted, duplicates removed). */
export interface InteractionMatrix {
  nUsers: number;
  nItems: number;
  /** Items of user u: userItems[userPtr[u] … userPtr[u+1]−1], ascending. */
  userPtr: Int32Array;
  userItems: Int32Array;
  /** Users of item i: itemUsers[itemPtr[i] … itemPtr[i+1]−1], ascending. */
  itemPtr: Int32Array;
  itemUsers: Int32Array;
}

/** A trained factorisation: score(u, i) = userFactors[u]·itemFactors[i]. */
export interface AlsModel {
  factors: number;
  nUsers: number;
  nItems: number;
  /** nUsers × factors, row-major. */
  userFactors: Float64Array;
  /** nItems × factors, row-major. */
  itemFactors: Float64Array;
  /** Loss after each iteration (empty when `computeLoss` was off). */
  losses: number[];
}

/** Builds the binary user × item matrix of a history (repeated pairs count once). */
export function interactionMatrix(history: History): InteractionMatrix {
  const { nUsers, nItems } = history;
  const userPtr = new Int32Array(nUsers + 1);
  const rows: Int32Array[] = [];
  for (let u = 0; u < nUsers; u++) {
    const its = Int32Array.from(new Set(history.items.subarray(history.userPtr[u]!, history.userPtr[u + 1]!))).sort();
    rows.push(its);
    userPtr[u + 1] = userPtr[u]! + its.length;
  }
  const userItems = new Int32Array(userPtr[nUsers]!);
  rows.forEach((r, u) => userItems.set(r, userPtr[u]!));

  const itemPtr = new Int32Array(nItems + 1);
  for (const i of userItems) itemPtr[i + 1]!++;
  for (let i = 0; i < nItems; i++) itemPtr[i + 1]! += itemPtr[i]!;
  const fill = itemPtr.slice(0, nItems);
  const itemUsers = new Int32Array(userItems.length);
  for (let u = 0; u < nUsers; u++) {
    for (let p = userPtr[u]!; p < userPtr[u + 1]!; p++) itemUsers[fill[userItems[p]!]!++] = u;
  }
  return { nUsers, nItems, userPtr, userItems, itemPtr, itemUsers };
}

/** YᵀY of an n × f row-major matrix, full f × f. */
function gram(y: Float64Array, n: number, f: number): Float64Array {
  const g = new Float64Array(f * f);
  for (let j = 0; j < n; j++) {
    const o = j * f;
    for (let r = 0; r < f; r++) {
      const yr = y[o + r]!;
      if (yr === 0) continue;
      const gr = r * f;
      for (let c = 0; c <= r; c++) g[gr + c]! += yr * y[o + c]!;
    }
  }
  for (let r = 0; r < f; r++) for (let c = r + 1; c < f; c++) g[r * f + c] = g[c * f + r]!;
  return g;
}

/**
 * Recomputes every row of `x` from the fixed `y`:
 * x_e = (YᵀY + α·Y_eᵀY_e + λI)⁻¹ (1+α) Σ_{j∈N(e)} y_j, with N(e) = idx[ptr[e] … ptr[e+1]−1].
 */
function solveSide(
  x: Float64Array,
  nX: number,
  y: Float64Array,
  nY: number,
  ptr: Int32Array,
  idx: Int32Array,
  f: number,
  alpha: number,
  lambda: number,
): void {
  const g = gram(y, nY, f);
  const a = new Float64Array(f * f);
  const b = new Float64Array(f);
  const z = new Float64Array(f);
  for (let e = 0; e < nX; e++) {
    const start = ptr[e]!;
    const end = ptr[e + 1]!;
    const xo = e * f;
    if (start === end) {
      x.fill(0, xo, xo + f);
      continue;
    }
    // Lower triangle of A = G + λI + α Σ y yᵀ, and b = (1+α) Σ y.
    for (let r = 0; r < f; r++) {
      const ro = r * f;
      for (let c = 0; c <= r; c++) a[ro + c] = g[ro + c]!;
      a[ro + r]! += lambda;
    }
    b.fill(0);
    for (let p = start; p < end; p++) {
      const yo = idx[p]! * f;
      for (let r = 0; r < f; r++) {
        const yr = y[yo + r]!;
        b[r]! += yr;
        const ar = alpha * yr;
        const ro = r * f;
        for (let c = 0; c <= r; c++) a[ro + c]! += ar * y[yo + c]!;
      }
    }
    for (let r = 0; r < f; r++) b[r]! *= 1 + alpha;
    // Cholesky A = L Lᵀ in place (lower triangle).
    for (let j = 0; j < f; j++) {
      const jo = j * f;
      let s = a[jo + j]!;
      for (let k = 0; k < j; k++) s -= a[jo + k]! * a[jo + k]!;
      if (!(s > 0)) throw new Error(`ALS: normal equations of row ${e} are not positive definite`);
      const d = Math.sqrt(s);
      a[jo + j] = d;
      for (let i = j + 1; i < f; i++) {
        const io = i * f;
        let t = a[io + j]!;
        for (let k = 0; k < j; k++) t -= a[io + k]! * a[jo + k]!;
        a[io + j] = t / d;
      }
    }
    // L z = b, then Lᵀ x = z.
    for (let i = 0; i < f; i++) {
      const io = i * f;
      let t = b[i]!;
      for (let k = 0; k < i; k++) t -= a[io + k]! * z[k]!;
      z[i] = t / a[io + i]!;
    }
    for (let i = f - 1; i >= 0; i--) {
      let t = z[i]!;
      for (let k = i + 1; k < f; k++) t -= a[k * f + i]! * x[xo + k]!;
      x[xo + i] = t / a[i * f + i]!;
    }
  }
}

/**
 * The ALS objective Σ_{u,i} c_ui (p_ui − x_u·y_i)² + λ(Σ‖x_u‖² + Σ‖y_i‖²) over the full
 * user × item grid, computed in O(nnz·f + (users+items)·f²) via
 * Σ_{u,i} (x_u·y_i)² = Σ_u x_uᵀ(YᵀY)x_u.
 */
export function alsLoss(m: InteractionMatrix, model: Pick<AlsModel, 'factors' | 'userFactors' | 'itemFactors'>, alpha: number, lambda: number): number {
  const f = model.factors;
  const x = model.userFactors;
  const y = model.itemFactors;
  const g = gram(y, m.nItems, f);
  let loss = 0;
  for (let u = 0; u < m.nUsers; u++) {
    const xo = u * f;
    for (let r = 0; r < f; r++) {
      const xr = x[xo + r]!;
      if (xr === 0) continue;
      let t = 0;
      for (let c = 0; c < f; c++) t += g[r * f + c]! * x[xo + c]!;
      loss += xr * t;
    }
    for (let p = m.userPtr[u]!; p < m.userPtr[u + 1]!; p++) {
      const yo = m.userItems[p]! * f;
      let s = 0;
      for (let d = 0; d < f; d++) s += x[xo + d]! * y[yo + d]!;
      loss += (1 + alpha) * (1 - s) * (1 - s) - s * s;
    }
  }
  let reg = 0;
  for (const v of x) reg += v * v;
  for (const v of y) reg += v * v;
  return loss + lambda * reg;
}

/**
 * Trains implicit ALS on a history (or a prebuilt {@link interactionMatrix}).
 *
 * @example
 * const model = trainAls(history, { factors: 32, alpha: 20, iterations: 15,
 *   onProgress: (p) => console.error(`ALS ${p.iteration}/${p.iterations} loss ${p.loss}`) });
 */
export function trainAls(data: History | InteractionMatrix, options: Partial<AlsOptions> = {}): AlsModel {
  const o: AlsOptions = { ...DEFAULT_ALS_OPTIONS, ...options };
  if (!Number.isInteger(o.factors) || o.factors <= 0) throw new RangeError(`ALS: factors must be a positive integer, got ${o.factors}`);
  if (!Number.isInteger(o.iterations) || o.iterations < 0) throw new RangeError(`ALS: iterations must be a non-negative integer, got ${o.iterations}`);
  if (!(o.alpha >= 0) || !(o.lambda > 0)) throw new RangeError(`ALS: need alpha ≥ 0 and lambda > 0, got alpha ${o.alpha}, lambda ${o.lambda}`);
  const m = 'userItems' in data ? data : interactionMatrix(data);
  const f = o.factors;
  const rng = createRng(o.seed);
  const userFactors = new Float64Array(m.nUsers * f);
  const itemFactors = new Float64Array(m.nItems * f);
  for (let i = 0; i < userFactors.length; i++) userFactors[i] = 0.01 * rng.normal();
  for (let i = 0; i < itemFactors.length; i++) itemFactors[i] = 0.01 * rng.normal();

  const model: AlsModel = { factors: f, nUsers: m.nUsers, nItems: m.nItems, userFactors, itemFactors, losses: [] };
  for (let it = 1; it <= o.iterations; it++) {
    solveSide(userFactors, m.nUsers, itemFactors, m.nItems, m.userPtr, m.userItems, f, o.alpha, o.lambda);
    solveSide(itemFactors, m.nItems, userFactors, m.nUsers, m.itemPtr, m.itemUsers, f, o.alpha, o.lambda);
    const progress: AlsProgress = { iteration: it, iterations: o.iterations };
    if (o.computeLoss) {
      progress.loss = alsLoss(m, model, o.alpha, o.lambda);
      model.losses.push(progress.loss);
    }
    o.onProgress?.(progress);
  }
  return model;
}
