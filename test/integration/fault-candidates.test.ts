/**
 * Fault injection, candidate generator killed: the gateway keeps answering from its cached
 * popular list (flagged STAGE_CANDIDATES, counted, exclusions still applied, still ranked).
 * A gateway that never saw a popular list fails UNAVAILABLE with a message saying so.
 */
import * as grpc from '@grpc/grpc-js';
import { freePort, startServiceProcess } from '@recsys/local';
import { RetrievalSource, Stage } from '@recsys/proto';
import { counterValue, testArtifactsRoot } from '../support/helpers';
import { eventually, gatewayCaller, loadFor, scale, summary } from '../support/fault-helpers';
import { useMesh } from '../support/mesh';

jest.setTimeout(180_000);

const BUDGET_MS = 300;
const SLACK_MS = 500;

const mesh = useMesh({ serviceEnv: { gateway: { REQUEST_TIMEOUT_MS: String(BUDGET_MS), POPULAR_REFRESH_MS: '500' } } });

it('candidate generator killed: every call OK with k popular items, flagged candidates, exclusions applied', async () => {
  // The popular list the gateway should fall back to: the cold-start answer for an unknown user.
  const cold = await mesh.recommend({ userId: 'no-such-user-for-popular', k: 10 });
  expect(cold.items.every((i) => i.source === RetrievalSource.RETRIEVAL_SOURCE_POPULARITY)).toBe(true);
  const popularIds = new Set(cold.items.map((i) => i.itemId));
  const excluded = cold.items[0]?.itemId as string;
  // Let at least one periodic refresh (every 500 ms) land as well.
  await new Promise((r) => setTimeout(r, 1200));
  await mesh.services['candidate-generator'].stop('SIGKILL');
  const before = await counterValue(mesh.services.gateway.metricsPort, 'recsys_stage_fallbacks_total', { stage: 'STAGE_CANDIDATES' });

  const outcomes = await loadFor(scale(3000, 20_000), scale(4, 8), (w) =>
    mesh.recommend({ userId: w % 2 ? '1' : 'no-such-user', k: 10, excludeItemIds: [excluded] }),
  );
  const why = summary(outcomes);
  // Pass criterion: no error; every call within budget + slack; every one flagged
  // STAGE_CANDIDATES with exactly k items; each counted in the fallback metric.
  expect({ why, failed: outcomes.filter((o) => o.code !== grpc.status.OK).length }).toEqual({ why, failed: 0 });
  expect({ why, slow: outcomes.filter((o) => o.latencyMs > BUDGET_MS + SLACK_MS).length }).toEqual({ why, slow: 0 });
  expect({ why, unflagged: outcomes.filter((o) => !o.degraded.includes(Stage.STAGE_CANDIDATES)).length }).toEqual({ why, unflagged: 0 });
  expect(outcomes.every((o) => o.items === 10)).toBe(true);
  const after = await counterValue(mesh.services.gateway.metricsPort, 'recsys_stage_fallbacks_total', { stage: 'STAGE_CANDIDATES' });
  expect(after - before).toBeGreaterThanOrEqual(outcomes.length);

  const res = await mesh.recommend({ userId: '1', k: 10, excludeItemIds: [excluded] });
  expect(res.items.map((i) => i.itemId)).not.toContain(excluded);
  expect(res.items.every((i) => i.source === RetrievalSource.RETRIEVAL_SOURCE_POPULARITY)).toBe(true);
  // The fallback list is the popular list (9 of the cold-start top 10 survive the exclusion).
  expect(res.items.filter((i) => popularIds.has(i.itemId)).length).toBeGreaterThanOrEqual(5);
  expect(res.degradedStages.find((d) => d.stage === Stage.STAGE_CANDIDATES)?.reason).toMatch(/^candidate generator unavailable, cached popular items used: /);
  // Still ranked by the model.
  expect(res.modelVersion).not.toBe('');
});

it('candidate generator back: personalised candidates again within 15 s', async () => {
  const old = mesh.services['candidate-generator'];
  const cg = await startServiceProcess('candidate-generator', {
    port: old.port,
    metricsPort: await freePort(),
    env: { ARTIFACTS_DIR: testArtifactsRoot(), LOG_LEVEL: 'error' },
  });
  mesh.services['candidate-generator'] = cg;
  await eventually('candidates not degraded', 15_000, async () => (await mesh.recommend({ userId: '1' })).degradedStages.length === 0);
});

it('a gateway that never saw a popular list fails UNAVAILABLE, saying why', async () => {
  const port = await freePort();
  const deadPort = await freePort();
  const lone = await startServiceProcess('gateway', {
    port,
    metricsPort: -1,
    env: {
      CANDIDATE_GENERATOR_ADDR: `127.0.0.1:${deadPort}`,
      FEATURE_STORE_ADDR: mesh.services['feature-store'].address,
      RANKER_ADDR: mesh.services.ranker.address,
      LOG_LEVEL: 'error',
    },
  });
  const c = gatewayCaller(lone.address);
  try {
    const err = (await c.recommend({ userId: '1' }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err).toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(err.details).toMatch(/^no recommendations: candidate generator failed \(.*\) and no cached popular list exists yet$/);
  } finally {
    c.close();
    await lone.stop();
  }
});
