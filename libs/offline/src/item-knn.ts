/**
 * ItemKNN neighbour lists exactly as docs/EVALUATION.md defines them: X the binary
 * user × item matrix of a history, S_ij = (X_i·X_j)/(‖X_i‖‖X_j‖) over item columns,
 * S_ii = 0, and for each item i only its `k` largest S_ij kept (ties → lower j; zeros are
 * never kept). Served as the covisitation source (`@recsys/core` MergedRetriever).
 */
import type { ItemNeighbors } from '@recsys/core';
import { interactionMatrix } from './als';
import type { History } from './datasets';

/**
 * Computes the pruned cosine neighbour lists of every item, one row at a time (a dense
 * nItems² matrix would not fit for large catalogues): row i accumulates co-occurrence
 * counts over the users of i. Cost Σ_u |I_u|².
 *
 * @param onProgress called with the share of items done
 */
export function itemKnn(history: History, k = 100, onProgress?: (fraction: number) => void): ItemNeighbors {
  if (!Number.isInteger(k) || k <= 0) throw new RangeError(`itemKnn: k must be a positive integer, got ${k}`);
  const m = interactionMatrix(history);
  const nItems = m.nItems;
  const norm = new Float64Array(nItems);
  for (let i = 0; i < nItems; i++) norm[i] = Math.sqrt(m.itemPtr[i + 1]! - m.itemPtr[i]!);
  const counts = new Float64Array(nItems);
  const touched = new Int32Array(nItems);
  const ptr = new Int32Array(nItems + 1);
  const outItems: number[] = [];
  const outWeights: number[] = [];
  for (let i = 0; i < nItems; i++) {
    let nTouched = 0;
    for (let p = m.itemPtr[i]!; p < m.itemPtr[i + 1]!; p++) {
      const u = m.itemUsers[p]!;
      for (let q = m.userPtr[u]!; q < m.userPtr[u + 1]!; q++) {
        const j = m.userItems[q]!;
        if (j === i) continue;
        if (counts[j] === 0) touched[nTouched++] = j;
        counts[j]!++;
      }
    }
    const cand: Array<[number, number]> = [];
    for (let t = 0; t < nTouched; t++) {
      const j = touched[t]!;
      cand.push([j, counts[j]! / (norm[i]! * norm[j]!)]);
      counts[j] = 0;
    }
    cand.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    for (let r = 0; r < Math.min(k, cand.length); r++) {
      outItems.push(cand[r]![0]);
      outWeights.push(cand[r]![1]);
    }
    ptr[i + 1] = outItems.length;
    if (onProgress && i % 1000 === 0) onProgress(i / nItems);
  }
  onProgress?.(1);
  return { ptr, items: Int32Array.from(outItems), weights: Float32Array.from(outWeights) };
}
