/**
 * Fault injection, Redis behind the feature store: first hung (SIGSTOP, every command
 * hangs), then killed and restarted (SIGKILL, a new redis-server on the same port,
 * re-materialized as an operator would). While Redis is out, every Recommend still answers
 * within the gateway budget plus slack, flagged STAGE_USER_CONTEXT and STAGE_ITEM_FEATURES
 * (declared defaults used); once it is back, answers are undegraded again within a bound.
 */
import * as grpc from '@grpc/grpc-js';
import { Stage } from '@recsys/proto';
import { RedisServer, counterValue, runNode, startRedis, testArtifactsRoot } from '../support/helpers';
import { Outcome, eventually, loadFor, scale, summary } from '../support/fault-helpers';
import { useMesh } from '../support/mesh';

jest.setTimeout(180_000);

const BUDGET_MS = 300;
const SLACK_MS = 500;
const PHASE_MS = scale(3000, 20_000);

let redis: RedisServer;

const materialize = () => runNode('cli/dist/materialize.js', ['--artifacts', testArtifactsRoot(), '--redis', redis.url]);

beforeAll(async () => {
  redis = await startRedis();
  await materialize();
});
// A test that failed while Redis was stopped must not leave it stopped while the mesh drains.
afterAll(() => {
  if (redis?.process.signalCode === null) redis.process.kill('SIGCONT');
});

const mesh = useMesh(() => ({ redisUrl: redis.url, serviceEnv: { gateway: { REQUEST_TIMEOUT_MS: String(BUDGET_MS) } } }));

// After the mesh has stopped (afterAll hooks run in declaration order).
afterAll(() => redis?.stop());

const undegraded = async () => (await mesh.recommend({ userId: '1' })).degradedStages.length === 0;
const featureFallbacks = () => counterValue(mesh.services.gateway.metricsPort, 'recsys_stage_fallbacks_total', { stage: 'STAGE_ITEM_FEATURES' });

/** The pass criterion while Redis is out, over one load phase. */
async function expectDegradedButServed(): Promise<Outcome[]> {
  const before = await featureFallbacks();
  const outcomes = await loadFor(PHASE_MS, 4, () => mesh.recommend({ userId: '1', k: 10 }));
  const why = summary(outcomes);
  // No error; every call within BUDGET_MS + SLACK_MS; every one flagged user context and item
  // features; k items each; each counted in recsys_stage_fallbacks_total.
  expect({ why, failed: outcomes.filter((o) => o.code !== grpc.status.OK).length }).toEqual({ why, failed: 0 });
  expect({ why, slow: outcomes.filter((o) => o.latencyMs > BUDGET_MS + SLACK_MS).length }).toEqual({ why, slow: 0 });
  const flagged = (o: Outcome) => o.degraded.includes(Stage.STAGE_USER_CONTEXT) && o.degraded.includes(Stage.STAGE_ITEM_FEATURES);
  expect({ why, unflagged: outcomes.filter((o) => !flagged(o)).length }).toEqual({ why, unflagged: 0 });
  expect(outcomes.every((o) => o.items === 10)).toBe(true);
  expect((await featureFallbacks()) - before).toBeGreaterThanOrEqual(outcomes.length);
  return outcomes;
}

it('serves undegraded answers from Redis to begin with', async () => {
  await eventually('undegraded through Redis', 10_000, undegraded);
});

it('Redis hung (SIGSTOP): every call OK within budget + slack, flagged context and features', async () => {
  redis.process.kill('SIGSTOP');
  try {
    await expectDegradedButServed();
  } finally {
    redis.process.kill('SIGCONT');
  }
});

it('Redis resumed (SIGCONT): undegraded again within 15 s', async () => {
  await eventually('undegraded after SIGCONT', 15_000, undegraded);
});

it('Redis killed: every call OK within budget + slack, flagged; restarted and re-materialized: undegraded within 20 s', async () => {
  const port = redis.port;
  redis.process.kill('SIGKILL');
  await redis.stop();
  await expectDegradedButServed();
  redis = await startRedis(port);
  await materialize();
  await eventually('undegraded after the Redis restart', 20_000, undegraded);
});
