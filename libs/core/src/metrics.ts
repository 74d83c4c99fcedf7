/**
 * Ranking metrics as defined in docs/EVALUATION.md (binary relevance).
 */

/**
 * Recall@k of one ranked list: |top-k ∩ relevant| divided by `min(k, |relevant|)`
 * (`denominator: 'capped'`, docs/EVALUATION.md's Recall@10) or by `|relevant|`
 * (`denominator: 'all'`, its Recall@300). 0 when nothing is relevant.
 */
export function recallAtK<T>(ranked: ArrayLike<T>, relevant: ReadonlySet<T>, k: number, denominator: 'capped' | 'all' = 'capped'): number {
  if (relevant.size === 0) return 0;
  const limit = Math.min(k, ranked.length);
  let hits = 0;
  for (let r = 0; r < limit; r++) if (relevant.has(ranked[r]!)) hits++;
  return hits / (denominator === 'capped' ? Math.min(k, relevant.size) : relevant.size);
}

/**
 * NDCG@k of one ranked list with binary relevance: Σ_{r≤k} rel_r / log2(r+1) divided by
 * the ideal Σ_{r≤min(k,|relevant|)} 1/log2(r+1). 0 when nothing is relevant.
 */
export function ndcgAtK<T>(ranked: ArrayLike<T>, relevant: ReadonlySet<T>, k: number): number {
  if (relevant.size === 0) return 0;
  const limit = Math.min(k, ranked.length);
  let dcg = 0;
  for (let r = 0; r < limit; r++) if (relevant.has(ranked[r]!)) dcg += 1 / Math.log2(r + 2);
  let ideal = 0;
  for (let r = 0; r < Math.min(k, relevant.size); r++) ideal += 1 / Math.log2(r + 2);
  return dcg / ideal;
}

/**
 * Area under the ROC curve of `scores` against binary `labels` (ties count one half),
 * or NaN when one class is absent. O(n log n).
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new RangeError(`rocAuc: ${n} scores but ${labels.length} labels`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) {
      if (labels[order[t]!]! > 0) {
        pos++;
        rankSum += avgRank;
      }
    }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}
