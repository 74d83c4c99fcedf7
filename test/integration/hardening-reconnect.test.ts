/**
 * Hardening, reconnect (issue 11, row 16): the mesh clients cap grpc-js's reconnect
 * back-off (RECONNECT_BACKOFF_MAX_MS in libs/grpc-kit/src/client.ts), so once a downstream
 * that was down for a while is SERVING again the gateway uses it within about a second,
 * instead of answering degraded until its next back-off attempt (13.8 s after a 40 s
 * outage with grpc-js's default growth to 120 s).
 */
import { eventually, gatewayCaller } from '../support/fault-helpers';
import { useMesh } from '../support/mesh';

jest.setTimeout(180_000);

const mesh = useMesh({ serviceEnv: { gateway: { REQUEST_TIMEOUT_MS: '1000' } } });

describe('row 16: a recovered downstream is used again within about a second', () => {
  it('ranker killed for 31 s: degraded answers stop within 1.5 s of it being SERVING again', async () => {
    const normal = gatewayCaller(mesh.gatewayAddress);
    try {
      await mesh.services.ranker.stop('SIGKILL');
      let stop = false;
      let servingAt = 0;
      let firstOkAfter = 0;
      const run = (async () => {
        while (!stop) {
          const res = await normal.recommend({ k: 5 }).catch(() => undefined);
          if (servingAt && !firstOkAfter && res && res.degradedStages.length === 0) firstOkAfter = Date.now();
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await new Promise((r) => setTimeout(r, 31_000));
      await mesh.mesh.restart('ranker');
      servingAt = Date.now();
      await eventually('an answer that is not degraded', 20_000, async () => firstOkAfter > 0, 50);
      stop = true;
      await run;
      expect(firstOkAfter - servingAt).toBeLessThan(1500);
    } finally {
      normal.close();
    }
  });
});

