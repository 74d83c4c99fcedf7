/**
 * Traffic splits: the ranker holds the live model and a pinned second version side by side;
 * an experiment file assigns users by a stable hash, sticky across requests and restarts,
 * and a weight change applies without a restart.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { callUnary, createClient } from '@recsys/grpc-kit';
import { freePort, startServiceProcess } from '@recsys/local';
import { assignVariant, parseExperiment } from '@recsys/ranker/experiment';
import { RankerServiceClient } from '@recsys/proto';
import { resolveArtifactDir } from '@recsys/core';
import { counterValue, testArtifactsRoot } from '../support/helpers';
import { useMesh } from '../support/mesh';
import { writeRankerVariant } from '../support/model-variant';

jest.setTimeout(180_000);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-exp-'));
const file = path.join(dir, 'experiment.json');
let variantDir: string;
const experiment = (control: number, treatment: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    name: 'ranker-split',
    variants: [
      { name: 'control', artifacts: 'current', weight: control },
      { name: 'treatment', artifacts: path.basename(variantDir), weight: treatment },
    ],
    ...extra,
  });
/** Replaces the file atomically (as an editor or a config push would). */
const writeExperiment = (text: string): void => {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
};

beforeAll(() => {
  variantDir = writeRankerVariant(testArtifactsRoot(), dir, 7);
  writeExperiment(experiment(50, 50));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const mesh = useMesh(() => ({ serviceEnv: { ranker: { EXPERIMENT_FILE: file, EXPERIMENT_POLL_MS: '200', LOG_LEVEL: 'info' }, gateway: { REQUEST_TIMEOUT_MS: '20000' } } }));
const USERS = Array.from({ length: 2000 }, (_, i) => `user-${i}`);

async function variantsOf(users: string[]): Promise<Map<string, { variant: string; model: string }>> {
  // A channel of its own: after a ranker restart, a shared subchannel may still be in its reconnect back-off.
  const rk = mesh.client(RankerServiceClient, 'ranker', { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
  const out = new Map<string, { variant: string; model: string }>();
  // A minimal Rank per user (one candidate): the assignment is the ranker's, per user id.
  for (let i = 0; i < users.length; i += 50) {
    await Promise.all(
      users.slice(i, i + 50).map(async (userId) => {
        const res = await callUnary(
          rk.rank.bind(rk),
          { userId, candidates: { itemIds: ['1'], scores: [1], sources: [], sourceScores: [], features: [], packedFeatures: Buffer.alloc(0) }, userFeatures: undefined, itemFeatures: undefined, topK: 1, variant: '' },
          { deadline: Date.now() + 10_000 },
        );
        out.set(userId, { variant: res.variant, model: res.modelVersion });
      }),
    );
  }
  return out;
}

const waitFor = async (pred: () => Promise<boolean>, ms = 15_000): Promise<boolean> => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return pred();
};

describe('traffic splits', () => {
  let first: Map<string, { variant: string; model: string }>;
  const baseVersion = () => path.basename(resolveArtifactDir(testArtifactsRoot()));

  it('a 50/50 split over 2,000 users lands within ±5 %, each variant on its own model version', async () => {
    first = await variantsOf(USERS);
    const treatment = [...first.values()].filter((v) => v.variant === 'treatment').length;
    const control = [...first.values()].filter((v) => v.variant === 'control').length;
    expect(treatment + control).toBe(2000);
    expect(Math.abs(treatment / 2000 - 0.5)).toBeLessThanOrEqual(0.05);
    for (const v of first.values()) expect(v.model).toBe(v.variant === 'control' ? baseVersion() : path.basename(variantDir));
    // The assignment is the documented hash, so any replica (or this test) computes the same.
    const exp = parseExperiment(experiment(50, 50), 'test', dir)!;
    for (const u of USERS) expect(first.get(u)?.variant).toBe(assignVariant(exp, u).name);
    expect(await counterValue(mesh.metricsPort('ranker'), 'recsys_ranker_variant_total', { variant: 'treatment' })).toBe(treatment);
  });

  it('every user keeps its variant across requests, and the variant is in the Recommend reply and metrics', async () => {
    const again = await variantsOf(USERS.slice(0, 500));
    for (const [u, v] of again) expect(v.variant).toBe(first.get(u)?.variant);
    const res = await mesh.recommend({ userId: '1', k: 10 });
    const expected = assignVariant(parseExperiment(experiment(50, 50), 'test', dir)!, '1').name;
    expect(res.variant).toBe(expected);
    expect(res.modelVersion).toBe(expected === 'control' ? baseVersion() : path.basename(variantDir));
    expect(await counterValue(mesh.metricsPort('gateway'), 'recsys_recommend_variant_total', { variant: expected })).toBeGreaterThanOrEqual(1);
    const metrics = await (await fetch(`http://127.0.0.1:${mesh.metricsPort('ranker')}/metrics`)).text();
    expect(metrics).toMatch(/recsys_ranker_models\{[^}]*\} 2/);
    expect(metrics).toMatch(/recsys_experiment_variant_weight\{[^}]*variant="treatment"[^}]*\} 50/);
  });

  it('every user keeps its variant across a ranker restart', async () => {
    await mesh.mesh.restart('ranker');
    const after = await variantsOf(USERS.slice(0, 500));
    for (const [u, v] of after) expect(v.variant).toBe(first.get(u)?.variant);
  });

  it('a weight change applies without a restart; a bad edit leaves the experiment in force', async () => {
    const pid = mesh.services.ranker.child.pid;
    writeExperiment(experiment(100, 0));
    expect(await waitFor(async () => [...(await variantsOf(USERS.slice(0, 200))).values()].every((v) => v.variant === 'control'))).toBe(true);
    writeExperiment(experiment(0, 100));
    expect(await waitFor(async () => [...(await variantsOf(USERS.slice(0, 200))).values()].every((v) => v.variant === 'treatment'))).toBe(true);
    // 90/10: only users whose bucket lies in the top tenth move to treatment.
    writeExperiment(experiment(90, 10));
    expect(await waitFor(async () => [...(await variantsOf(USERS.slice(0, 200))).values()].some((v) => v.variant === 'control'))).toBe(true);
    const ninety = await variantsOf(USERS);
    const share = [...ninety.values()].filter((v) => v.variant === 'treatment').length / 2000;
    expect(Math.abs(share - 0.1)).toBeLessThanOrEqual(0.03);
    // Broken JSON and an unknown field: refused, logged naming the file and field, 90/10 stays.
    writeExperiment('{"name": "ranker-split", "variants": [');
    writeExperiment(experiment(90, 10, { shadw: {} }));
    expect(
      await waitFor(async () => mesh.services.ranker.output.some((l) => l.includes('experiment file not applied') && l.includes('shadw: unknown field'))),
    ).toBe(true);
    const still = await variantsOf(USERS.slice(0, 300));
    for (const [u, v] of still) expect(v.variant).toBe(ninety.get(u)?.variant);
    expect(mesh.services.ranker.child.pid).toBe(pid);
  });

  it('a forced variant is scored by that variant; an unknown one is INVALID_ARGUMENT naming the field', async () => {
    const rk = mesh.client(RankerServiceClient, 'ranker', { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    const req = { userId: 'x', candidates: { itemIds: ['1', '2'], scores: [1, 2], sources: [], sourceScores: [], features: [], packedFeatures: Buffer.alloc(0) }, userFeatures: undefined, itemFeatures: undefined, topK: 0 };
    const forced = await callUnary(rk.rank.bind(rk), { ...req, variant: 'treatment' }, { deadline: Date.now() + 5000 });
    expect([forced.variant, forced.modelVersion, forced.shadowVariant]).toEqual(['treatment', path.basename(variantDir), '']);
    await expect(callUnary(rk.rank.bind(rk), { ...req, variant: 'nope' }, { deadline: Date.now() + 5000 })).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining('variant: experiment "ranker-split" has no variant "nope"'),
    });
  });
});

describe('experiment from the EXPERIMENT variable, and refused configs at start', () => {
  const start = async (env: Record<string, string>) =>
    startServiceProcess('ranker', { port: await freePort(), metricsPort: -1, env: { ARTIFACTS_DIR: testArtifactsRoot(), LOG_LEVEL: 'warn', ...env }, readyTimeoutMs: 60_000 });

  it('EXPERIMENT (inline JSON) splits like the file', async () => {
    const text = JSON.stringify({ name: 'inline', variants: [{ name: 'a', artifacts: 'current', weight: 1 }, { name: 'b', artifacts: variantDir, weight: 1 }] });
    const p = await start({ EXPERIMENT: text });
    const c = createClient(RankerServiceClient, p.address);
    try {
      const exp = parseExperiment(text, 'EXPERIMENT')!;
      for (const userId of USERS.slice(0, 40)) {
        const res = await callUnary(c.rank.bind(c), { userId, candidates: { itemIds: ['1'], scores: [1], sources: [], sourceScores: [], features: [], packedFeatures: Buffer.alloc(0) }, userFeatures: undefined, itemFeatures: undefined, topK: 1, variant: '' }, { deadline: Date.now() + 10_000 });
        expect(res.variant).toBe(assignVariant(exp, userId).name);
      }
    } finally {
      c.close();
      await p.stop();
    }
  });

  it.each([
    [{ EXPERIMENT: '{"name":"x","variants":[{"name":"a","artifacts":"current","weight":0}]}' }, 'configuration: EXPERIMENT variants: weights must not all be 0'],
    [{ EXPERIMENT_FILE: '/nonexistent/experiment.json' }, 'EXPERIMENT_FILE /nonexistent/experiment.json cannot be read'],
    [{ EXPERIMENT: '{}', EXPERIMENT_FILE: '/x.json' }, 'set EXPERIMENT_FILE or EXPERIMENT, not both'],
    [{ EXPERIMENT: '{"name":"x","variants":[{"name":"a","artifacts":"current","weight":1},{"name":"b","artifacts":"/a","weight":1},{"name":"c","artifacts":"/b","weight":1}]}', MAX_MODELS: '2' }, 'needs 3 models side by side'],
  ])('refuses %j at start with exit 2, naming what is wrong', async (env, message) => {
    const err = (await start(env).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error;
    expect(err?.message).toMatch(/exited before it was SERVING \(code 2/);
    expect(err.message).toContain(message);
  });
});
