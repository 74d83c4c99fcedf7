import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ArtifactError, loadArtifacts, openRetrievalIndex, readOnnxFeatureSpec, resolveArtifactDir } from '@recsys/core';
import { BUILD_PHASES, buildArtifacts, ensureArtifacts, setCurrentVersion, type BuildOptions, type BuildProgress } from '@recsys/offline';
import { runOnnx } from '../../../test/support/ort-runner';

// Up to three builds per test: under a second each on an idle box, several seconds on a
// loaded 2-core machine. No timing is asserted; this only keeps jest's 5 s default away.
jest.setTimeout(60_000);

/** A build small enough for unit tests (well under a second). */
const SMALL: Omit<BuildOptions, 'outRoot'> = {
  seed: 7,
  synthetic: { users: 200, items: 300, interactions: 5000 },
  als: { factors: 8, iterations: 4 },
  ranker: { candidates: 100, gbdt: { trees: 20, maxDepth: 4 }, mlp: { epochs: 2, minSteps: 300 } },
};

// Each test runs one to three full builds (two ALS, two ItemKNN, the ranker); slow on a loaded 2-core box.
jest.setTimeout(60_000);

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-offline-build-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('buildArtifacts', () => {
  it('--index hnsw builds the HNSW graphs into the artifact, hashed, with their parameters, and the same search finds what exact finds', async () => {
    const summary = await buildArtifacts({ ...SMALL, outRoot: tmp, index: 'hnsw', hnsw: { buckets: 2 } });
    const a = loadArtifacts(tmp, ['itemEmbeddings', 'userEmbeddings', 'itemPopularity']);
    const spec = a.manifest.retrieval!.index!;
    expect(spec.kind).toBe('hnsw');
    expect(spec.params).toMatchObject({ metric: 'cos', buckets: 2 });
    expect(spec.files.map((f) => f.file)).toEqual(['item_index.0.usearch', 'item_index.1.usearch']);
    for (const f of spec.files) expect(a.manifest.files[f.file]!.bytes).toBe(fs.statSync(path.join(summary.dir, f.file)).size);
    expect(summary.peakRss.index).toBeGreaterThan(0);
    const hnsw = await openRetrievalIndex(a);
    const exact = await openRetrievalIndex(a, { choice: 'exact' });
    expect([hnsw.kind, exact.kind]).toEqual(['hnsw', 'exact']);
    let hit = 0;
    const users = 50;
    for (let u = 0; u < users; u++) {
      const q = a.userEmbeddings.subarray(u * 8, (u + 1) * 8);
      const truth = new Set((await exact.search(q, 20)).rows);
      for (const r of (await hnsw.search(q, 20)).rows) if (truth.has(r)) hit++;
    }
    expect(hit / (users * 20)).toBeGreaterThanOrEqual(0.95);
    await exact.release();
    // auto below the size threshold builds none.
    const small = await buildArtifacts({ ...SMALL, outRoot: path.join(tmp, 'auto') });
    expect(loadArtifacts(small.dir, []).manifest.retrieval?.index).toBeUndefined();
  });

  it('writes a loadable artifact, reports every phase, and points CURRENT at it', async () => {
    const progress: BuildProgress[] = [];
    const summary = await buildArtifacts({ ...SMALL, outRoot: tmp, onProgress: (p) => progress.push(p) });
    expect(summary.version).toMatch(/^synthetic-[0-9a-f]{12}$/);
    expect(fs.readFileSync(path.join(tmp, 'CURRENT'), 'utf8')).toBe(`${summary.version}\n`);
    expect(resolveArtifactDir(tmp)).toBe(summary.dir);
    // Every phase, in order; the index phase runs and builds nothing for 300 items (below DEFAULT_HNSW_MIN_ITEMS).
    const phases = [...BUILD_PHASES];
    expect([...new Set(progress.map((p) => p.phase))]).toEqual(phases);
    for (const phase of phases) expect(progress.filter((p) => p.phase === phase).at(-1)!.fraction).toBe(1);

    const a = loadArtifacts(tmp);
    expect(a.manifest.version).toBe(summary.version);
    expect(a.itemIds).toHaveLength(summary.items);
    expect(a.userIds).toHaveLength(200);
    expect(a.itemEmbeddings).toHaveLength(summary.items * 8);
    expect(a.manifest.embedding_dim).toBe(8);
    expect(Object.keys(a.manifest.files).sort()).toEqual([
      'holdout.json',
      'item_embeddings.f32',
      'item_features.f32',
      'item_neighbors.bin',
      'item_popularity.f32',
      'item_timeline.bin',
      'items.json',
      'ranker.onnx',
      'user_embeddings.f32',
      'user_features.f32',
      'user_history.json',
      'users.json',
    ]);
    expect(a.manifest.history).toBe('train');
    expect(a.manifest.retrieval?.neighbors_file).toBe('item_neighbors.bin');
    expect(a.itemNeighbors!.ptr).toHaveLength(summary.items + 1);
    expect(readOnnxFeatureSpec(a.rankerModel!)).toEqual(a.manifest.ranker.features);
    // History = the train part; with the held-out test part it is every interaction (no repeats in synthetic data).
    const total = [...a.userHistory.values()].reduce((n, h) => n + h.length, 0);
    const holdout = JSON.parse(fs.readFileSync(path.join(a.dir, 'holdout.json'), 'utf8')) as { targets: Record<string, string[]> };
    const held = Object.values(holdout.targets).reduce((n, h) => n + h.length, 0);
    expect(held).toBeGreaterThan(0);
    expect(total + held).toBe(summary.interactions);
    for (const [user, items] of Object.entries(holdout.targets)) for (const i of items) expect(a.userHistory.get(user)).not.toContain(i);
    expect(a.manifest.metrics['val_auc']).toBeGreaterThan(0.55);
    // No temporary files are left behind in the root.
    expect(fs.readdirSync(tmp).sort()).toEqual(['CURRENT', summary.version]);
  });

  it('is deterministic: two builds give identical file hashes and version', async () => {
    const a = await buildArtifacts({ ...SMALL, outRoot: path.join(tmp, 'a'), created: new Date(0) });
    const b = await buildArtifacts({ ...SMALL, outRoot: path.join(tmp, 'b'), created: new Date(0) });
    expect(b.version).toBe(a.version);
    const ma = loadArtifacts(a.dir).manifest;
    const mb = loadArtifacts(b.dir).manifest;
    expect(mb.files).toEqual(ma.files);
    // With a fixed creation time even manifest.json is byte-identical.
    expect(fs.readFileSync(path.join(b.dir, 'manifest.json')).equals(fs.readFileSync(path.join(a.dir, 'manifest.json')))).toBe(true);
    const c = await buildArtifacts({ ...SMALL, seed: 8, outRoot: path.join(tmp, 'c') });
    expect(c.version).not.toBe(a.version);
  });

  it('keeps an identical existing version and only moves CURRENT', async () => {
    const first = await buildArtifacts({ ...SMALL, outRoot: tmp });
    const other = await buildArtifacts({ ...SMALL, seed: 9, outRoot: tmp });
    expect(resolveArtifactDir(tmp)).toBe(other.dir);
    const again = await buildArtifacts({ ...SMALL, outRoot: tmp });
    expect(again.reused).toBe(true);
    expect(again.dir).toBe(first.dir);
    expect(resolveArtifactDir(tmp)).toBe(first.dir);
    setCurrentVersion(tmp, other.version);
    expect(resolveArtifactDir(tmp)).toBe(other.dir);
    expect(() => setCurrentVersion(tmp, 'synthetic-000000000000')).toThrow(/not an artifact version directory/);
  });

  it('detects a corrupted file of a built artifact and names it', async () => {
    const s = await buildArtifacts({ ...SMALL, outRoot: tmp });
    const file = path.join(s.dir, 'user_features.f32');
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    fs.writeFileSync(file, bytes);
    expect(() => loadArtifacts(tmp)).toThrow(ArtifactError);
    expect(() => loadArtifacts(tmp)).toThrow(`${file}: file is corrupt: sha256`);
  });

  it('exports a ranker that onnxruntime runs on assembled features', async () => {
    const s = await buildArtifacts({ ...SMALL, outRoot: tmp });
    const a = loadArtifacts(s.dir, ['ranker']);
    const width = a.manifest.ranker.features.length;
    const x = Array.from({ length: 3 * width }, (_, i) => (i % width) + 1);
    const result = await runOnnx(a.rankerModel!, [{ name: a.manifest.ranker.input, data: x, dims: [3, width] }]);
    const out = result.outputs[a.manifest.ranker.output]!;
    expect(out.data).toHaveLength(3);
    for (const v of out.data) expect(v >= 0 && v <= 1).toBe(true);
  });
});

describe('ensureArtifacts', () => {
  it('builds when the root has no artifact, and leaves a valid one alone', async () => {
    const root = path.join(tmp, 'fresh');
    const messages: string[] = [];
    const stream = { write: (s: string): boolean => messages.push(s) > 0 };
    const dir = await ensureArtifacts(root, { ...SMALL, progressStream: stream });
    expect(dir).toBe(resolveArtifactDir(root));
    expect(messages.join('')).toMatch(/no valid artifact in .*fresh.*building the synthetic one/);
    const mtime = fs.statSync(path.join(root, 'CURRENT')).mtimeMs;
    messages.length = 0;
    expect(await ensureArtifacts(root, { ...SMALL, progressStream: stream })).toBe(dir);
    expect(messages).toEqual([]);
    expect(fs.statSync(path.join(root, 'CURRENT')).mtimeMs).toBe(mtime);
  });

  it('reports a corrupt live version instead of building over it', async () => {
    const first = await ensureArtifacts(tmp, { ...SMALL, progressStream: null });
    fs.writeFileSync(path.join(first, 'items.json'), '{"item_ids": []}\n');
    const current = fs.readFileSync(path.join(tmp, 'CURRENT'), 'utf8');
    await expect(ensureArtifacts(tmp, { ...SMALL, progressStream: null })).rejects.toThrow(/items\.json/);
    expect(fs.readFileSync(path.join(tmp, 'CURRENT'), 'utf8')).toBe(current);
  });

  it('reports a broken version directory instead of building inside it', async () => {
    const s = await buildArtifacts({ ...SMALL, outRoot: tmp });
    fs.rmSync(path.join(s.dir, 'ranker.onnx'));
    await expect(ensureArtifacts(s.dir, { ...SMALL, progressStream: null })).rejects.toThrow(/ranker.onnx: file is missing/);
  });
});
