/**
 * ItemKNN neighbour lists exactly as docs/EVALUATION.md defines them: X the binary
 * user × item matrix of a history, S_ij = (X_i·X_j)/(‖X_i‖‖X_j‖) over item columns,
 * S_ii = 0, and for each item i only its `k` largest S_ij kept (ties → lower j; zeros are
 * never kept). Served as the covisitation source (`@recsys/core` MergedRetriever).
 */
import { TopKHeap, type ItemNeighbors } from '@recsys/core';
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
  // At most k per item, in typed arrays (no per-pair JS objects), trimmed at the end.
  const outItems = new Int32Array(nItems * k);
  const outWeights = new Float32Array(nItems * k);
  let w = 0;
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
    // Best k by weight, ties → lower j (the heap's order).
    const heap = new TopKHeap(k);
    for (let t = 0; t < nTouched; t++) {
      const j = touched[t]!;
      heap.offer(j, counts[j]! / (norm[i]! * norm[j]!));
      counts[j] = 0;
    }
    const best = heap.result();
    outItems.set(best.indices, w);
    outWeights.set(best.scores, w);
    w += best.indices.length;
    ptr[i + 1] = w;
    if (onProgress && i % 1000 === 0) onProgress(i / nItems);
  }
  onProgress?.(1);
  return { ptr, items: outItems.slice(0, w), weights: outWeights.slice(0, w) };
}
