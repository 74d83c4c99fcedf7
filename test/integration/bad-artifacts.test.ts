/**
 * A missing or corrupt artifact stops a service at start, with a message naming the
 * file, never a half-working server; a bad config value stops it naming the variable.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveArtifactDir } from '@recsys/core';
import { ServiceName, freePort, startServiceProcess } from '@recsys/local';
import { testArtifactsRoot } from '../support/helpers';

jest.setTimeout(60_000);

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-bad-artifacts-'));
  fs.cpSync(resolveArtifactDir(testArtifactsRoot()), tmp, { recursive: true });
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function startFailure(name: ServiceName, env: Record<string, string>): Promise<string> {
  const started = startServiceProcess(name, { port: await freePort(), metricsPort: -1, env: { ARTIFACTS_DIR: tmp, LOG_LEVEL: 'warn', ...env }, readyTimeoutMs: 30_000 });
  const err = (await started.then(
    async (p) => {
      await p.stop();
      return new Error('service started');
    },
    (e: unknown) => e,
  )) as Error;
  return err.message;
}

describe('a service with a bad artifact refuses to start', () => {
  it('ranker: corrupt ranker.onnx (hash mismatch) → exit 1 naming the file', async () => {
    const file = path.join(tmp, 'ranker.onnx');
    const bytes = fs.readFileSync(file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    fs.writeFileSync(file, bytes);
    const message = await startFailure('ranker', {});
    expect(message).toMatch(/exited before it was SERVING \(code 1/);
    expect(message).toContain(`${file}: `);
  });

  it('candidate generator: missing item embeddings → exit 1 naming the file', async () => {
    const file = path.join(tmp, 'item_embeddings.f32');
    fs.rmSync(file);
    const message = await startFailure('candidate-generator', {});
    expect(message).toMatch(/exited before it was SERVING \(code 1/);
    expect(message).toContain(file);
  });

  it('feature store: truncated user features → exit 1 naming the file', async () => {
    const file = path.join(tmp, 'user_features.f32');
    fs.truncateSync(file, 12);
    const message = await startFailure('feature-store', {});
    expect(message).toMatch(/exited before it was SERVING \(code 1/);
    expect(message).toContain(file);
  });

  it('no artifact directory at all → exit 1 naming the path', async () => {
    const message = await startFailure('ranker', { ARTIFACTS_DIR: path.join(tmp, 'nowhere') });
    expect(message).toMatch(/exited before it was SERVING \(code 1/);
    expect(message).toContain(path.join(tmp, 'nowhere'));
  });

  it('a bad config value → exit 2 naming the variable', async () => {
    const message = await startFailure('gateway', { REQUEST_TIMEOUT_MS: 'soon' });
    expect(message).toMatch(/exited before it was SERVING \(code 2/);
    expect(message).toContain('REQUEST_TIMEOUT_MS must be an integer, got "soon"');
  });
});
