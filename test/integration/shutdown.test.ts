/**
 * SIGTERM to any service: health goes NOT_SERVING first, calls in flight complete, and
 * the process exits 0.
 */
import * as grpc from '@grpc/grpc-js';
import { loadArtifacts } from '@recsys/core';
import { callUnary, createClient } from '@recsys/grpc-kit';
import { SERVICE_NAMES, ServiceName, checkHealth, startMesh } from '@recsys/local';
import {
  CandidateGeneratorServiceClient,
  FeatureStoreServiceClient,
  GatewayServiceClient,
  RankerServiceClient,
  health,
} from '@recsys/proto';
import { testArtifactsRoot } from '../support/helpers';

jest.setTimeout(120_000);

/** A unary call to `name` that exercises its main RPC. */
function caller(name: ServiceName, address: string, user: string): { call: () => Promise<unknown>; close: () => void } {
  const deadline = () => ({ deadline: Date.now() + 5000 });
  switch (name) {
    case 'gateway': {
      const c = createClient(GatewayServiceClient, address);
      return { call: () => callUnary(c.recommend.bind(c), { userId: user, k: 10, excludeItemIds: [], debug: false }, deadline()), close: () => c.close() };
    }
    case 'candidate-generator': {
      const c = createClient(CandidateGeneratorServiceClient, address);
      return {
        call: () => callUnary(c.generateCandidates.bind(c), { userId: user, numCandidates: 300, excludeItemIds: [], recentItemIds: [], packedFeatures: false }, deadline()),
        close: () => c.close(),
      };
    }
    case 'feature-store': {
      const c = createClient(FeatureStoreServiceClient, address);
      return { call: () => callUnary(c.getUserContext.bind(c), { userId: user, maxRecentItems: 0 }, deadline()), close: () => c.close() };
    }
    case 'ranker': {
      const c = createClient(RankerServiceClient, address);
      const ids = Array.from({ length: 300 }, (_, i) => `item-${i}`);
      return {
        call: () =>
          callUnary(
            c.rank.bind(c),
            { userId: user, candidates: { itemIds: ids, scores: ids.map((_, i) => 300 - i), sources: [], sourceScores: [], features: [], packedFeatures: Buffer.alloc(0) }, userFeatures: undefined, itemFeatures: undefined, topK: 10, variant: '' },
            deadline(),
          ),
        close: () => c.close(),
      };
    }
  }
}

describe.each(SERVICE_NAMES)('SIGTERM to %s', (name) => {
  it('goes NOT_SERVING first, completes in-flight calls, exits 0', async () => {
    const root = testArtifactsRoot();
    const user = loadArtifacts(root, ['userIds']).userIds[0] as string;
    // A drain delay long enough to observe NOT_SERVING while the listener is still open.
    const mesh = await startMesh({ artifactsDir: root, ports: 'free', env: { LOG_LEVEL: 'warn' }, serviceEnv: { [name]: { SHUTDOWN_DELAY_MS: '400' } } });
    const target = mesh.services[name];
    const { call, close } = caller(name, target.address, user);
    try {
      await call(); // warm channel
      // Closed-loop load from 8 concurrent callers; stop issuing once SIGTERM is sent.
      let signalled = false;
      const results: { startedBeforeSignal: boolean; ok: boolean; error?: string }[] = [];
      const loops = Array.from({ length: 8 }, async () => {
        while (!signalled) {
          const startedBeforeSignal = !signalled;
          try {
            await call();
            results.push({ startedBeforeSignal, ok: true });
          } catch (err) {
            results.push({ startedBeforeSignal, ok: false, error: (err as grpc.ServiceError).message });
          }
        }
      });
      // Signal only once the load is really flowing (a loaded machine may take a while).
      const flowingBy = Date.now() + 30_000;
      while (results.length < 16 && Date.now() < flowingBy) await new Promise((r) => setTimeout(r, 20));
      const exitP = target.stop('SIGTERM');
      signalled = true;
      // Health must read NOT_SERVING while the process still runs.
      let sawNotServing = false;
      for (let i = 0; i < 20 && !sawNotServing; i++) {
        try {
          sawNotServing = (await checkHealth(target.address, '', 500)) === health.HealthCheckResponse_ServingStatus.NOT_SERVING;
        } catch {
          break;
        }
        if (!sawNotServing) await new Promise((r) => setTimeout(r, 20));
      }
      await Promise.all(loops);
      const exit = await exitP;
      expect(sawNotServing).toBe(true);
      expect(results.length).toBeGreaterThanOrEqual(16);
      expect(results.filter((r) => r.startedBeforeSignal && !r.ok)).toEqual([]);
      expect(exit).toEqual({ code: 0, signal: null });
    } finally {
      close();
      await mesh.stop();
    }
  });
});
