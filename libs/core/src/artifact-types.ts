/**
 * The offline → online hand-off: what an artifact directory holds once loaded.
 *
 * An artifact directory (`artifacts/<version>/`) contains:
 *
 * | file                  | content                                                          |
 * |-----------------------|------------------------------------------------------------------|
 * | `manifest.json`       | {@link ArtifactManifest}: version, dataset, sha256 of every file  |
 * | `items.json`          | `{"item_ids": string[]}`: row order of every item matrix          |
 * | `users.json`          | `{"user_ids": string[]}`: row order of every user matrix          |
 * | `item_embeddings.f32` | items × dim float32 little-endian, row-major                      |
 * | `user_embeddings.f32` | users × dim float32 little-endian, row-major                      |
 * | `item_popularity.f32` | one float32 per item: interaction count in the training history   |
 * | `item_features.f32`   | items × (item feature view width) float32                         |
 * | `user_features.f32`   | users × (user feature view width) float32                         |
 * | `user_history.json`   | `{"<user id>": ["<item id>", …]}` newest first: the seen items    |
 * | `ranker.onnx`         | the ranking model; metadata_props `recsys.feature_spec` = JSON of the ranker feature spec |
 * | `item_neighbors.bin`  | optional: item → neighbour lists of the covisitation source ({@link encodeItemNeighbors}) |
 * | `item_timeline.bin`   | optional: every item's interaction days, ascending ({@link encodeItemTimeline}), for the candidate features |
 * | `holdout.json`        | optional, evaluation artifacts: the held-out test items per user and the split fingerprints |
 * | `item_index.<b>.usearch` | optional: the HNSW graph of norm bucket b (usearch), named in `retrieval.index` |
 */
import type { ItemNeighbors, RetrievalConfig, RetrievalSource } from './retrieval';
import type { HnswBucket, HnswParams } from './retrieval-index';

/** The manifest's `retrieval.index`: an approximate index built offline (absent = exact search only). */
export interface ArtifactIndexSpec {
  kind: 'hnsw';
  params: HnswParams;
  /** One graph file per norm bucket, longest vectors first; each is listed (hashed) in `files`. */
  files: HnswBucket[];
}

/** Interaction days of every item, ascending (CSR): item i's days are days[ptr[i] … ptr[i+1]−1]. */
export interface ItemTimeline {
  ptr: Int32Array;
  /** Days since 1970-01-01 (float32). */
  days: Float32Array;
}

/**
 * Serving parameters every service reads from the manifest (`serving`), so the mesh serves
 * with the settings the ranker was trained and evaluated with. Environment variables may
 * still override them per service.
 */
export interface ServingConfig {
  /** Recent items per user the feature store returns and the candidate features use (1..1000). */
  recent_items: number;
  /** Candidates the gateway asks for and the ranker scores (1..1000). */
  num_candidates: number;
}

/** Serving parameters of an artifact without a `serving` section. */
export const DEFAULT_SERVING_CONFIG: Readonly<ServingConfig> = { recent_items: 20, num_candidates: 300 };

/** One feature of a feature view (a named float32 column of an entity type). */
export interface FeatureDefinition {
  /** Unique within its view, `[a-z][a-z0-9_]*`. */
  name: string;
  /** Value used when the entity or the value is missing. */
  default: number;
  /** What the feature means, shown by the registry. */
  description: string;
}

/** A feature view: the features of one entity type, in storage order. */
export interface FeatureViewSpec {
  /** View name: `user` or `item`. */
  name: 'user' | 'item';
  /** Entity the view is keyed by. */
  entity: 'user' | 'item';
  /** Columns, in the order of the `.f32` matrix. */
  features: FeatureDefinition[];
}

/**
 * One input column of the ranking model, in model input order. How the ranker builds it
 * from a RankRequest:
 * - `user`: the user's value of view feature `feature` (same for every candidate);
 * - `item`: the candidate's value of item view feature `feature`;
 * - `retrieval_score`: the candidate's merged retrieval score;
 * - `retrieval_rank`: 1-based position of the candidate in the candidate list;
 * - `source_score`: the candidate's score from retrieval source `source` (`default` when
 *   that source did not find it);
 * - `dot`: Σ user[u_k] · item[i_k] over the paired feature lists `user` and `item`;
 * - `diff`: (user[`user`] − item[`item`]) · `scale`;
 * - `candidate`: the candidate feature `feature` the candidate generator computed
 *   (candidate-features.ts), `default` when the request carries none.
 */
export type RankerFeature =
  | { name: string; kind: 'user'; feature: string }
  | { name: string; kind: 'item'; feature: string }
  | { name: string; kind: 'retrieval_score' }
  | { name: string; kind: 'retrieval_rank' }
  | { name: string; kind: 'source_score'; source: RetrievalSource; default: number }
  | { name: string; kind: 'dot'; user: string[]; item: string[] }
  | { name: string; kind: 'diff'; user: string; item: string; scale: number }
  | { name: string; kind: 'candidate'; feature: string; default: number };

/** The ranking model's contract. */
export interface RankerSpec {
  /** File name inside the artifact directory. */
  file: string;
  /** ONNX input name; shape [N, features.length], float32. */
  input: string;
  /** ONNX output name; shape [N] or [N, 1], float32; higher is better. */
  output: string;
  /** Ordered model inputs. */
  features: RankerFeature[];
}

/** `manifest.json`. */
export interface ArtifactManifest {
  /** Layout version of this directory format; 1 today. */
  format: 1;
  /** Unique version string, derived from the content hashes (e.g. `synthetic-3f2a9c01b2d4`). */
  version: string;
  /** ISO-8601 creation time. */
  created: string;
  /** Where the data came from. */
  dataset: { name: string; source: string; users: number; items: number; interactions: number; seed?: number };
  /** sha256 (hex) and size of every other file of the directory. */
  files: Record<string, { sha256: string; bytes: number }>;
  /** Embedding width shared by users and items. */
  embedding_dim: number;
  /** Feature views of the snapshot. */
  feature_views: { user: FeatureViewSpec; item: FeatureViewSpec };
  /** The ranking model. */
  ranker: RankerSpec;
  /** Offline metrics measured when the artifact was built (free-form, by name). */
  metrics: Record<string, number>;
  /**
   * How the candidate generator merges its sources; absent in older artifacts (embedding
   * and popularity only, with the defaults). `neighbors_file` names the covisitation lists.
   */
  retrieval?: RetrievalConfig & { neighbors_file?: string; index?: ArtifactIndexSpec };
  /**
   * Which history the served models, features and user histories were built from: `train`
   * (fit + val of the protocol's split; the test part is held out in `holdout_file`, so
   * `npm run evaluate` can measure the served artifact) or `all` (production, nothing held out).
   */
  history?: 'train' | 'all';
  /** The held-out test items (`holdout.json`) of a `train` artifact. */
  holdout_file?: string;
  /** Serving parameters; absent in older artifacts ({@link DEFAULT_SERVING_CONFIG}). */
  serving?: ServingConfig;
  /** The item timeline of the candidate features (`item_timeline.bin`), when the ranker uses them. */
  timeline_file?: string;
}

/** `holdout.json` of an evaluation artifact. */
export interface HoldoutFile {
  /** Split part the targets are: `test`. */
  part: 'test';
  /** Protocol fingerprints of every part (count and md5 prefix), when the ids are integers. */
  split: Record<string, { count: number; md5: string }>;
  /** User id → held-out item ids. */
  targets: Record<string, string[]>;
}

/** An artifact directory loaded into memory and verified. */
export interface LoadedArtifacts {
  dir: string;
  manifest: ArtifactManifest;
  itemIds: string[];
  userIds: string[];
  /** Item id → row. */
  itemIndex: Map<string, number>;
  /** User id → row. */
  userIndex: Map<string, number>;
  itemEmbeddings: Float32Array;
  userEmbeddings: Float32Array;
  itemPopularity: Float32Array;
  itemFeatures: Float32Array;
  userFeatures: Float32Array;
  /** User id → seen item ids, newest first. */
  userHistory: Map<string, string[]>;
  /** Item interaction days, when the artifact has them and the part was loaded. */
  itemTimeline?: ItemTimeline;
  /** Covisitation neighbour lists, when the artifact has them and the part was loaded. */
  itemNeighbors?: ItemNeighbors;
  /**
   * Bytes of the ranking model (`manifest.ranker.file`), hash-verified and checked to carry
   * the manifest's feature spec. Present only when the `ranker` part was loaded.
   */
  rankerModel?: Uint8Array;
}
