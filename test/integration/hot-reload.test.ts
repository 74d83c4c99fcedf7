/**
 * Hot reload under load, and the ranker's refusal of a model whose feature spec differs
 * from the manifest. Real processes, real onnxruntime, the real artifacts CLI.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadArtifacts, resolveArtifactDir } from '@recsys/core';
import { callUnary, createClient } from '@recsys/grpc-kit';
import { freePort, serviceEntry, startMesh } from '@recsys/local';
import { setCurrentVersion } from '@recsys/offline';
import { GatewayServiceClient } from '@recsys/proto';
import { runNode, testArtifactsRoot } from '../support/helpers';

jest.setTimeout(240_000);

let root: string;
beforeEach(() => {
  // A private artifact root holding a copy of the run's synthetic version, so CURRENT can move.
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-reload-'));
  const source = resolveArtifactDir(testArtifactsRoot());
  fs.cpSync(source, path.join(root, path.basename(source)), { recursive: true });
  fs.writeFileSync(path.join(root, 'CURRENT'), `${path.basename(source)}\n`);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

describe('hot reload', () => {
  it('switches every service to a new version under load without a failed request', async () => {
    const first = resolveArtifactDir(root);
    const firstVersion = path.basename(first);
    // The real CLI writes a second version (other seed) beside it; the mesh starts on the first.
    const out = await runNode('cli/dist/artifacts.js', ['--dataset', 'synthetic', '--seed', '43', '--out', root]);
    const newVersion = path.basename(resolveArtifactDir(root));
    expect(out.stdout).toContain(newVersion);
    expect(newVersion).not.toBe(firstVersion);
    setCurrentVersion(root, firstVersion);
    const users = loadArtifacts(root, ['userIds']).userIds.slice(0, 50);
    const mesh = await startMesh({ artifactsDir: root, ports: 'free', env: { LOG_LEVEL: 'warn', ARTIFACTS_POLL_MS: '200' } });
    const client = createClient(GatewayServiceClient, mesh.gatewayAddress);
    const seen: Array<{ at: number; model: string; artifact: string }> = [];
    const failures: string[] = [];
    // A stage that ran past its deadline budget falls back (degraded) but still answers: on a
    // loaded 2-core box a synchronous artifact load can cause that. It is counted and
    // printed, not failed; a request that errors or lacks items fails.
    const degraded: string[] = [];
    let stop = false;
    try {
      // Closed-loop load from 4 callers for the whole switch.
      const loops = Array.from({ length: 4 }, async (_, w) => {
        for (let i = w; !stop; i += 4) {
          try {
            const res = await callUnary(client.recommend.bind(client), { userId: users[i % users.length]!, k: 10, excludeItemIds: [], debug: false }, { deadline: Date.now() + 10_000 });
            if (res.degradedStages.length > 0) degraded.push(res.degradedStages.map((d) => d.reason).join('; '));
            if (res.items.length !== 10) failures.push(`only ${res.items.length} items`);
            seen.push({ at: Date.now(), model: res.modelVersion, artifact: res.artifactVersion });
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      });
      await new Promise((r) => setTimeout(r, 1000));
      // Point the running mesh at the new version: CURRENT is replaced atomically.
      setCurrentVersion(root, newVersion);
      const switched = Date.now();
      // Keep the load on until every service answered with the new version for a while.
      const until = Date.now() + 60_000;
      while (Date.now() < until) {
        const recent = seen.filter((s) => s.at > switched + 3000);
        if (recent.length > 20 && recent.slice(-20).every((s) => s.model === newVersion && s.artifact === newVersion)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      stop = true;
      await Promise.all(loops);
    } finally {
      stop = true;
      client.close();
      await mesh.stop();
    }
    if (degraded.length > 0) process.stderr.write(`hot reload: ${degraded.length} of ${seen.length} responses degraded (answered with a fallback):\n${degraded.slice(0, 5).join('\n')}\n`);
    expect(failures).toEqual([]);
    expect(seen.length).toBeGreaterThan(50);
    expect(seen[0]).toMatchObject({ model: firstVersion, artifact: firstVersion });
    expect(seen.at(-1)).toMatchObject({ model: newVersion, artifact: newVersion });
    // The reported version changed once per service, never back.
    const modelChanges = seen.filter((s, i) => i > 0 && s.model !== seen[i - 1]!.model);
    expect(modelChanges.length).toBeGreaterThanOrEqual(1);
    const lastOld = seen.map((s) => s.model).lastIndexOf(firstVersion);
    expect(seen.slice(lastOld + 1).every((s) => s.model === newVersion)).toBe(true);
    for (const name of ['candidate-generator', 'ranker', 'feature-store'] as const) {
      expect(mesh.services[name].output.join('\n')).not.toMatch(/not loaded/);
    }
  });
});

describe('ranker model check', () => {
  it('refuses to start with a model whose feature spec differs from the manifest, naming the file', async () => {
    const dir = resolveArtifactDir(root);
    const manifestFile = path.join(dir, 'manifest.json');
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { ranker: { features: unknown[] } };
    // Swap the first two inputs: every feature still exists, but the model was trained on the other order.
    const [a, b, ...rest] = manifest.ranker.features;
    manifest.ranker.features = [b, a, ...rest];
    fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));
    // Spawned directly (not via startServiceProcess): the process must exit, not become SERVING.
    const child = spawn(process.execPath, [serviceEntry('ranker')], {
      env: { ...process.env, GRPC_HOST: '127.0.0.1', GRPC_PORT: String(await freePort()), METRICS_PORT: '-1', ARTIFACTS_DIR: root, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(output).toContain(`${path.join(dir, 'ranker.onnx')}: model feature spec (metadata \"recsys.feature_spec\") differs from manifest ranker.features`);
  });
});
