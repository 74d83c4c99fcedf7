import { LoadedArtifacts, topKByDot } from '@recsys/core';
import { RetrievalSource } from '@recsys/proto';

/** Candidates of one user, columnar and best first. */
export interface Candidates {
  itemIds: string[];
  scores: Float32Array;
  sources: RetrievalSource[];
  /** Score of every candidate per source that ran (NaN where that source did not find it). */
  sourceScores: { source: RetrievalSource; scores: Float32Array }[];
  userKnown: boolean;
}

/**
 * Retrieval over one artifact version: exact top-N by dot product between the user's
 * embedding and every item embedding, or the most popular items for users without an
 * embedding. Pure: no gRPC here.
 */
export class Retriever {
  private readonly dim: number;
  /** Item rows by descending popularity (ties: lower row first), computed once. */
  private readonly popularOrder: Int32Array;

  constructor(readonly artifacts: LoadedArtifacts) {
    this.dim = artifacts.manifest.embedding_dim;
    const pop = artifacts.itemPopularity;
    const order = Array.from({ length: artifacts.itemIds.length }, (_, i) => i);
    order.sort((a, b) => (pop[b] ?? 0) - (pop[a] ?? 0) || a - b);
    this.popularOrder = Int32Array.from(order);
  }

  get version(): string {
    return this.artifacts.manifest.version;
  }

  /** Up to `n` candidates for `userId`, none of them in `exclude`. */
  retrieve(userId: string, n: number, exclude: ReadonlySet<string>): Candidates {
    const { itemIndex, userIndex, userEmbeddings, itemEmbeddings, itemIds } = this.artifacts;
    const excluded = new Set<number>();
    for (const id of exclude) {
      const row = itemIndex.get(id);
      if (row !== undefined) excluded.add(row);
    }
    const userRow = userIndex.get(userId);
    if (userRow !== undefined) {
      const query = userEmbeddings.subarray(userRow * this.dim, (userRow + 1) * this.dim);
      const top = topKByDot(itemEmbeddings, this.dim, query, n, excluded);
      const ids = Array.from(top.indices, (i) => itemIds[i] as string);
      const scores = Float32Array.from(top.scores);
      return {
        itemIds: ids,
        scores,
        sources: ids.map(() => RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING),
        sourceScores: [{ source: RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING, scores }],
        userKnown: true,
      };
    }
    return this.popular(n, excluded);
  }

  /** The `n` most popular items not excluded; score = training interaction count. */
  popular(n: number, excluded: ReadonlySet<number> = new Set()): Candidates {
    const { itemIds, itemPopularity } = this.artifacts;
    const ids: string[] = [];
    const scores: number[] = [];
    for (const row of this.popularOrder) {
      if (ids.length >= n) break;
      if (excluded.has(row)) continue;
      ids.push(itemIds[row] as string);
      scores.push(itemPopularity[row] ?? 0);
    }
    const popScores = Float32Array.from(scores);
    return {
      itemIds: ids,
      scores: popScores,
      sources: ids.map(() => RetrievalSource.RETRIEVAL_SOURCE_POPULARITY),
      sourceScores: [{ source: RetrievalSource.RETRIEVAL_SOURCE_POPULARITY, scores: popScores }],
      userKnown: false,
    };
  }
}
