import * as grpc from '@grpc/grpc-js';
import { DomainError, InvalidArgumentError, UnavailableError } from '@recsys/core';
import {
  DescriptorIndex,
  ServiceHost,
  ServiceHostOptions,
  ServiceMetrics,
  channelCredentials,
  serverCredentials,
  callUnary,
  createClient,
  createLogger,
  toServiceError,
} from '@recsys/grpc-kit';
import { DESCRIPTOR_SET_PATH, RankerServiceClient, RankerServiceService, health } from '@recsys/proto';

function makeHost(rank: (userId: string) => Promise<void>, extra: Partial<ServiceHostOptions> = {}): ServiceHost {
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
    ...extra,
  });
  host.addService(RankerServiceService, 'recsys.v1.RankerService', {
    async rank(req) {
      await rank(req.userId);
      return { itemIds: ['a'], scores: [1], candidateIndices: [0], modelVersion: 'v1', variant: '', shadowVariant: '' };
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

  const rank = () => callUnary(client.rank.bind(client), { userId: 'u', candidates: undefined, userFeatures: undefined, itemFeatures: undefined, topK: 0, variant: '' }, { deadline: Date.now() + 2000 });
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
    await expect(callUnary(client.rank.bind(client), { userId: 'u', candidates: undefined, userFeatures: undefined, itemFeatures: undefined, topK: 0, variant: '' }, { deadline: Date.now() - 1 })).rejects.toMatchObject({
      code: grpc.status.DEADLINE_EXCEEDED,
    });
  });
});

describe('ServiceHost limits', () => {
  it('rejects calls beyond maxConcurrentCalls at once with RESOURCE_EXHAUSTED, and health still answers', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const host = makeHost(() => gate, { maxConcurrentCalls: 2 });
    const port = await host.start();
    host.markReady();
    const client = createClient(RankerServiceClient, `127.0.0.1:${port}`);
    const hc = createClient(health.HealthClient, `127.0.0.1:${port}`);
    const rank = () =>
      callUnary(client.rank.bind(client), { userId: 'u', candidates: undefined, userFeatures: undefined, itemFeatures: undefined, topK: 0, variant: '' }, { deadline: Date.now() + 10_000 });
    try {
      const held = [rank(), rank()];
      while (host.callsInFlight < 2) await new Promise((r) => setTimeout(r, 5));
      const rejected = await Promise.allSettled([rank(), rank(), rank()]);
      expect(rejected.map((r) => (r.status === 'rejected' ? (r.reason as grpc.ServiceError).code : 'ok'))).toEqual([
        grpc.status.RESOURCE_EXHAUSTED,
        grpc.status.RESOURCE_EXHAUSTED,
        grpc.status.RESOURCE_EXHAUSTED,
      ]);
      await expect(callUnary(hc.check.bind(hc), { service: '' }, { deadline: Date.now() + 5000 })).resolves.toMatchObject({
        status: health.HealthCheckResponse_ServingStatus.SERVING,
      });
      release();
      await expect(Promise.all(held)).resolves.toHaveLength(2);
      await expect(rank()).resolves.toMatchObject({ modelVersion: 'v1' });
    } finally {
      release();
      client.close();
      hc.close();
      await host.shutdown('test end');
    }
  });

  it('answers bytes that are not a valid request INVALID_ARGUMENT (grpc-js alone says INTERNAL)', async () => {
    const host = makeHost(async () => {});
    const port = await host.start();
    host.markReady();
    const raw = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const send = (bytes: Buffer) =>
      new Promise<grpc.ServiceError | null>((resolve) =>
        raw.makeUnaryRequest(
          '/recsys.v1.RankerService/Rank',
          (b: Buffer) => b,
          (b: Buffer) => b,
          bytes,
          new grpc.Metadata(),
          { deadline: Date.now() + 5000 },
          (err) => resolve(err),
        ),
      );
    try {
      // Field 1 (user_id) as a length-delimited string claiming 100 bytes, with 2 present.
      const err = await send(Buffer.from([0x0a, 100, 0x41, 0x42]));
      expect(err).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
      expect(err?.details).toMatch(/^request: not a valid protobuf message/);
      // A well-formed empty message decodes and reaches the handler.
      expect(await send(Buffer.alloc(0))).toBeNull();
    } finally {
      raw.close();
      await host.shutdown('test end');
    }
  });

  it('maps every domain error code to its gRPC status, keeping the message; anything else is INTERNAL without it', () => {
    const cases: [Error, grpc.status][] = [
      [new InvalidArgumentError('k', 'must be between 0 and 100, got 101'), grpc.status.INVALID_ARGUMENT],
      [new DomainError('NOT_FOUND', 'no such view'), grpc.status.NOT_FOUND],
      [new DomainError('FAILED_PRECONDITION', 'not an evaluation artifact'), grpc.status.FAILED_PRECONDITION],
      [new DomainError('RESOURCE_EXHAUSTED', 'at the limit'), grpc.status.RESOURCE_EXHAUSTED],
      [new UnavailableError('redis down'), grpc.status.UNAVAILABLE],
      [new DomainError('DEADLINE_EXCEEDED', 'no time left'), grpc.status.DEADLINE_EXCEEDED],
      [new DomainError('CANCELLED', 'call cancelled by the client'), grpc.status.CANCELLED],
    ];
    for (const [err, code] of cases) expect(toServiceError(err)).toEqual({ code, details: err.message, internal: false });
    expect(toServiceError(new Error('secret path /etc/x'))).toEqual({ code: grpc.status.INTERNAL, details: 'internal error', internal: true });
    // A look-alike with a code field is not a domain error.
    expect(toServiceError(Object.assign(new Error('x'), { code: 'INVALID_ARGUMENT' }))).toMatchObject({ code: grpc.status.INTERNAL });
  });

  it('maps an aborted signal thrown by a handler to CANCELLED, not INTERNAL', () => {
    const c = new AbortController();
    c.abort();
    let thrown: unknown;
    try {
      c.signal.throwIfAborted();
    } catch (e) {
      thrown = e;
    }
    expect(toServiceError(thrown)).toEqual({ code: grpc.status.CANCELLED, details: 'call cancelled by the client', internal: false });
  });
});

describe('TLS settings', () => {
  const none = { TLS_CERT_FILE: '', TLS_KEY_FILE: '', TLS_CA_FILE: '', TLS_CLIENT_AUTH: false };
  it('is plaintext without files and names the missing or unreadable variable otherwise', () => {
    expect(serverCredentials(none)._isSecure()).toBe(false);
    expect(() => serverCredentials({ ...none, TLS_CERT_FILE: '/x.pem' })).toThrow(/^configuration: TLS_KEY_FILE must be set when TLS_CERT_FILE is/);
    expect(() => serverCredentials({ ...none, TLS_CLIENT_AUTH: true })).toThrow(/^configuration: TLS_CLIENT_AUTH needs TLS_CERT_FILE/);
    expect(() => serverCredentials({ ...none, TLS_CERT_FILE: '/nonexistent/c.pem', TLS_KEY_FILE: '/nonexistent/k.pem' })).toThrow(
      /^configuration: TLS_CERT_FILE cannot read "\/nonexistent\/c.pem"/,
    );
    expect(() => serverCredentials({ ...none, TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem', TLS_CLIENT_AUTH: true })).toThrow(/^configuration: TLS_CA_FILE must be set/);
    expect(channelCredentials(none)._isSecure()).toBe(false);
    expect(() => channelCredentials({ ...none, TLS_CA_FILE: '/nonexistent/ca.pem' })).toThrow(/^configuration: TLS_CA_FILE cannot read/);
  });
});

describe('cancellation', () => {
  it("aborts the handler's ctx.signal when the caller's deadline passes, so work can stop", async () => {
    let aborted: () => void = () => {};
    const sawAbort = new Promise<void>((r) => (aborted = r));
    const host = new ServiceHost({
      name: 'test',
      host: '127.0.0.1',
      port: 0,
      reflection: false,
      descriptors: DescriptorIndex.fromFile(DESCRIPTOR_SET_PATH),
      drainTimeoutMs: 2000,
      shutdownDelayMs: 0,
      log: createLogger('test', 'silent'),
      metrics: new ServiceMetrics('test'),
    });
    host.addService(RankerServiceService, 'recsys.v1.RankerService', {
      rank: (_req, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => {
            aborted();
            reject(ctx.signal.reason);
          }),
        ),
    });
    const port = await host.start();
    host.markReady();
    const client = createClient(RankerServiceClient, `127.0.0.1:${port}`);
    try {
      const call = callUnary(client.rank.bind(client), { userId: 'u', candidates: undefined, userFeatures: undefined, itemFeatures: undefined, topK: 0, variant: '' }, { deadline: Date.now() + 200 });
      await expect(call).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
      await sawAbort; // never resolves (test times out) if the handler is not told
    } finally {
      client.close();
      await host.shutdown('test end');
    }
  });
});
