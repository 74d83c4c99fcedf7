import * as grpc from '@grpc/grpc-js';
import * as dns from 'node:dns';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { UnaryChannel, parseTarget, type UnaryMethodDefinition } from '@recsys/grpc-kit';

// The lean client against real grpc-js servers on loopback ports: what the gateway's stage
// calls rely on (status, deadline, cancellation, balancing, retries, ejection, limits).

type Behaviour = (call: grpc.ServerUnaryCall<Buffer, Buffer>) => Promise<Buffer> | Buffer;

const identity = (b: Buffer): Buffer => b;
const ECHO: UnaryMethodDefinition<Buffer, Buffer> = { path: '/t.Test/Echo', requestSerialize: identity, responseDeserialize: identity };
const MISSING: UnaryMethodDefinition<Buffer, Buffer> = { path: '/t.Test/Missing', requestSerialize: identity, responseDeserialize: identity };

interface TestServer {
  port: number;
  calls: number;
  seen: grpc.ServerUnaryCall<Buffer, Buffer>[];
  cancelled: number;
  behaviour: Behaviour;
  server: grpc.Server;
  stop(): Promise<void>;
}

async function startServer(behaviour: Behaviour = (c) => c.request, port = 0, host = '127.0.0.1'): Promise<TestServer> {
  const server = new grpc.Server();
  const s: TestServer = {
    port: 0,
    calls: 0,
    seen: [],
    cancelled: 0,
    behaviour,
    server,
    stop: () => new Promise((r) => server.tryShutdown(() => r())),
  };
  server.addService(
    { echo: { path: ECHO.path, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
    {
      echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        s.calls++;
        s.seen.push(call);
        call.on('cancelled', () => s.cancelled++);
        Promise.resolve()
          .then(() => s.behaviour(call))
          .then(
            (res) => cb(null, res),
            (err: Partial<grpc.ServiceError>) => cb({ code: err.code ?? grpc.status.UNKNOWN, details: err.details ?? String(err), metadata: err.metadata }),
          );
      },
    },
  );
  s.port = await new Promise<number>((res, rej) => server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return s;
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A replica that answers every call with `code`. */
const failing = (code: grpc.status, details: string): Promise<TestServer> =>
  server(() => {
    throw { code, details };
  });

const soon = (ms = 5000): { deadline: number } => ({ deadline: Date.now() + ms });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const servers: TestServer[] = [];
const channels: UnaryChannel[] = [];
async function server(b?: Behaviour, port?: number, host?: string): Promise<TestServer> {
  const s = await startServer(b, port, host);
  servers.push(s);
  return s;
}
function channel(address: string, opts?: ConstructorParameters<typeof UnaryChannel>[1]): UnaryChannel {
  const c = new UnaryChannel(address, opts);
  channels.push(c);
  return c;
}

afterEach(async () => {
  jest.restoreAllMocks();
  for (const c of channels.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.server.forceShutdown()));
});

describe('parseTarget', () => {
  it('reads every address form createClient takes', () => {
    expect(parseTarget('127.0.0.1:50051')).toEqual({ fixed: [{ host: '127.0.0.1', port: 50051, servername: '127.0.0.1' }], names: [] });
    expect(parseTarget('ranker:50053')).toEqual({ fixed: [], names: [{ name: 'ranker', port: 50053 }] });
    expect(parseTarget('dns:///ranker.ns.svc:50053').names).toEqual([{ name: 'ranker.ns.svc', port: 50053 }]);
    expect(parseTarget('dns:ranker:50053').names).toEqual([{ name: 'ranker', port: 50053 }]);
    expect(parseTarget('ipv4:127.0.0.1:1,127.0.0.2:2').fixed.map((a) => a.port)).toEqual([1, 2]);
    expect(parseTarget(' 127.0.0.1:1, [::1]:2 ').fixed.map((a) => a.host)).toEqual(['127.0.0.1', '::1']);
  });

  it('refuses an address without a port, naming it', () => {
    expect(() => parseTarget('ranker')).toThrow('address "ranker" in "ranker" is not host:port');
    expect(() => parseTarget('127.0.0.1:1,oops')).toThrow('"oops"');
    expect(() => parseTarget('h:70000')).toThrow('not host:port');
    expect(() => parseTarget(' , ')).toThrow('names no host:port');
  });
});

describe('UnaryChannel', () => {
  it('calls a grpc-js server: the response, the deadline as grpc-timeout, metadata sent', async () => {
    const s = await server();
    const c = channel(`127.0.0.1:${s.port}`);
    const md = new grpc.Metadata();
    md.set('x-test', 'yes');
    const res = await c.call(ECHO, Buffer.from('hello'), { deadline: Date.now() + 3000, metadata: md });
    expect(res.toString()).toBe('hello');
    const seen = s.seen[0] as grpc.ServerUnaryCall<Buffer, Buffer>;
    expect(seen.metadata.get('x-test')).toEqual(['yes']);
    const deadline = seen.getDeadline();
    const ms = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
    expect(ms).toBeGreaterThan(1000);
    expect(ms).toBeLessThanOrEqual(3000);
    // an empty message and a large one (several DATA frames)
    expect((await c.call(ECHO, Buffer.alloc(0), soon())).length).toBe(0);
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    expect((await c.call(ECHO, big, soon())).equals(big)).toBe(true);
  });

  it("a server's error status: code, decoded details and trailing metadata, as a grpc-js ServiceError", async () => {
    const s = await server(() => {
      const metadata = new grpc.Metadata();
      metadata.set('x-why', 'because');
      throw { code: grpc.status.INVALID_ARGUMENT, details: 'user_id: must not be empty — ünïcode', metadata };
    });
    const c = channel(`127.0.0.1:${s.port}`);
    const err = (await c.call(ECHO, Buffer.from('x'), soon()).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe('user_id: must not be empty — ünïcode');
    expect(err.message).toBe('3 INVALID_ARGUMENT: user_id: must not be empty — ünïcode');
    expect(err.metadata.get('x-why')).toEqual(['because']);
    expect(s.calls).toBe(1); // INVALID_ARGUMENT is never retried
  });

  it('an unknown method is UNIMPLEMENTED (a trailers-only response)', async () => {
    const s = await server();
    const c = channel(`127.0.0.1:${s.port}`);
    await expect(c.call(MISSING, Buffer.from('x'), soon())).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
  });

  it('a deadline that passes fails DEADLINE_EXCEEDED on time and cancels the call on the server', async () => {
    const s = await server(async (call) => {
      await sleep(1500);
      return call.request;
    });
    const c = channel(`127.0.0.1:${s.port}`);
    const t0 = Date.now();
    const err = (await c.call(ECHO, Buffer.from('x'), { deadline: Date.now() + 200 }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(err.details).toMatch(new RegExp(`^Deadline exceeded after 0\\.[12]\\d\\ds \\(/t\\.Test/Echo on 127\\.0\\.0\\.1:${s.port}\\)$`));
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(1200);
    for (let i = 0; i < 50 && s.cancelled === 0; i++) await sleep(20);
    expect(s.cancelled).toBe(1);
    // A deadline already past never reaches the network.
    await expect(c.call(ECHO, Buffer.from('x'), { deadline: Date.now() - 1 })).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED, details: 'no time left in the deadline budget' });
    expect(s.calls).toBe(1);
  });

  it('an aborted signal cancels the call: CANCELLED here, the server sees the cancellation', async () => {
    const s = await server(async (call) => {
      await sleep(2000);
      return call.request;
    });
    const c = channel(`127.0.0.1:${s.port}`);
    const abort = new AbortController();
    const p = c.call(ECHO, Buffer.from('x'), { deadline: Date.now() + 5000, signal: abort.signal });
    for (let i = 0; i < 100 && s.calls === 0; i++) await sleep(10);
    abort.abort();
    await expect(p).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    for (let i = 0; i < 50 && s.cancelled === 0; i++) await sleep(20);
    expect(s.cancelled).toBe(1);
  });

  it('nothing listening: UNAVAILABLE at once, not at the deadline', async () => {
    const c = channel(`127.0.0.1:${await deadPort()}`);
    const t0 = Date.now();
    await expect(c.call(ECHO, Buffer.from('x'), soon(10_000))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(Date.now() - t0).toBeLessThan(2000);
    // and in back-off, still at once
    const t1 = Date.now();
    await expect(c.call(ECHO, Buffer.from('x'), soon(10_000))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(Date.now() - t1).toBeLessThan(1000);
  });

  it('spreads calls round-robin over every address; a dead one in the list costs no failed call', async () => {
    const a = await server();
    const b = await server();
    const dead = await deadPort();
    const c = channel(`127.0.0.1:${a.port},127.0.0.1:${dead},127.0.0.1:${b.port}`);
    expect(c.addresses).toHaveLength(3);
    for (let i = 0; i < 60; i++) await c.call(ECHO, Buffer.from(String(i)), soon());
    expect(a.calls + b.calls).toBe(60);
    expect(a.calls).toBeGreaterThanOrEqual(20);
    expect(b.calls).toBeGreaterThanOrEqual(20);
  });

  it('a replica that answers UNAVAILABLE is retried on another one, within the call', async () => {
    const bad = await failing(grpc.status.UNAVAILABLE, 'draining');
    const good = await server();
    const c = channel(`127.0.0.1:${bad.port},127.0.0.1:${good.port}`);
    for (let i = 0; i < 20; i++) expect((await c.call(ECHO, Buffer.from('ok'), soon())).toString()).toBe('ok');
    expect(good.calls).toBe(20);
    expect(bad.calls).toBeGreaterThan(0);
  });

  it('retry throttling counts only UNAVAILABLE: after many INTERNAL failures an UNAVAILABLE is still retried', async () => {
    // One replica (never ejected: at most half are), failing INTERNAL 120 times. Counted as
    // retryable failures they would empty the token bucket (100 tokens, retries stop at 50).
    let mode: 'internal' | 'unavailable-once' | 'ok' = 'internal';
    const s = await server((call) => {
      if (mode === 'internal') throw { code: grpc.status.INTERNAL, details: 'broken' };
      if (mode === 'unavailable-once') {
        mode = 'ok';
        throw { code: grpc.status.UNAVAILABLE, details: 'draining' };
      }
      return call.request;
    });
    const c = channel(`127.0.0.1:${s.port}`);
    for (let i = 0; i < 120; i++) await expect(c.call(ECHO, Buffer.from('x'), soon())).rejects.toMatchObject({ code: grpc.status.INTERNAL });
    mode = 'unavailable-once';
    const before = s.calls;
    expect((await c.call(ECHO, Buffer.from('retried'), soon())).toString()).toBe('retried');
    expect(s.calls - before).toBe(2);
  });

  it('resolves its names again when a connection ends: a replica that replaced the old one gets the calls', async () => {
    // "replica.test" resolves to 127.0.0.1 until that replica is gone, then to 127.0.0.2
    // (the same port on another loopback address); only a new lookup can find it.
    const first = await server();
    const second = await server(undefined, first.port, '127.0.0.2');
    let current = '127.0.0.1';
    const lookup = jest.spyOn(dns.promises, 'lookup').mockImplementation((async () => [{ address: current, family: 4 }]) as unknown as typeof dns.promises.lookup);
    const c = channel(`replica.test:${first.port}`);
    expect((await c.call(ECHO, Buffer.from('a'), soon())).toString()).toBe('a');
    expect(first.calls).toBe(1);
    const lookupsBefore = lookup.mock.calls.length;
    current = '127.0.0.2';
    first.server.forceShutdown();
    servers.splice(servers.indexOf(first), 1);
    // No call in between: the ended connection alone makes the channel look the name up again.
    const t0 = Date.now();
    while (!c.addresses.includes(`127.0.0.2:${first.port}`) && Date.now() - t0 < 3000) await sleep(20);
    expect(lookup.mock.calls.length).toBeGreaterThan(lookupsBefore);
    expect(c.addresses).toEqual([`127.0.0.2:${first.port}`]);
    expect((await c.call(ECHO, Buffer.from('b'), soon())).toString()).toBe('b');
    expect(second.calls).toBe(1);
  });

  it('a replica that mostly fails is ejected after an interval of calls', async () => {
    const bad = await failing(grpc.status.INTERNAL, 'broken replica');
    const good = await server();
    const c = channel(`127.0.0.1:${bad.port},127.0.0.1:${good.port}`);
    let failed = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 1300) {
      await c.call(ECHO, Buffer.from('x'), soon()).catch(() => failed++);
      await sleep(5);
    }
    expect(failed).toBeGreaterThanOrEqual(10); // INTERNAL is not retried: half the calls failed
    const before = bad.calls;
    for (let i = 0; i < 40; i++) await c.call(ECHO, Buffer.from('x'), soon());
    expect(bad.calls).toBe(before); // ejected: every call went to the good replica
  });

  it('a server restarted on the same port is used again; the calls between fail UNAVAILABLE', async () => {
    const s = await server();
    const port = s.port;
    const c = channel(`127.0.0.1:${port}`);
    await c.call(ECHO, Buffer.from('1'), soon());
    s.server.forceShutdown();
    servers.splice(servers.indexOf(s), 1);
    await expect(c.call(ECHO, Buffer.from('2'), soon())).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    const again = await server(undefined, port);
    const t0 = Date.now();
    let ok = false;
    while (!ok && Date.now() - t0 < 3000) {
      ok = await c.call(ECHO, Buffer.from('3'), soon()).then(
        () => true,
        () => false,
      );
      if (!ok) await sleep(50);
    }
    expect(ok).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1500); // back-off is capped at 500 ms (+ jitter)
    expect(again.calls).toBeGreaterThanOrEqual(1);
  });

  it('a name resolves to its addresses (localhost)', async () => {
    const s = await server();
    const c = channel(`dns:///localhost:${s.port}`);
    expect((await c.call(ECHO, Buffer.from('dns'), soon())).toString()).toBe('dns');
    expect(c.addresses).toContain(`127.0.0.1:${s.port}`);
  });

  it('enforces the receive and send limits: RESOURCE_EXHAUSTED naming both sizes', async () => {
    const s = await server(() => Buffer.alloc(2048));
    const c = channel(`127.0.0.1:${s.port}`, { maxReceiveBytes: 1024, maxSendBytes: 4096 });
    await expect(c.call(ECHO, Buffer.from('x'), soon())).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'Received message larger than max (2048 vs. 1024)' });
    await expect(c.call(ECHO, Buffer.alloc(5000), soon())).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'Sent message larger than max (5000 vs. 4096)' });
    expect(s.calls).toBe(1);
  });

  it('a response that does not decode is INTERNAL naming the parse error', async () => {
    const s = await server();
    const c = channel(`127.0.0.1:${s.port}`);
    const strict: UnaryMethodDefinition<Buffer, never> = {
      ...ECHO,
      responseDeserialize: () => {
        throw new Error('index out of range');
      },
    };
    await expect(c.call(strict, Buffer.from('x'), soon())).rejects.toMatchObject({ code: grpc.status.INTERNAL, details: 'Response message parsing error: index out of range' });
  });

  it('a finished call leaves nothing of itself on its stream: one no-op error listener, which a late error meets', async () => {
    const s = await server();
    const streams: http2.ClientHttp2Stream[] = [];
    // The module object itself (the compiled `import * as` view of it is read-only); the channel reads it at each connect.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const http2Module = require('node:http2') as typeof http2;
    const connect = http2Module.connect;
    const spy = jest.spyOn(http2Module, 'connect').mockImplementation(((...args: Parameters<typeof http2.connect>) => {
      const session = connect(...args);
      const request = session.request.bind(session);
      session.request = (...a: Parameters<typeof session.request>) => {
        const stream = request(...a);
        streams.push(stream);
        return stream;
      };
      return session;
    }) as typeof http2.connect);
    try {
      const c = channel(`127.0.0.1:${s.port}`);
      expect((await c.call(ECHO, Buffer.from('ok'), soon())).toString()).toBe('ok');
      await expect(c.call(MISSING, Buffer.from('x'), soon())).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
      s.behaviour = () => new Promise(() => {});
      await expect(c.call(ECHO, Buffer.from('x'), { deadline: Date.now() + 100 })).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
      expect(streams).toHaveLength(3);
      for (const stream of streams) {
        // Node keeps a finished stream a while; what it references then survives V8's scavenges.
        for (const event of ['response', 'data', 'trailers', 'close']) expect(stream.listenerCount(event)).toBe(0);
        expect(stream.listenerCount('error')).toBe(1);
        expect(() => stream.emit('error', new Error('late'))).not.toThrow();
      }
    } finally {
      spy.mockRestore();
    }
  });

  it('after close, calls fail UNAVAILABLE', async () => {
    const s = await server();
    const c = channel(`127.0.0.1:${s.port}`);
    await c.call(ECHO, Buffer.from('x'), soon());
    c.close();
    await expect(c.call(ECHO, Buffer.from('x'), soon())).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });
});
