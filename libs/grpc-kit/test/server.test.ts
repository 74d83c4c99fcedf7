import * as grpc from '@grpc/grpc-js';
import {
  DescriptorIndex,
  InvalidArgumentError,
  ServiceHost,
  ServiceMetrics,
  callUnary,
  createClient,
  createLogger,
} from '@recsys/grpc-kit';
import { DESCRIPTOR_SET_PATH, RankerServiceClient, RankerServiceService, health } from '@recsys/proto';

function makeHost(rank: (userId: string) => Promise<void>): ServiceHost {
  const host = new ServiceHost({
    name: 'test',
    host: '127.0.0.1',
    port: 0,
    reflection: true,
    descriptors: DescriptorIndex.fromFile(DESCRIPTOR_SET_PATH),
    drainTimeoutMs: 2000,
    shutdownDelayMs: 0,
    log: createLogger('test', 'silent'),
    metrics: new ServiceMetrics('test'),
  });
  host.addService(RankerServiceService, 'recsys.v1.RankerService', {
    async rank(req) {
      await rank(req.userId);
      return { itemIds: ['a'], scores: [1], candidateIndices: [0], modelVersion: 'v1' };
    },
  });
  return host;
}

describe('ServiceHost', () => {
  let host: ServiceHost;
  let client: RankerServiceClient;
  let behaviour: (userId: string) => Promise<void>;

  beforeEach(async () => {
    behaviour = async () => {};
    host = makeHost((u) => behaviour(u));
    const port = await host.start();
    client = createClient(RankerServiceClient, `127.0.0.1:${port}`);
  });

  afterEach(async () => {
    client.close();
    await host.shutdown('test end');
  });

  const rank = () => callUnary(client.rank.bind(client), { userId: 'u', candidates: undefined, userFeatures: undefined, itemFeatures: undefined, topK: 0 }, { deadline: Date.now() + 2000 });
  const check = (service = '') => {
    const hc = createClient(health.HealthClient, `127.0.0.1:${host.port}`);
    return callUnary(hc.check.bind(hc), { service }, { deadline: Date.now() + 2000 }).finally(() => hc.close());
  };

  it('reports NOT_SERVING and refuses calls with UNAVAILABLE until ready', async () => {
    expect((await check()).status).toBe(health.HealthCheckResponse_ServingStatus.NOT_SERVING);
    await expect(rank()).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    host.markReady();
    expect((await check('recsys.v1.RankerService')).status).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
    await expect(rank()).resolves.toMatchObject({ modelVersion: 'v1' });
  });

  it('maps domain errors to their status and hides unknown errors as INTERNAL', async () => {
    host.markReady();
    behaviour = async () => {
      throw new InvalidArgumentError('user_id', 'is bad');
    };
    await expect(rank()).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'user_id: is bad' });
    behaviour = async () => {
      throw new Error('secret internals');
    };
    const err = await rank().catch((e: grpc.ServiceError) => e);
    expect(err).toMatchObject({ code: grpc.status.INTERNAL, details: 'internal error' });
  });

  it('answers NOT_FOUND for health of an unknown service', async () => {
    await expect(check('nope.Service')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('on shutdown goes NOT_SERVING first and lets an in-flight call finish', async () => {
    host.markReady();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    behaviour = async () => {
      entered();
      await gate;
    };
    const inflight = rank();
    await inside;
    const stopping = host.shutdown('test');
    expect(host.health.get('')).toBe(health.HealthCheckResponse_ServingStatus.NOT_SERVING);
    release();
    await expect(inflight).resolves.toMatchObject({ modelVersion: 'v1' });
    await stopping;
  });

  it('fails a call whose deadline has already passed without sending it', async () => {
    host.markReady();
    await expect(callUnary(client.rank.bind(client), { userId: 'u', candidates: undefined, userFeatures: undefined, itemFeatures: undefined, topK: 0 }, { deadline: Date.now() - 1 })).rejects.toMatchObject({
      code: grpc.status.DEADLINE_EXCEEDED,
    });
  });
});
