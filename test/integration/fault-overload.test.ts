/**
 * Fault injection, overload at several times capacity: a ranker limited to 2 concurrent
 * calls gets 40 concurrent callers (20×), a gateway limited to 4 gets 32 (8×). Calls beyond
 * the limit are rejected RESOURCE_EXHAUSTED at once instead of queueing, the others are
 * served, and health checks keep being answered SERVING throughout.
 */
import * as grpc from '@grpc/grpc-js';
import { callUnary } from '@recsys/grpc-kit';
import { checkHealth } from '@recsys/local';
import { RankerServiceClient, health } from '@recsys/proto';
import { counterValue } from '../support/helpers';
import { Outcome, countCodes, loadFor, scale, summary } from '../support/fault-helpers';
import { useMesh } from '../support/mesh';

/** How long each rejection took to come back (without the back-off). */
const rejectMs: number[] = [];

/** Runs `call`; after a RESOURCE_EXHAUSTED records its latency, waits BACKOFF_MS, passes the error on. */
const politely = async <T>(call: () => Promise<T>): Promise<T> => {
  const t0 = Date.now();
  try {
    return await call();
  } catch (err) {
    if ((err as grpc.ServiceError).code === grpc.status.RESOURCE_EXHAUSTED) {
      rejectMs.push(Date.now() - t0);
      await new Promise((r) => setTimeout(r, BACKOFF_MS));
    }
    throw err;
  }
};

jest.setTimeout(180_000);

const PHASE_MS = scale(3000, 30_000);
/** Deadline of every call: a server that queued instead of shedding would run into it. */
const CALL_DEADLINE_MS = 10_000;
/** A rejection must come back within a quarter of the deadline (generous for a loaded 2-core box). */
const REJECT_WITHIN_MS = CALL_DEADLINE_MS / 4;
/**
 * Callers back off this long after a rejection, as real ones do; without it 40 closed-loop
 * workers spin on instant rejections and the test process itself becomes the bottleneck.
 */
const BACKOFF_MS = 20;
/** A health check must be answered within this (its deadline). */
const HEALTH_DEADLINE_MS = 2000;

const mesh = useMesh({ serviceEnv: { ranker: { MAX_CONCURRENT_CALLS: '2' }, gateway: { MAX_CONCURRENT_CALLS: '4', REQUEST_TIMEOUT_MS: '2000' } } });

/** Polls health of `address` every 100 ms while `work` runs; returns every result. */
async function healthDuring<T>(address: string, work: Promise<T>): Promise<{ work: T; checks: string[] }> {
  let done = false;
  const checks: string[] = [];
  const poller = (async () => {
    while (!done) {
      try {
        const s = await checkHealth(address, '', HEALTH_DEADLINE_MS);
        checks.push(health.HealthCheckResponse_ServingStatus[s] ?? String(s));
      } catch (err) {
        checks.push(`error: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const result = await work.finally(() => (done = true));
  await poller;
  return { work: result, checks };
}

function expectShed(outcomes: Outcome[], checks: string[]): void {
  const why = summary(outcomes);
  const codes = countCodes(outcomes);
  // Pass criterion: only OK and RESOURCE_EXHAUSTED; both occur; every rejection within
  // REJECT_WITHIN_MS; every health check during the run answered SERVING.
  expect({ why, codes: Object.keys(codes).sort() }).toEqual({ why, codes: ['OK', 'RESOURCE_EXHAUSTED'] });
  const rejections = rejectMs.splice(0);
  expect(rejections.length).toBe(codes.RESOURCE_EXHAUSTED);
  const slowRejects = rejections.filter((ms) => ms > REJECT_WITHIN_MS).length;
  expect({ why, maxRejectMs: Math.max(...rejections), slowRejects }).toEqual({ why, maxRejectMs: Math.max(...rejections), slowRejects: 0 });
  expect(checks.length).toBeGreaterThan(3);
  expect(checks.filter((c) => c !== 'SERVING')).toEqual([]);
}

it('ranker at 20× its concurrency limit: sheds RESOURCE_EXHAUSTED fast, serves the rest, health stays SERVING', async () => {
  const ranker = mesh.services.ranker;
  const client = mesh.client(RankerServiceClient, 'ranker');
  const ids = Array.from({ length: 300 }, (_, i) => String(i + 1));
  const rank = () =>
    callUnary(
      client.rank.bind(client),
      { userId: '1', candidates: { itemIds: ids, scores: ids.map((_, i) => 300 - i), sources: [], sourceScores: [], features: [], packedFeatures: Buffer.alloc(0) }, userFeatures: undefined, itemFeatures: undefined, topK: 10, variant: '' },
      { deadline: Date.now() + CALL_DEADLINE_MS },
    );
  await rank();
  const before = await counterValue(ranker.metricsPort, 'grpc_server_handled_total', { code: 'RESOURCE_EXHAUSTED' });
  const { work: outcomes, checks } = await healthDuring(ranker.address, loadFor(PHASE_MS, 40, () => politely(rank)));
  expectShed(outcomes, checks);
  const rejected = outcomes.filter((o) => o.code === grpc.status.RESOURCE_EXHAUSTED);
  expect(rejected[0]?.details).toBe('ranker is at its limit of 2 concurrent calls; retry later');
  expect((await counterValue(ranker.metricsPort, 'grpc_server_handled_total', { code: 'RESOURCE_EXHAUSTED' })) - before).toBe(rejected.length);
});

it('gateway at 8× its concurrency limit: sheds RESOURCE_EXHAUSTED fast, serves the rest, health stays SERVING', async () => {
  await mesh.recommend({});
  const { work: outcomes, checks } = await healthDuring(mesh.gatewayAddress, loadFor(PHASE_MS, 32, () => politely(() => mesh.recommend({}, CALL_DEADLINE_MS))));
  expectShed(outcomes, checks);
  expect(outcomes.find((o) => o.code === grpc.status.RESOURCE_EXHAUSTED)?.details).toBe('gateway is at its limit of 4 concurrent calls; retry later');
});
