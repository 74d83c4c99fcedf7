import { DEFAULT_RETRIEVAL_CONFIG, LoadedArtifacts, MergedRetriever, type RetrievalSource as SourceName } from '@recsys/core';
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

const WIRE_SOURCE: Record<SourceName, RetrievalSource> = {
  embedding: RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING,
  covisitation: RetrievalSource.RETRIEVAL_SOURCE_COVISITATION,
  popularity: RetrievalSource.RETRIEVAL_SOURCE_POPULARITY,
};

/**
 * Retrieval over one artifact version: the merged retrieval of `@recsys/core` (embedding
 * top-N, item-to-item covisitation from the request's recent items, popularity; popularity
 * alone for users with neither), the same code `npm run evaluate` runs offline. This class
 * only translates ids and wire enums. Pure: no gRPC here.
 */
export class Retriever {
  private readonly dim: number;
  private readonly merged: MergedRetriever;

  constructor(readonly artifacts: LoadedArtifacts) {
    this.dim = artifacts.manifest.embedding_dim;
    this.merged = new MergedRetriever({
      nItems: artifacts.itemIds.length,
      dim: this.dim,
      itemEmbeddings: artifacts.itemEmbeddings,
      itemPopularity: artifacts.itemPopularity,
      ...(artifacts.itemNeighbors ? { neighbors: artifacts.itemNeighbors } : {}),
      config: artifacts.manifest.retrieval ?? DEFAULT_RETRIEVAL_CONFIG,
    });
  }

  get version(): string {
    return this.artifacts.manifest.version;
  }

  /**
   * Up to `n` candidates for `userId`, none of them in `exclude`; `recent` are the user's
   * most recent item ids, newest first (ids the artifact does not know are ignored).
   */
  retrieve(userId: string, n: number, exclude: ReadonlySet<string>, recent: readonly string[] = []): Candidates {
    const { itemIndex, userIndex, userEmbeddings, itemIds } = this.artifacts;
    const excluded = new Set<number>();
    for (const id of exclude) {
      const row = itemIndex.get(id);
      if (row !== undefined) excluded.add(row);
    }
    const recentRows: number[] = [];
    for (const id of recent) {
      const row = itemIndex.get(id);
      if (row !== undefined) recentRows.push(row);
    }
    const userRow = userIndex.get(userId);
    const r = this.merged.retrieve({
      ...(userRow === undefined ? {} : { userEmbedding: userEmbeddings.subarray(userRow * this.dim, (userRow + 1) * this.dim) }),
      recentItems: recentRows,
      exclude: excluded,
      n,
    });
    return {
      itemIds: Array.from(r.items, (i) => itemIds[i] as string),
      scores: r.scores,
      sources: r.primary.map((s) => WIRE_SOURCE[s]),
      sourceScores: (Object.entries(r.sourceScores) as Array<[SourceName, Float32Array]>).map(([s, scores]) => ({ source: WIRE_SOURCE[s], scores })),
      userKnown: userRow !== undefined,
    };
  }
}
