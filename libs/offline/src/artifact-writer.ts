/**
 * Writes artifact directories (layout in `@recsys/core` artifact-types.ts) so that readers
 * never see a half-written one: files go to a temporary directory in the artifact root,
 * which is renamed into place as a whole; the root's `CURRENT` pointer is replaced by
 * writing a temporary file and renaming it.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ARTIFACT_FILES,
  CURRENT_FILE,
  encodeItemNeighbors,
  encodeItemTimeline,
  float32LEBytes,
  loadArtifacts,
  sha256Hex,
  validateRankerSpec,
  VERSION_PATTERN,
  type ArtifactIndexSpec,
  type ArtifactManifest,
  type FeatureViewSpec,
  type HoldoutFile,
  type ItemNeighbors,
  type ItemTimeline,
  type ServingConfig,
  type RankerSpec,
  type RetrievalConfig,
} from '@recsys/core';

/** File name of the covisitation neighbour lists in an artifact. */
const NEIGHBORS_FILE = 'item_neighbors.bin';
/** File name of the item timeline (candidate features) in an artifact. */
const TIMELINE_FILE = 'item_timeline.bin';
/** File name of the held-out test items of an evaluation artifact. */
const HOLDOUT_FILE = 'holdout.json';

/** Everything an artifact holds, in memory. */
export interface ArtifactContent {
  dataset: ArtifactManifest['dataset'];
  /** Row order of every item matrix. */
  itemIds: string[];
  /** Row order of every user matrix. */
  userIds: string[];
  embeddingDim: number;
  /** items × embeddingDim. */
  itemEmbeddings: Float32Array;
  /** users × embeddingDim. */
  userEmbeddings: Float32Array;
  /** Interaction count per item. */
  itemPopularity: Float32Array;
  featureViews: { user: FeatureViewSpec; item: FeatureViewSpec };
  /** items × item view width. */
  itemFeatures: Float32Array;
  /** users × user view width. */
  userFeatures: Float32Array;
  /** User id → seen item ids, newest first. */
  userHistory: ReadonlyMap<string, readonly string[]>;
  /** The ranking model and its contract; `spec.file` is its file name. */
  ranker: { spec: RankerSpec; model: Uint8Array };
  metrics: Record<string, number>;
  /** Creation time recorded in the manifest (default: now). Does not affect the version. */
  created?: Date;
  /** Merge settings of the candidate generator (recorded in the manifest). */
  retrieval?: RetrievalConfig;
  /** Covisitation neighbour lists over the item rows. */
  neighbors?: ItemNeighbors;
  /** Interaction days per item row (needed when the ranker uses candidate features). */
  timeline?: ItemTimeline;
  /** Serving parameters recorded in the manifest. */
  serving?: ServingConfig;
  /** Which history the served parts were built from (see ArtifactManifest.history). */
  history?: 'train' | 'all';
  /** Held-out test items of a `train` artifact. */
  holdout?: HoldoutFile;
  /** An approximate index built offline: its manifest entry (`retrieval.index`) and its files. */
  retrievalIndex?: { spec: ArtifactIndexSpec; files: Map<string, Buffer> };
}

/** An artifact serialized to bytes, not yet on disk. */
export interface SerializedArtifact {
  version: string;
  manifest: ArtifactManifest;
  /** File name → bytes, `manifest.json` included. */
  files: Map<string, Buffer>;
}

/** Where {@link writeArtifact} put an artifact. */
export interface WrittenArtifact {
  version: string;
  /** Absolute version directory. */
  dir: string;
  /** Absolute artifact root. */
  root: string;
  manifest: ArtifactManifest;
  /** True when an identical, valid version directory already existed and was kept. */
  reused: boolean;
}

function jsonBytes(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
}

function checkShape(name: string, values: Float32Array, rows: number, width: number): void {
  if (values.length !== rows * width) {
    throw new RangeError(`artifact ${name}: ${values.length} values, expected ${rows} rows × ${width} = ${rows * width}`);
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw new RangeError(`artifact ${name}: non-finite value at row ${Math.floor(i / width)}`);
  }
}

/**
 * The version name of a set of files: `<dataset>-<first 12 hex digits of the sha256 of
 * the lines "<file name> <sha256>\n" sorted by file name>`. Identical content gives an
 * identical version; the manifest (which holds the creation time) is not part of it.
 */
export function artifactVersion(dataset: string, files: Record<string, { sha256: string }>): string {
  const lines = Object.keys(files)
    .sort()
    .map((name) => `${name} ${files[name]!.sha256}\n`)
    .join('');
  const prefix = dataset.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'artifact';
  return `${prefix}-${sha256Hex(Buffer.from(lines, 'utf8')).slice(0, 12)}`;
}

/**
 * Serializes an artifact: checks shapes and the ranker spec, encodes every file, hashes
 * them, derives the version and builds the manifest.
 *
 * @throws RangeError / FeatureSpecError when the content is inconsistent, so that nothing a
 *   reader would reject is ever written
 */
function serializeArtifact(content: ArtifactContent): SerializedArtifact {
  const nItems = content.itemIds.length;
  const nUsers = content.userIds.length;
  if (new Set(content.itemIds).size !== nItems) throw new RangeError('artifact: item ids are not unique');
  if (new Set(content.userIds).size !== nUsers) throw new RangeError('artifact: user ids are not unique');
  if (!Number.isInteger(content.embeddingDim) || content.embeddingDim <= 0) throw new RangeError(`artifact: bad embedding dim ${content.embeddingDim}`);
  checkShape(ARTIFACT_FILES.itemEmbeddings, content.itemEmbeddings, nItems, content.embeddingDim);
  checkShape(ARTIFACT_FILES.userEmbeddings, content.userEmbeddings, nUsers, content.embeddingDim);
  checkShape(ARTIFACT_FILES.itemPopularity, content.itemPopularity, nItems, 1);
  checkShape(ARTIFACT_FILES.itemFeatures, content.itemFeatures, nItems, content.featureViews.item.features.length);
  checkShape(ARTIFACT_FILES.userFeatures, content.userFeatures, nUsers, content.featureViews.user.features.length);
  validateRankerSpec(content.ranker.spec.features, content.featureViews);
  const rankerFile = content.ranker.spec.file;
  if (!VERSION_PATTERN.test(rankerFile) || Object.values<string>(ARTIFACT_FILES).includes(rankerFile)) {
    throw new RangeError(`artifact: invalid ranker file name "${rankerFile}"`);
  }

  const history: Record<string, readonly string[]> = {};
  for (const [user, items] of content.userHistory) history[user] = items;
  const files = new Map<string, Buffer>([
    [ARTIFACT_FILES.items, jsonBytes({ item_ids: content.itemIds })],
    [ARTIFACT_FILES.users, jsonBytes({ user_ids: content.userIds })],
    [ARTIFACT_FILES.itemEmbeddings, float32LEBytes(content.itemEmbeddings)],
    [ARTIFACT_FILES.userEmbeddings, float32LEBytes(content.userEmbeddings)],
    [ARTIFACT_FILES.itemPopularity, float32LEBytes(content.itemPopularity)],
    [ARTIFACT_FILES.itemFeatures, float32LEBytes(content.itemFeatures)],
    [ARTIFACT_FILES.userFeatures, float32LEBytes(content.userFeatures)],
    [ARTIFACT_FILES.userHistory, jsonBytes(history)],
    [rankerFile, Buffer.from(content.ranker.model)],
  ]);
  if (content.neighbors) {
    if (content.neighbors.ptr.length !== nItems + 1) throw new RangeError(`artifact ${NEIGHBORS_FILE}: lists for ${content.neighbors.ptr.length - 1} items, expected ${nItems}`);
    files.set(NEIGHBORS_FILE, encodeItemNeighbors(content.neighbors));
  }
  if (content.timeline) {
    if (content.timeline.ptr.length !== nItems + 1) throw new RangeError(`artifact ${TIMELINE_FILE}: timeline of ${content.timeline.ptr.length - 1} items, expected ${nItems}`);
    files.set(TIMELINE_FILE, encodeItemTimeline(content.timeline));
  }
  if (content.holdout) files.set(HOLDOUT_FILE, jsonBytes(content.holdout));
  if (content.retrievalIndex) {
    if (!content.retrieval) throw new RangeError('artifact: a retrieval index needs the retrieval config');
    for (const [name, buf] of content.retrievalIndex.files) {
      if (!VERSION_PATTERN.test(name) || files.has(name)) throw new RangeError(`artifact: invalid or duplicate index file name "${name}"`);
      files.set(name, buf);
    }
  }
  const entries: ArtifactManifest['files'] = {};
  for (const name of [...files.keys()].sort()) {
    const buf = files.get(name)!;
    entries[name] = { sha256: sha256Hex(buf), bytes: buf.length };
  }
  const version = artifactVersion(content.dataset.name, entries);
  const manifest: ArtifactManifest = {
    format: 1,
    version,
    created: (content.created ?? new Date()).toISOString(),
    dataset: content.dataset,
    files: entries,
    embedding_dim: content.embeddingDim,
    feature_views: content.featureViews,
    ranker: content.ranker.spec,
    metrics: content.metrics,
    ...(content.retrieval
      ? {
          retrieval: {
            ...content.retrieval,
            ...(content.neighbors ? { neighbors_file: NEIGHBORS_FILE } : {}),
            ...(content.retrievalIndex ? { index: content.retrievalIndex.spec } : {}),
          },
        }
      : {}),
    ...(content.history ? { history: content.history } : {}),
    ...(content.holdout ? { holdout_file: HOLDOUT_FILE } : {}),
    ...(content.serving ? { serving: content.serving } : {}),
    ...(content.timeline ? { timeline_file: TIMELINE_FILE } : {}),
  };
  files.set(ARTIFACT_FILES.manifest, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8'));
  return { version, manifest, files };
}

function writeFileDurably(file: string, data: Uint8Array): void {
  const fd = fs.openSync(file, 'w', 0o644);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Directory fsync is not supported everywhere; the renames are still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function tempName(root: string, what: string): string {
  return path.join(root, `.${what}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Points an artifact root's `CURRENT` at `version` atomically (temp file + rename), so a
 * reader sees either the old or the new pointer, never a partial one.
 *
 * @throws Error when `root/version/manifest.json` does not exist
 */
export function setCurrentVersion(root: string, version: string): void {
  const absRoot = path.resolve(root);
  if (!VERSION_PATTERN.test(version)) throw new RangeError(`invalid artifact version name "${version}"`);
  if (!fs.existsSync(path.join(absRoot, version, ARTIFACT_FILES.manifest))) {
    throw new Error(`${path.join(absRoot, version)}: not an artifact version directory (no ${ARTIFACT_FILES.manifest})`);
  }
  const tmp = tempName(absRoot, CURRENT_FILE);
  try {
    writeFileDurably(tmp, Buffer.from(`${version}\n`, 'utf8'));
    fs.renameSync(tmp, path.join(absRoot, CURRENT_FILE));
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(absRoot);
}

function isValidArtifact(dir: string): boolean {
  try {
    loadArtifacts(dir);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes an artifact under `root/<version>/` (creating `root` if needed) and, unless
 * `setCurrent` is false, points `root/CURRENT` at it.
 *
 * All files are written and fsynced in a temporary directory inside `root`, which is then
 * renamed to `<version>`. If a valid directory of that version already exists (same
 * content), it is kept and the new copy discarded; an invalid one is replaced.
 */
export function writeArtifact(root: string, content: ArtifactContent | SerializedArtifact, options: { setCurrent?: boolean } = {}): WrittenArtifact {
  const serialized = 'files' in content && content.files instanceof Map ? (content as SerializedArtifact) : serializeArtifact(content as ArtifactContent);
  const absRoot = path.resolve(root);
  fs.mkdirSync(absRoot, { recursive: true });
  const finalDir = path.join(absRoot, serialized.version);
  const tmpDir = tempName(absRoot, serialized.version);
  let reused = false;
  fs.mkdirSync(tmpDir);
  try {
    for (const [name, data] of serialized.files) writeFileDurably(path.join(tmpDir, name), data);
    fsyncDir(tmpDir);
    if (fs.existsSync(finalDir)) {
      if (isValidArtifact(finalDir)) {
        reused = true;
        fs.rmSync(tmpDir, { recursive: true, force: true });
      } else {
        const old = tempName(absRoot, `${serialized.version}.old`);
        fs.renameSync(finalDir, old);
        fs.renameSync(tmpDir, finalDir);
        fs.rmSync(old, { recursive: true, force: true });
      }
    } else {
      try {
        fs.renameSync(tmpDir, finalDir);
      } catch (err) {
        // Another writer renamed the same version into place first: same content, keep it.
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !isValidArtifact(finalDir)) throw err;
        reused = true;
        fs.rmSync(tmpDir, { recursive: true, force: true });
      }
    }
    fsyncDir(absRoot);
  } catch (err) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    throw err;
  }
  if (options.setCurrent !== false) setCurrentVersion(absRoot, serialized.version);
  const manifest = reused ? (JSON.parse(fs.readFileSync(path.join(finalDir, ARTIFACT_FILES.manifest), 'utf8')) as ArtifactManifest) : serialized.manifest;
  return { version: serialized.version, dir: finalDir, root: absRoot, manifest, reused };
}
