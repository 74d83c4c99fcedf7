import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ArtifactError, loadArtifacts, readManifest, readOnnxFeatureSpec, readOnnxMetadata, resolveArtifactDir } from '@recsys/core';
import { FIXTURE_SPEC, fakeOnnxModel, fixtureFiles, writeVersionDir } from '../../../test/support/artifact-fixture';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-core-artifacts-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Expects `fn` to throw an ArtifactError naming `file` and matching `problem`. */
function expectArtifactError(fn: () => unknown, file: string, problem: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ArtifactError);
  const err = caught as ArtifactError;
  expect(err.file).toBe(file);
  expect(err.message).toContain(file);
  expect(err.message).toMatch(problem);
}

describe('resolveArtifactDir', () => {
  it('accepts a version directory', () => {
    const dir = path.join(tmp, 'v1');
    writeVersionDir(dir, fixtureFiles());
    expect(resolveArtifactDir(dir)).toBe(dir);
  });

  it('follows CURRENT in a root, ignoring surrounding whitespace', () => {
    writeVersionDir(path.join(tmp, 'v1'), fixtureFiles());
    fs.writeFileSync(path.join(tmp, 'CURRENT'), 'v1\n');
    expect(resolveArtifactDir(tmp)).toBe(path.join(tmp, 'v1'));
    expect(resolveArtifactDir(path.relative(process.cwd(), tmp))).toBe(path.join(tmp, 'v1'));
  });

  it('names the path when it is neither', () => {
    expectArtifactError(() => resolveArtifactDir(tmp), tmp, /neither an artifact version directory .* nor an artifact root/);
    const missing = path.join(tmp, 'nope');
    expectArtifactError(() => resolveArtifactDir(missing), missing, /does not exist/);
  });

  it('rejects a CURRENT that names nothing, several lines, or a path', () => {
    const current = path.join(tmp, 'CURRENT');
    fs.writeFileSync(current, 'v9\n');
    expectArtifactError(() => resolveArtifactDir(tmp), current, /names version "v9", but .*manifest.json does not exist/);
    fs.writeFileSync(current, 'v1\nv2\n');
    expectArtifactError(() => resolveArtifactDir(tmp), current, /exactly one line/);
    fs.writeFileSync(current, '../elsewhere\n');
    expectArtifactError(() => resolveArtifactDir(tmp), current, /not a valid version directory name/);
  });
});

describe('loadArtifacts', () => {
  it('loads and indexes every part', () => {
    const dir = path.join(tmp, 'v1');
    writeVersionDir(dir, fixtureFiles());
    fs.writeFileSync(path.join(tmp, 'CURRENT'), 'v1\n');
    const a = loadArtifacts(tmp);
    expect(a.dir).toBe(dir);
    expect(a.manifest.version).toBe('v1');
    expect(a.itemIds).toEqual(['10', '20', '30']);
    expect(a.itemIndex.get('30')).toBe(2);
    expect(a.userIndex.get('u2')).toBe(1);
    expect(Array.from(a.itemEmbeddings)).toEqual([1, 0, 0, 1, 0.5, 0.5]);
    expect(Array.from(a.userEmbeddings)).toEqual([1, 2, 3, 4]);
    expect(Array.from(a.itemPopularity)).toEqual([5, 3, 1]);
    expect(a.itemFeatures).toHaveLength(6);
    expect(Array.from(a.userFeatures)).toEqual([2, 1]);
    expect(a.userHistory.get('u1')).toEqual(['20', '10']);
    expect(readOnnxFeatureSpec(a.rankerModel!)).toEqual(FIXTURE_SPEC);
  });

  it('skips parts that were not asked for, but loads the ids a matrix needs', () => {
    const dir = path.join(tmp, 'v1');
    const files = fixtureFiles();
    delete files['user_history.json'];
    writeVersionDir(dir, { ...files, 'user_history.json': Buffer.from('{}') });
    fs.rmSync(path.join(dir, 'user_history.json'));
    const ranker = loadArtifacts(dir, ['ranker']);
    expect(ranker.rankerModel).toBeDefined();
    expect(ranker.itemIds).toEqual([]);
    expect(ranker.itemEmbeddings).toHaveLength(0);
    expect(ranker.userHistory.size).toBe(0);
    const cg = loadArtifacts(dir, ['itemEmbeddings']);
    expect(cg.itemIds).toHaveLength(3);
    expect(cg.itemEmbeddings).toHaveLength(6);
    expect(cg.rankerModel).toBeUndefined();
    // The skipped, missing file is only an error when it is asked for.
    expectArtifactError(() => loadArtifacts(dir, ['userHistory']), path.join(dir, 'user_history.json'), /file is missing/);
  });

  it('detects a corrupt file by its hash and names it', () => {
    const dir = path.join(tmp, 'v1');
    writeVersionDir(dir, fixtureFiles());
    const file = path.join(dir, 'item_embeddings.f32');
    const bytes = fs.readFileSync(file);
    bytes[5] = bytes[5]! ^ 0xff;
    fs.writeFileSync(file, bytes);
    expectArtifactError(() => loadArtifacts(dir), file, /corrupt: sha256 [0-9a-f]{64} does not match/);
    expect(() => loadArtifacts(dir, ['ranker'])).not.toThrow();
  });

  it('detects a truncated file by its size', () => {
    const dir = path.join(tmp, 'v1');
    writeVersionDir(dir, fixtureFiles());
    const file = path.join(dir, 'users.json');
    fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 10));
    expectArtifactError(() => loadArtifacts(dir), file, /10 bytes, the manifest says \d+/);
  });

  it('checks matrix sizes against ids × width', () => {
    const dir = path.join(tmp, 'v1');
    const files = fixtureFiles();
    files['items.json'] = Buffer.from(JSON.stringify({ item_ids: ['10', '20'] }));
    writeVersionDir(dir, files);
    expectArtifactError(() => loadArtifacts(dir, ['itemEmbeddings']), path.join(dir, 'item_embeddings.f32'), /24 bytes, expected 2 items × 2 float32 = 16 bytes/);
    expectArtifactError(() => loadArtifacts(dir, ['itemFeatures']), path.join(dir, 'item_features.f32'), /expected 2 items × 2 float32/);
  });

  it('rejects malformed id lists and non-finite matrix values', () => {
    const dir = path.join(tmp, 'v1');
    const files = fixtureFiles();
    files['users.json'] = Buffer.from(JSON.stringify({ user_ids: ['u1', 'u1'] }));
    const nan = Buffer.alloc(8);
    nan.writeFloatLE(NaN, 0);
    files['user_features.f32'] = nan;
    writeVersionDir(dir, files);
    expectArtifactError(() => loadArtifacts(dir, ['userIds']), path.join(dir, 'users.json'), /id "u1" appears twice/);
    files['users.json'] = Buffer.from(JSON.stringify({ user_ids: ['u1', 'u2'] }));
    writeVersionDir(dir, files);
    expectArtifactError(() => loadArtifacts(dir, ['userFeatures']), path.join(dir, 'user_features.f32'), /non-finite value NaN at row 0/);
  });

  it('refuses a model whose feature spec differs from the manifest, or has none', () => {
    const dir = path.join(tmp, 'v1');
    const files = fixtureFiles();
    files['ranker.onnx'] = fakeOnnxModel({ 'recsys.feature_spec': JSON.stringify(FIXTURE_SPEC.slice(0, 2)) });
    writeVersionDir(dir, files);
    const model = path.join(dir, 'ranker.onnx');
    expectArtifactError(() => loadArtifacts(dir, ['ranker']), model, /differs from manifest ranker.features/);
    files['ranker.onnx'] = fakeOnnxModel({ unrelated: 'x' });
    writeVersionDir(dir, files);
    expectArtifactError(() => loadArtifacts(dir, ['ranker']), model, /no "recsys.feature_spec" metadata/);
  });
});

describe('readManifest', () => {
  it('rejects a manifest whose ranker spec uses a feature the views lack', () => {
    const dir = path.join(tmp, 'v1');
    const manifest = writeVersionDir(dir, fixtureFiles());
    const bad = { ...manifest, ranker: { ...manifest.ranker, features: [{ name: 'year', kind: 'user', feature: 'item_year' }] } };
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(bad));
    expectArtifactError(() => readManifest(dir), path.join(dir, 'manifest.json'), /ranker feature "year" \(kind user\) refers to user feature "item_year"/);
  });

  it('rejects broken JSON, unknown formats and unsafe file names', () => {
    const dir = path.join(tmp, 'v1');
    const manifest = writeVersionDir(dir, fixtureFiles());
    const file = path.join(dir, 'manifest.json');
    fs.writeFileSync(file, '{"format": 1,');
    expectArtifactError(() => readManifest(dir), file, /cannot read manifest/);
    fs.writeFileSync(file, JSON.stringify({ ...manifest, format: 2 }));
    expectArtifactError(() => readManifest(dir), file, /unsupported "format" 2/);
    fs.writeFileSync(file, JSON.stringify({ ...manifest, files: { ...manifest.files, '../etc/passwd': { sha256: 'a'.repeat(64), bytes: 1 } } }));
    expectArtifactError(() => readManifest(dir), file, /invalid file name/);
  });
});

describe('readOnnxMetadata', () => {
  it('reads metadata_props and skips other fields', () => {
    const meta = readOnnxMetadata(fakeOnnxModel({ a: '1', 'recsys.feature_spec': '[]' }));
    expect([...meta]).toEqual([
      ['a', '1'],
      ['recsys.feature_spec', '[]'],
    ]);
  });
  it('throws on truncated bytes', () => {
    const bytes = fakeOnnxModel({ a: 'long value' });
    expect(() => readOnnxMetadata(bytes.subarray(0, bytes.length - 3))).toThrow(/runs past the end/);
  });
});
