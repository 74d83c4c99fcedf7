import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ArtifactWatcher, loadArtifacts } from '@recsys/core';
import { fixtureFiles, writeVersionDir } from '../../../test/support/artifact-fixture';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-watcher-'));
  writeVersionDir(path.join(root, 'v1'), fixtureFiles());
  writeVersionDir(path.join(root, 'v2'), fixtureFiles());
  fs.writeFileSync(path.join(root, 'CURRENT'), 'v1\n');
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function watcher(loaded: string[], errors: Array<[string, string | undefined]>, load?: (dir: string) => void): ArtifactWatcher {
  return new ArtifactWatcher({
    root,
    initialDir: path.join(root, 'v1'),
    intervalMs: 0,
    load: (dir) => {
      load?.(dir);
      loadArtifacts(dir);
      loaded.push(path.basename(dir));
    },
    onError: (err, dir) => errors.push([(err as Error).message, dir && path.basename(dir)]),
  });
}

describe('ArtifactWatcher', () => {
  it('loads a version once when CURRENT moves to it, and nothing when it does not', async () => {
    const loaded: string[] = [];
    const w = watcher(loaded, []);
    await w.check();
    expect(loaded).toEqual([]);
    fs.writeFileSync(path.join(root, 'CURRENT'), 'v2\n');
    await Promise.all([w.check(), w.check()]);
    await w.check();
    expect(loaded).toEqual(['v2']);
    expect(w.dir).toBe(path.join(root, 'v2'));
  });

  it('keeps the old version when the new one fails to load, reports it once, and recovers', async () => {
    const loaded: string[] = [];
    const errors: Array<[string, string | undefined]> = [];
    const w = watcher(loaded, errors);
    fs.writeFileSync(path.join(root, 'v2', 'item_popularity.f32'), Buffer.alloc(12, 1));
    fs.writeFileSync(path.join(root, 'CURRENT'), 'v2\n');
    await w.check();
    await w.check();
    expect(loaded).toEqual([]);
    expect(w.dir).toBe(path.join(root, 'v1'));
    expect(errors).toHaveLength(1);
    expect(errors[0]![0]).toMatch(/item_popularity\.f32: file is corrupt/);
    expect(errors[0]![1]).toBe('v2');
    // A CURRENT naming a missing version is reported too, and a good version is then picked up.
    fs.writeFileSync(path.join(root, 'CURRENT'), 'v3\n');
    await w.check();
    expect(errors[1]![0]).toMatch(/names version "v3"/);
    writeVersionDir(path.join(root, 'v3'), fixtureFiles());
    await w.check();
    expect(loaded).toEqual(['v3']);
  });
});

describe('ArtifactWatcher.loadAndWatch', () => {
  it('loads the live version at start, then follows CURRENT', async () => {
    const loaded: string[] = [];
    const w = await ArtifactWatcher.loadAndWatch({ root, intervalMs: 0, load: (dir) => void loaded.push(path.basename(dir)) });
    expect(loaded).toEqual(['v1']);
    fs.writeFileSync(path.join(root, 'CURRENT'), 'v2\n');
    await w.check();
    expect(loaded).toEqual(['v1', 'v2']);
    await w.stop();
  });

  it('fails when the version live at start cannot be loaded (a service must not start without it)', async () => {
    fs.writeFileSync(path.join(root, 'CURRENT'), 'missing\n');
    await expect(ArtifactWatcher.loadAndWatch({ root, intervalMs: 0, load: () => {} })).rejects.toThrow(/missing/);
    fs.writeFileSync(path.join(root, 'CURRENT'), 'v1\n');
    await expect(
      ArtifactWatcher.loadAndWatch({ root, intervalMs: 0, load: (dir) => Promise.reject(new Error(`cannot load ${path.basename(dir)}`)) }),
    ).rejects.toThrow('cannot load v1');
  });
});
