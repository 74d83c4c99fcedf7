/**
 * Security: the whole mesh with mutual TLS from `scripts/dev-certs.sh` (every hop, the
 * gateway's downstream calls included), refusal of plaintext and certificate-less callers,
 * a bad TLS configuration stopping the process with the variable named, and reflection
 * switched off by REFLECTION_ENABLED=false.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { callUnary } from '@recsys/grpc-kit';
import { REPO_ROOT, checkHealth, freePort, startServiceProcess, tlsClientCredentials } from '@recsys/local';
import { RankerServiceClient, health } from '@recsys/proto';
import { probe, testArtifactsRoot } from '../support/helpers';
import { useMesh } from '../support/mesh';

jest.setTimeout(180_000);

let certs: string;

beforeAll(async () => {
  certs = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-certs-'));
  const { stdout } = await promisify(execFile)('sh', [path.join(REPO_ROOT, 'scripts', 'dev-certs.sh'), certs]);
  expect(stdout).toMatch(/dev-certs: wrote ca.pem, mesh.pem, mesh-key.pem, client.pem, client-key.pem/);
});

// The handle's clients present the dev client certificate.
const mesh = useMesh(() => ({ tls: { dir: certs, mutual: true } }));

afterAll(() => fs.rmSync(certs, { recursive: true, force: true }));

it('mTLS on every hop: Recommend with a client certificate succeeds with no degraded stage', async () => {
  const res = await mesh.recommend({ k: 10 });
  // A gateway that could not reach its downstreams over mTLS would fail or degrade here.
  expect(res.degradedStages).toEqual([]);
  expect(res.items).toHaveLength(10);
  expect(res.modelVersion).not.toBe('');
});

it.each(['gateway', 'ranker'] as const)('%s refuses a plaintext caller and a TLS caller without a client certificate', async (name) => {
  const address = mesh.services[name].address;
  await expect(checkHealth(address, '', 3000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  await expect(checkHealth(address, '', 3000, tlsClientCredentials(certs, false))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  await expect(checkHealth(address, '', 3000, tlsClientCredentials(certs))).resolves.toBe(health.HealthCheckResponse_ServingStatus.SERVING);
  if (name === 'ranker') {
    const c = mesh.client(RankerServiceClient, 'ranker');
    const res = await callUnary(c.rank.bind(c), { userId: '1', candidates: { itemIds: ['1', '2'], scores: [2, 1], sources: [], sourceScores: [], features: [], packedFeatures: Buffer.alloc(0) }, userFeatures: undefined, itemFeatures: undefined, topK: 2, variant: '' }, { deadline: Date.now() + 5000 });
    expect(res.itemIds).toHaveLength(2);
  }
});

it('a bad TLS setting stops the service with exit code 2 naming the variable', async () => {
  const start = (env: Record<string, string>) =>
    startServiceProcess('ranker', { port: await0, metricsPort: -1, env: { ARTIFACTS_DIR: testArtifactsRoot(), ...env }, readyTimeoutMs: 30_000 }).then(
      (p) => p.stop().then(() => 'started'),
      (err: Error) => err.message,
    );
  const await0 = await freePort();
  expect(await start({ TLS_CLIENT_AUTH: 'true' })).toMatch(/exited before it was SERVING \(code 2[\s\S]*configuration: TLS_CLIENT_AUTH needs TLS_CERT_FILE and TLS_KEY_FILE/);
  expect(await start({ TLS_CERT_FILE: path.join(certs, 'missing.pem'), TLS_KEY_FILE: path.join(certs, 'mesh-key.pem') })).toMatch(
    /\(code 2[\s\S]*configuration: TLS_CERT_FILE cannot read ".*missing.pem"/,
  );
});

it('REFLECTION_ENABLED=false: reflection is not served, the service is', async () => {
  const p = await startServiceProcess('ranker', { port: await freePort(), metricsPort: -1, env: { ARTIFACTS_DIR: testArtifactsRoot(), REFLECTION_ENABLED: 'false', LOG_LEVEL: 'error' } });
  try {
    const res = await probe(p.address, 'list');
    expect(res.code).not.toBe(0);
    expect(`${res.stdout}${res.stderr}`).toMatch(/UNIMPLEMENTED/);
    await expect(checkHealth(p.address)).resolves.toBe(health.HealthCheckResponse_ServingStatus.SERVING);
  } finally {
    await p.stop();
  }
});
