import {
  artifactCandidateFeatures,
  DEFAULT_RETRIEVAL_CONFIG,
  LoadedArtifacts,
  MergedRetriever,
  openRetrievalIndex,
  servingConfig,
  type ArtifactCandidateFeatures,
  type ArtifactPart,
  type OpenIndexOptions,
  type RetrievalSource,
  type ServingConfig,
} from '@recsys/core';

/** The artifact parts the candidate generator loads. */
export const CANDIDATE_GENERATOR_PARTS: readonly ArtifactPart[] = [
  'itemEmbeddings',
  'userEmbeddings',
  'itemPopularity',
  'itemNeighbors',
  'itemFeatures',
  'userFeatures',
  'itemTimeline',
];

/** Candidates of one user, columnar and best first. */
export interface Candidates {
  itemIds: string[];
  scores: Float32Array;
  /** The source that contributed most to each candidate. */
  sources: RetrievalSource[];
  /** Score of every candidate per source that ran (NaN where that source did not find it). */
  sourceScores: { source: RetrievalSource; scores: Float32Array }[];
  /** Candidate features the artifact's ranker uses, by name (none when it uses none). */
  features: { name: string; values: Float32Array }[];
  userKnown: boolean;
}

/**
 * Retrieval over one artifact version: the merged retrieval of `@recsys/core` (embedding
 * top-N, item-to-item covisitation from the request's recent items, popularity; popularity
 * alone for users with neither), the same code `npm run evaluate` runs offline. This class
 * only translates ids to rows and back; server.ts turns source names into wire enums.
 * When the artifact's ranker uses candidate features (libs/core candidate-features.ts),
 * they are computed here, from the same artifact data and the request's recent items
 * (cut to the manifest's `serving.recent_items`), exactly as `npm run evaluate` does.
 * Pure: no gRPC, no contracts here.
 */
export class Retriever {
  private readonly dim: number;
  /** Present when the ranker's spec uses candidate features. */
  private readonly candidateFeatures: ArtifactCandidateFeatures | undefined;
  /** Names of the candidate features the ranker's spec reads. */
  private readonly featureNames: string[];
  /** The artifact's serving parameters (manifest `serving`). */
  readonly serving: ServingConfig;

  private constructor(
    readonly artifacts: LoadedArtifacts,
    private readonly merged: MergedRetriever,
  ) {
    this.dim = artifacts.manifest.embedding_dim;
    this.serving = servingConfig(artifacts.manifest);
    this.featureNames = [...new Set(artifacts.manifest.ranker.features.flatMap((f) => (f.kind === 'candidate' ? [f.feature] : [])))];
    this.candidateFeatures = this.featureNames.length > 0 ? artifactCandidateFeatures(artifacts) : undefined;
  }

  /**
   * Opens the retrieval of one loaded artifact version, its embedding index chosen by
   * `index` (default: the artifact's HNSW index when it has one, else exact).
   */
  static async create(artifacts: LoadedArtifacts, index: OpenIndexOptions = {}): Promise<Retriever> {
    const merged = await MergedRetriever.create({
      index: await openRetrievalIndex(artifacts, index),
      nItems: artifacts.itemIds.length,
      dim: artifacts.manifest.embedding_dim,
      itemEmbeddings: artifacts.itemEmbeddings,
      itemPopularity: artifacts.itemPopularity,
      ...(artifacts.itemNeighbors ? { neighbors: artifacts.itemNeighbors } : {}),
      config: artifacts.manifest.retrieval ?? DEFAULT_RETRIEVAL_CONFIG,
    });
    return new Retriever(artifacts, merged);
  }

  /** Which embedding index serves this version. */
  get indexKind(): string {
    return this.merged.index.kind;
  }

  /** Frees the version's index once the requests running on it have finished. */
  release(): Promise<void> {
    return this.merged.release();
  }

  get version(): string {
    return this.artifacts.manifest.version;
  }

  /**
   * Up to `n` candidates for `userId`, none of them in `exclude`; `recent` are the user's
   * most recent item ids, newest first (ids the artifact does not know are ignored).
   */
  async retrieve(userId: string, n: number, exclude: ReadonlySet<string>, recent: readonly string[] = []): Promise<Candidates> {
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
    const r = await this.merged.retrieve({
      ...(userRow === undefined ? {} : { userEmbedding: userEmbeddings.subarray(userRow * this.dim, (userRow + 1) * this.dim) }),
      recentItems: recentRows,
      exclude: excluded,
      n,
    });
    const userEmbedding = userRow === undefined ? undefined : userEmbeddings.subarray(userRow * this.dim, (userRow + 1) * this.dim);
    const cf = this.candidateFeatures?.featurizer.compute(
      { ...(userEmbedding ? { userEmbedding } : {}), recentItems: recentRows.slice(0, this.serving.recent_items), exclude: excluded, refDay: this.candidateFeatures.refDay(userRow) },
      r.items,
    );
    return {
      itemIds: Array.from(r.items, (i) => itemIds[i] as string),
      features: cf ? this.featureNames.map((name) => ({ name, values: cf.get(name)! })) : [],
      scores: r.scores,
      sources: r.primary,
      sourceScores: (Object.entries(r.sourceScores) as Array<[RetrievalSource, Float32Array]>).map(([source, scores]) => ({ source, scores })),
      userKnown: userRow !== undefined,
    };
  }
}
