/**
 * Fault injection, replicas: the gateway's RANKER_ADDR lists three ranker replicas. Calls
 * are spread over all three; one replica gets SIGTERM under load (a rolling deploy: no call
 * fails, none falls back), then another is killed with SIGKILL under load: no call fails
 * and none falls back, because the calls in flight on the dead replica (it sits behind a
 * 100 ms delaying proxy, so there always are some) are retried on the live one by the
 * channel's retryPolicy. Short form in `npm test`; `npm run chaos` runs it longer.
 */
import * as grpc from '@grpc/grpc-js';
import { ServiceProcess, freePort, startServiceProcess } from '@recsys/local';
import { Stage } from '@recsys/proto';
import { counterValue, testArtifactsRoot } from '../support/helpers';
import { DelayProxy, Outcome, loadFor, scale, summary } from '../support/fault-helpers';
import { freeMeshPorts, useMesh } from '../support/mesh';

jest.setTimeout(180_000);

const PHASE_MS = scale(4000, 30_000);
const CONCURRENCY = scale(8, 16);
/** Delay in front of the replica that gets killed, so calls are in flight on it when it dies. */
const VICTIM_DELAY_MS = 100;

let extra: ServiceProcess[] = [];
let proxy: DelayProxy;

const mesh = useMesh(async () => {
  const root = testArtifactsRoot();
  const ports = await freeMeshPorts();
  const replicaPorts = [await freePort(), await freePort()];
  extra = await Promise.all(
    replicaPorts.map(async (port) =>
      startServiceProcess('ranker', { port, metricsPort: await freePort(), env: { ARTIFACTS_DIR: root, LOG_LEVEL: 'error' } }),
    ),
  );
  proxy = await new DelayProxy(replicaPorts[0] as number).start();
  proxy.delayMs = VICTIM_DELAY_MS;
  const rankers = [ports.ranker.grpc, proxy.port, replicaPorts[1]].map((p) => `127.0.0.1:${p}`).join(',');
  // A generous budget: this test is about replicas, not about slow stages.
  return { ports, serviceEnv: { gateway: { RANKER_ADDR: rankers, REQUEST_TIMEOUT_MS: '3000' } } };
});

beforeAll(() => mesh.recommend({}));

afterAll(async () => {
  await Promise.all(extra.map((p) => p.stop('SIGKILL')));
  await proxy?.stop();
});

const rankCalls = (p: ServiceProcess) => counterValue(p.metricsPort, 'grpc_server_handled_total', { method: '/recsys.v1.RankerService/Rank', code: 'OK' });
const failed = (o: readonly Outcome[]) => o.filter((x) => x.code !== grpc.status.OK);
const rankingDegraded = (o: readonly Outcome[]) => o.filter((x) => x.degraded.includes(Stage.STAGE_RANKING)).length;

it('spreads calls over all three replicas (each gets at least a sixth)', async () => {
  const replicas = [mesh.services.ranker, ...extra];
  const before = await Promise.all(replicas.map(rankCalls));
  const outcomes = await loadFor(scale(2000, 10_000), CONCURRENCY, () => mesh.recommend({}));
  expect(failed(outcomes)).toEqual([]);
  const handled = (await Promise.all(replicas.map(rankCalls))).map((v, i) => v - (before[i] as number));
  const total = handled.reduce((a, b) => a + b, 0);
  expect(total).toBeGreaterThanOrEqual(outcomes.length);
  for (const h of handled) expect({ handled, share: h / total >= 1 / 6 }).toEqual({ handled, share: true });
});

it('SIGTERM to one replica under load: no failed call, none falls back, the replica exits 0', async () => {
  const victim = extra[1] as ServiceProcess;
  let exit: Promise<{ code: number | null }> | undefined;
  const timer = setTimeout(() => (exit = victim.stop('SIGTERM')), PHASE_MS / 3);
  const outcomes = await loadFor(PHASE_MS, CONCURRENCY, () => mesh.recommend({}));
  clearTimeout(timer);
  const why = summary(outcomes);
  expect(exit).toBeDefined();
  expect(await exit).toMatchObject({ code: 0 });
  expect(outcomes.length).toBeGreaterThan(CONCURRENCY * 5);
  // Pass criterion: zero failed calls and zero ranking fallbacks across the shutdown.
  expect({ why, failed: failed(outcomes).length, degraded: rankingDegraded(outcomes) }).toEqual({ why, failed: 0, degraded: 0 });
});

it('SIGKILL to one replica with calls in flight: no failed call, none falls back (retried), the survivor takes the traffic', async () => {
  const victim = extra[0] as ServiceProcess;
  const alive = () => [mesh.services.ranker, extra[1] as ServiceProcess].filter((p) => p.child.exitCode === null && p.child.signalCode === null);
  const liveRankCalls = async () => (await Promise.all(alive().map(rankCalls))).reduce((a, b) => a + b, 0);
  const timer = setTimeout(() => void victim.stop('SIGKILL'), PHASE_MS / 3);
  const outcomes = await loadFor(PHASE_MS, CONCURRENCY, () => mesh.recommend({}));
  clearTimeout(timer);
  expect(victim.child.signalCode).toBe('SIGKILL');
  const why = summary(outcomes);
  // Pass criterion: zero failed calls and zero ranking fallbacks across the kill.
  expect({ why, failed: failed(outcomes).length, degraded: rankingDegraded(outcomes) }).toEqual({ why, failed: 0, degraded: 0 });
  // Afterwards every call is ranked by the live replica(s).
  const before = await liveRankCalls();
  const after = await loadFor(1000, 4, () => mesh.recommend({}));
  expect({ why: summary(after), failed: failed(after).length, degraded: rankingDegraded(after) }).toEqual({ why: summary(after), failed: 0, degraded: 0 });
  expect((await liveRankCalls()) - before).toBeGreaterThanOrEqual(after.length);
});
