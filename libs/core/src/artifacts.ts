/**
 * Reading artifact directories (see `artifact-types.ts` for the layout): locating the live
 * version, parsing and checking the manifest, and loading files verified against it.
 *
 * Nothing here trusts a file: every file loaded is checked for its byte size and sha256
 * against the manifest, and every matrix for its shape against the id lists and widths.
 * Any problem throws an {@link ArtifactError} that names the file and what is wrong.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import * as path from 'node:path';
import { DEFAULT_SERVING_CONFIG, type ArtifactManifest, type FeatureViewSpec, type LoadedArtifacts, type ServingConfig } from './artifact-types';
import { FEATURE_NAME_PATTERN, FeatureSpecError, specsEqual, validateRankerSpec } from './feature-spec';
import { readFloat32LE } from './little-endian';
import { readOnnxFeatureSpec } from './onnx-metadata';
import { decodeItemTimeline } from './candidate-features';
import { decodeItemNeighbors, parseRetrievalConfig } from './retrieval';
import { parseHnswParams } from './retrieval-index';

const LITTLE_ENDIAN = endianness() === 'LE';

/** File names of an artifact version directory. The ranker model's name is in the manifest. */
export const ARTIFACT_FILES = {
  manifest: 'manifest.json',
  items: 'items.json',
  users: 'users.json',
  itemEmbeddings: 'item_embeddings.f32',
  userEmbeddings: 'user_embeddings.f32',
  itemPopularity: 'item_popularity.f32',
  itemFeatures: 'item_features.f32',
  userFeatures: 'user_features.f32',
  userHistory: 'user_history.json',
} as const;

/** Name of the file in an artifact root whose single line names the live version directory. */
export const CURRENT_FILE = 'CURRENT';

/** What a version directory name (and so a `CURRENT` line) may look like. */
export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * A part of an artifact that {@link loadArtifacts} can load or skip. Loading a matrix also
 * loads the id list that gives its rows (`itemIds` or `userIds`).
 */
export type ArtifactPart =
  | 'itemIds'
  | 'userIds'
  | 'itemEmbeddings'
  | 'userEmbeddings'
  | 'itemPopularity'
  | 'itemFeatures'
  | 'userFeatures'
  | 'userHistory'
  | 'itemNeighbors'
  | 'itemTimeline'
  | 'ranker';

/** Every {@link ArtifactPart}: what `loadArtifacts(dir)` loads by default. */
const ALL_ARTIFACT_PARTS: readonly ArtifactPart[] = [
  'itemIds',
  'userIds',
  'itemEmbeddings',
  'userEmbeddings',
  'itemPopularity',
  'itemFeatures',
  'userFeatures',
  'userHistory',
  'itemNeighbors',
  'itemTimeline',
  'ranker',
];

/** An artifact directory or one of its files is missing, corrupt or malformed. */
export class ArtifactError extends Error {
  override readonly name = 'ArtifactError';
  /**
   * @param file absolute path of the file or directory at fault
   * @param problem what is wrong with it
   */
  constructor(
    readonly file: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${problem}`, options);
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * Resolves an artifact path to the absolute version directory to load.
 *
 * `p` is either a version directory (it contains `manifest.json`) or an artifact root whose
 * file `CURRENT` holds one line naming the live version subdirectory.
 *
 * @throws ArtifactError naming the path when it is neither, or `CURRENT` is malformed or
 *   names a directory without a manifest
 */
export function resolveArtifactDir(p: string): string {
  const abs = path.resolve(p);
  let isDir: boolean;
  try {
    isDir = statSync(abs).isDirectory();
  } catch (err) {
    throw new ArtifactError(abs, 'artifact directory does not exist', { cause: err });
  }
  if (!isDir) throw new ArtifactError(abs, 'is not a directory (expected an artifact version directory or an artifact root)');
  if (isFile(path.join(abs, ARTIFACT_FILES.manifest))) return abs;

  const currentPath = path.join(abs, CURRENT_FILE);
  if (!isFile(currentPath)) {
    throw new ArtifactError(
      abs,
      `neither an artifact version directory (no ${ARTIFACT_FILES.manifest}) nor an artifact root (no ${CURRENT_FILE} file); build one with \`npm run artifacts\``,
    );
  }
  const lines = readFileSync(currentPath, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const version = lines[0];
  if (lines.length !== 1 || version === undefined) {
    throw new ArtifactError(currentPath, `must hold exactly one line naming the live version directory, found ${lines.length}`);
  }
  if (!VERSION_PATTERN.test(version)) {
    throw new ArtifactError(currentPath, `names ${JSON.stringify(version)}, which is not a valid version directory name`);
  }
  const dir = path.join(abs, version);
  if (!isFile(path.join(dir, ARTIFACT_FILES.manifest))) {
    throw new ArtifactError(currentPath, `names version "${version}", but ${path.join(dir, ARTIFACT_FILES.manifest)} does not exist`);
  }
  return dir;
}

type Json = Record<string, unknown>;

function isRecord(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Validates the parsed manifest; `fail(problem)` throws. */
function checkManifest(m: unknown, fail: (problem: string) => never): ArtifactManifest {
  if (!isRecord(m)) fail('manifest is not a JSON object');
  if (m['format'] !== 1) fail(`unsupported "format" ${JSON.stringify(m['format'])} (this reader understands 1)`);
  const str = (obj: Json, key: string, where: string): void => {
    if (typeof obj[key] !== 'string' || obj[key] === '') fail(`"${where}${key}" must be a non-empty string`);
  };
  const count = (obj: Json, key: string, where: string): void => {
    const v = obj[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(`"${where}${key}" must be a non-negative integer`);
  };
  str(m, 'version', '');
  if (!VERSION_PATTERN.test(m['version'] as string)) fail(`"version" ${JSON.stringify(m['version'])} is not a valid version name`);
  str(m, 'created', '');

  const dataset = m['dataset'];
  if (!isRecord(dataset)) fail('"dataset" must be an object');
  str(dataset, 'name', 'dataset.');
  str(dataset, 'source', 'dataset.');
  for (const key of ['users', 'items', 'interactions']) count(dataset, key, 'dataset.');

  const files = m['files'];
  if (!isRecord(files)) fail('"files" must be an object');
  for (const [name, entry] of Object.entries(files)) {
    if (name === ARTIFACT_FILES.manifest || !VERSION_PATTERN.test(name)) fail(`"files" lists an invalid file name ${JSON.stringify(name)}`);
    if (!isRecord(entry) || typeof entry['sha256'] !== 'string' || !/^[0-9a-f]{64}$/.test(entry['sha256'])) {
      fail(`"files.${name}.sha256" must be 64 lowercase hex digits`);
    }
    count(entry, 'bytes', `files.${name}.`);
  }

  const dim = m['embedding_dim'];
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim <= 0) fail('"embedding_dim" must be a positive integer');

  const views = m['feature_views'];
  if (!isRecord(views)) fail('"feature_views" must be an object with "user" and "item"');
  for (const which of ['user', 'item'] as const) {
    const v = views[which];
    const where = `feature_views.${which}`;
    if (!isRecord(v)) fail(`"${where}" must be an object`);
    if (v['name'] !== which || v['entity'] !== which) fail(`"${where}" must have name and entity "${which}"`);
    const features = v['features'];
    if (!Array.isArray(features)) fail(`"${where}.features" must be an array`);
    const seen = new Set<string>();
    features.forEach((f: unknown, i) => {
      if (!isRecord(f) || typeof f['name'] !== 'string' || !FEATURE_NAME_PATTERN.test(f['name'])) {
        fail(`"${where}.features[${i}].name" must match [a-z][a-z0-9_]*`);
      }
      if (seen.has(f['name'])) fail(`"${where}" has feature "${f['name']}" twice`);
      seen.add(f['name']);
      if (typeof f['default'] !== 'number' || !Number.isFinite(f['default'])) fail(`"${where}" feature "${f['name']}": "default" must be a finite number`);
      if (typeof f['description'] !== 'string') fail(`"${where}" feature "${f['name']}": "description" must be a string`);
    });
  }

  const ranker = m['ranker'];
  if (!isRecord(ranker)) fail('"ranker" must be an object');
  for (const key of ['file', 'input', 'output']) str(ranker, key, 'ranker.');
  if (!Object.prototype.hasOwnProperty.call(files, ranker['file'] as string)) fail(`"ranker.file" ${JSON.stringify(ranker['file'])} is not listed in "files"`);
  try {
    validateRankerSpec(ranker['features'] as never, views as { user: FeatureViewSpec; item: FeatureViewSpec });
  } catch (err) {
    if (err instanceof FeatureSpecError || err instanceof TypeError) fail(`"ranker.features": ${err.message}`);
    throw err;
  }

  if (m['retrieval'] !== undefined) {
    try {
      parseRetrievalConfig(m['retrieval']);
    } catch (err) {
      fail(`"retrieval": ${(err as Error).message}`);
    }
    const idx = (m['retrieval'] as Json)['index'];
    if (idx !== undefined) {
      if (!isRecord(idx) || idx['kind'] !== 'hnsw') fail('"retrieval.index.kind" must be "hnsw"');
      try {
        parseHnswParams(idx['params'], 'retrieval.index.params');
      } catch (err) {
        fail((err as Error).message);
      }
      const bucketFiles = idx['files'];
      if (!Array.isArray(bucketFiles) || bucketFiles.length === 0) fail('"retrieval.index.files" must be a non-empty array');
      bucketFiles.forEach((b: unknown, i) => {
        if (!isRecord(b) || typeof b['file'] !== 'string' || !Object.prototype.hasOwnProperty.call(files, b['file'])) fail(`"retrieval.index.files[${i}].file" is not listed in "files"`);
        if (typeof b['rows'] !== 'number' || !Number.isInteger(b['rows']) || b['rows'] < 0) fail(`"retrieval.index.files[${i}].rows" must be a non-negative integer`);
        if (typeof b['max_norm'] !== 'number' || !Number.isFinite(b['max_norm']) || b['max_norm'] < 0) fail(`"retrieval.index.files[${i}].max_norm" must be a non-negative number`);
      });
    }
    const nf = (m['retrieval'] as Json)['neighbors_file'];
    if (nf !== undefined && (typeof nf !== 'string' || !Object.prototype.hasOwnProperty.call(files, nf))) {
      fail(`"retrieval.neighbors_file" ${JSON.stringify(nf)} is not listed in "files"`);
    }
  }
  if (m['history'] !== undefined && m['history'] !== 'train' && m['history'] !== 'all') fail(`"history" must be "train" or "all", got ${JSON.stringify(m['history'])}`);
  if (m['holdout_file'] !== undefined && (typeof m['holdout_file'] !== 'string' || !Object.prototype.hasOwnProperty.call(files, m['holdout_file']))) {
    fail(`"holdout_file" ${JSON.stringify(m['holdout_file'])} is not listed in "files"`);
  }

  if (m['serving'] !== undefined) {
    try {
      parseServingConfig(m['serving']);
    } catch (err) {
      fail(`"serving": ${(err as Error).message}`);
    }
  }
  if ((ranker['features'] as Json[]).some((f) => f['kind'] === 'candidate') && m['timeline_file'] === undefined) {
    fail('"ranker.features" uses candidate features, which need an item timeline, but "timeline_file" is missing');
  }
  if (m['timeline_file'] !== undefined && (typeof m['timeline_file'] !== 'string' || !Object.prototype.hasOwnProperty.call(files, m['timeline_file']))) {
    fail(`"timeline_file" ${JSON.stringify(m['timeline_file'])} is not listed in "files"`);
  }

  const metrics = m['metrics'];
  if (!isRecord(metrics)) fail('"metrics" must be an object');
  for (const [k, v] of Object.entries(metrics)) if (typeof v !== 'number') fail(`"metrics.${k}" must be a number`);
  return m as unknown as ArtifactManifest;
}

/**
 * Reads and validates `manifest.json` of an artifact (`dir` as for {@link resolveArtifactDir}).
 * Checks the structure, that every listed file has a sha256 and size, and that the ranker
 * feature spec only uses features the feature views have. Does not read the other files.
 *
 * @throws ArtifactError naming the manifest path and the problem
 */
export function readManifest(dir: string): ArtifactManifest {
  const file = path.join(resolveArtifactDir(dir), ARTIFACT_FILES.manifest);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ArtifactError(file, `cannot read manifest: ${(err as Error).message}`, { cause: err });
  }
  return checkManifest(parsed, (problem) => {
    throw new ArtifactError(file, `malformed manifest: ${problem}`);
  });
}

/**
 * Reads one file of a version directory and verifies its byte size and sha256 against
 * the manifest.
 *
 * @throws ArtifactError naming the file when it is not listed, missing, or differs
 */
export function readVerifiedFile(versionDir: string, manifest: ArtifactManifest, name: string): Buffer {
  const file = path.join(versionDir, name);
  const entry = manifest.files[name];
  if (entry === undefined) throw new ArtifactError(file, `is not listed in ${ARTIFACT_FILES.manifest}`);
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ArtifactError(file, code === 'ENOENT' ? 'file is missing' : `cannot read file: ${(err as Error).message}`, { cause: err });
  }
  if (buf.length !== entry.bytes) {
    throw new ArtifactError(file, `file is corrupt: ${buf.length} bytes, the manifest says ${entry.bytes}`);
  }
  const sha = sha256Hex(buf);
  if (sha !== entry.sha256) {
    throw new ArtifactError(file, `file is corrupt: sha256 ${sha} does not match the manifest's ${entry.sha256}`);
  }
  return buf;
}

/**
 * Verifies one (large) file of a version directory against the manifest without holding
 * it in memory: size from stat, sha256 over 4 MiB reads. For files that are memory-mapped
 * rather than read (the HNSW graphs).
 *
 * @throws ArtifactError naming the file when it is not listed, missing, or differs
 */
export function verifyFileStreaming(versionDir: string, manifest: ArtifactManifest, name: string): string {
  const file = path.join(versionDir, name);
  const entry = manifest.files[name];
  if (entry === undefined) throw new ArtifactError(file, `is not listed in ${ARTIFACT_FILES.manifest}`);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ArtifactError(file, code === 'ENOENT' ? 'file is missing' : `cannot read file: ${(err as Error).message}`, { cause: err });
  }
  try {
    const size = fstatSync(fd).size;
    if (size !== entry.bytes) throw new ArtifactError(file, `file is corrupt: ${size} bytes, the manifest says ${entry.bytes}`);
    const hash = createHash('sha256');
    const chunk = Buffer.allocUnsafe(4 * 1024 * 1024);
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
    }
    const sha = hash.digest('hex');
    if (sha !== entry.sha256) throw new ArtifactError(file, `file is corrupt: sha256 ${sha} does not match the manifest's ${entry.sha256}`);
  } finally {
    closeSync(fd);
  }
  return file;
}

function parseJson(file: string, buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new ArtifactError(file, `malformed JSON: ${(err as Error).message}`, { cause: err });
  }
}

function readIds(versionDir: string, manifest: ArtifactManifest, name: string, key: string): { ids: string[]; index: Map<string, number> } {
  const file = path.join(versionDir, name);
  const json = parseJson(file, readVerifiedFile(versionDir, manifest, name));
  const ids = isRecord(json) ? json[key] : undefined;
  if (!Array.isArray(ids)) throw new ArtifactError(file, `malformed: expected {"${key}": string[]}`);
  const index = new Map<string, number>();
  ids.forEach((id: unknown, i) => {
    if (typeof id !== 'string' || id === '') throw new ArtifactError(file, `malformed: ${key}[${i}] is not a non-empty string`);
    if (index.has(id)) throw new ArtifactError(file, `malformed: id "${id}" appears twice (rows ${index.get(id)} and ${i})`);
    index.set(id, i);
  });
  return { ids: ids as string[], index };
}

function readMatrix(versionDir: string, manifest: ArtifactManifest, name: string, rows: number, width: number, what: string): Float32Array {
  const file = path.join(versionDir, name);
  const buf = readVerifiedFile(versionDir, manifest, name);
  const expected = rows * width * 4;
  if (buf.length !== expected) {
    throw new ArtifactError(file, `malformed matrix: ${buf.length} bytes, expected ${rows} ${what} × ${width} float32 = ${expected} bytes`);
  }
  // A view over the file's own buffer where it is 4-byte aligned (readFileSync of a file
  // larger than the pool always is): no second copy, so a 1M-item matrix costs its size
  // once, not twice, while it loads. Otherwise one bulk copy.
  const out = LITTLE_ENDIAN && buf.byteOffset % 4 === 0 ? new Float32Array(buf.buffer, buf.byteOffset, rows * width) : readFloat32LE(buf, 0, rows * width);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]!)) {
      throw new ArtifactError(file, `malformed matrix: non-finite value ${out[i]} at row ${Math.floor(i / width)}, column ${i % width}`);
    }
  }
  return out;
}

function readHistory(versionDir: string, manifest: ArtifactManifest): Map<string, string[]> {
  const file = path.join(versionDir, ARTIFACT_FILES.userHistory);
  const json = parseJson(file, readVerifiedFile(versionDir, manifest, ARTIFACT_FILES.userHistory));
  if (!isRecord(json)) throw new ArtifactError(file, 'malformed: expected {"<user id>": ["<item id>", …]}');
  const out = new Map<string, string[]>();
  for (const [user, items] of Object.entries(json)) {
    if (!Array.isArray(items) || !items.every((i) => typeof i === 'string')) {
      throw new ArtifactError(file, `malformed: history of user "${user}" is not a list of item ids`);
    }
    out.set(user, items as string[]);
  }
  return out;
}

/**
 * Loads an artifact into memory, verifying everything it reads.
 *
 * `dir` is a version directory or an artifact root with `CURRENT`
 * ({@link resolveArtifactDir}); the result's `dir` is the resolved version directory.
 * `parts` selects what to load (default: everything); skipped arrays are empty and skipped
 * maps are empty. A service that needs only the manifest and the model passes
 * `['ranker']`; the candidate generator passes e.g.
 * `['itemEmbeddings', 'userEmbeddings', 'itemPopularity']`.
 *
 * Checks: the manifest ({@link readManifest}); the sha256 and size of every loaded file;
 * id lists are unique strings; each matrix holds ids × width finite float32 values
 * (embeddings: `embedding_dim`, features: the view's width, popularity: 1); the ranker
 * model carries the manifest's feature spec in its metadata.
 *
 * @throws ArtifactError naming the file and what is wrong with it
 */
export function loadArtifacts(dir: string, parts: Iterable<ArtifactPart> = ALL_ARTIFACT_PARTS): LoadedArtifacts {
  const versionDir = resolveArtifactDir(dir);
  const manifest = readManifest(versionDir);
  const want = new Set(parts);
  for (const p of want) {
    if (!ALL_ARTIFACT_PARTS.includes(p)) throw new RangeError(`loadArtifacts: unknown part ${JSON.stringify(p)}`);
  }
  if (want.has('itemEmbeddings') || want.has('itemPopularity') || want.has('itemFeatures') || want.has('itemTimeline') || want.has('itemNeighbors')) want.add('itemIds');
  if (want.has('userEmbeddings') || want.has('userFeatures')) want.add('userIds');

  const items = want.has('itemIds') ? readIds(versionDir, manifest, ARTIFACT_FILES.items, 'item_ids') : { ids: [], index: new Map<string, number>() };
  const users = want.has('userIds') ? readIds(versionDir, manifest, ARTIFACT_FILES.users, 'user_ids') : { ids: [], index: new Map<string, number>() };
  const dim = manifest.embedding_dim;
  const empty = new Float32Array(0);
  const loaded: LoadedArtifacts = {
    dir: versionDir,
    manifest,
    itemIds: items.ids,
    userIds: users.ids,
    itemIndex: items.index,
    userIndex: users.index,
    itemEmbeddings: want.has('itemEmbeddings')
      ? readMatrix(versionDir, manifest, ARTIFACT_FILES.itemEmbeddings, items.ids.length, dim, 'items')
      : empty,
    userEmbeddings: want.has('userEmbeddings')
      ? readMatrix(versionDir, manifest, ARTIFACT_FILES.userEmbeddings, users.ids.length, dim, 'users')
      : empty,
    itemPopularity: want.has('itemPopularity')
      ? readMatrix(versionDir, manifest, ARTIFACT_FILES.itemPopularity, items.ids.length, 1, 'items')
      : empty,
    itemFeatures: want.has('itemFeatures')
      ? readMatrix(versionDir, manifest, ARTIFACT_FILES.itemFeatures, items.ids.length, manifest.feature_views.item.features.length, 'items')
      : empty,
    userFeatures: want.has('userFeatures')
      ? readMatrix(versionDir, manifest, ARTIFACT_FILES.userFeatures, users.ids.length, manifest.feature_views.user.features.length, 'users')
      : empty,
    userHistory: want.has('userHistory') ? readHistory(versionDir, manifest) : new Map(),
  };
  const neighborsFile = manifest.retrieval?.neighbors_file;
  if (want.has('itemNeighbors') && neighborsFile !== undefined) {
    const file = path.join(versionDir, neighborsFile);
    try {
      loaded.itemNeighbors = decodeItemNeighbors(readVerifiedFile(versionDir, manifest, neighborsFile), items.ids.length);
    } catch (err) {
      if (err instanceof ArtifactError) throw err;
      throw new ArtifactError(file, `malformed neighbour lists: ${(err as Error).message}`, { cause: err });
    }
  }
  const timelineFile = manifest.timeline_file;
  if (want.has('itemTimeline') && timelineFile !== undefined) {
    const file = path.join(versionDir, timelineFile);
    try {
      loaded.itemTimeline = decodeItemTimeline(readVerifiedFile(versionDir, manifest, timelineFile), items.ids.length);
    } catch (err) {
      if (err instanceof ArtifactError) throw err;
      throw new ArtifactError(file, `malformed item timeline: ${(err as Error).message}`, { cause: err });
    }
  }
  if (want.has('ranker')) {
    const file = path.join(versionDir, manifest.ranker.file);
    const model = readVerifiedFile(versionDir, manifest, manifest.ranker.file);
    let spec;
    try {
      spec = readOnnxFeatureSpec(model);
    } catch (err) {
      throw new ArtifactError(file, `malformed ONNX model or feature spec metadata: ${(err as Error).message}`, { cause: err });
    }
    if (spec === undefined) throw new ArtifactError(file, 'model has no "recsys.feature_spec" metadata');
    if (!specsEqual(spec, manifest.ranker.features)) {
      throw new ArtifactError(file, 'model feature spec (metadata "recsys.feature_spec") differs from manifest ranker.features');
    }
    loaded.rankerModel = new Uint8Array(model.buffer, model.byteOffset, model.byteLength);
  }
  return loaded;
}

/**
 * sha256 (hex) of a buffer, as the manifest records it.
 */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Checks a `serving` section and returns it typed.
 *
 * @throws Error naming the offending field
 */
export function parseServingConfig(value: unknown): ServingConfig {
  if (!isRecord(value)) throw new Error('must be an object');
  const out: Record<string, number> = {};
  for (const key of ['recent_items', 'num_candidates'] as const) {
    const v = value[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1000) throw new Error(`"${key}" must be an integer in 1..1000, got ${JSON.stringify(v)}`);
    out[key] = v;
  }
  for (const key of Object.keys(value)) if (!(key in out)) throw new Error(`unknown field "${key}"`);
  return out as unknown as ServingConfig;
}

/** The artifact's serving parameters ({@link DEFAULT_SERVING_CONFIG} for artifacts without a `serving` section). */
export function servingConfig(manifest: ArtifactManifest): ServingConfig {
  return manifest.serving ?? { ...DEFAULT_SERVING_CONFIG };
}
