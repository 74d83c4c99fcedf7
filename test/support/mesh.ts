/**
 * `useMesh()`: the per-suite set-up of the integration tests. It registers jest hooks that
 * start the four services as separate processes on free ports before the suite's tests
 * (beforeAll) and stop them, and every client the handle made, after them (afterAll).
 */
import * as grpc from '@grpc/grpc-js';
import { callUnary, createClient, type ClientOptions } from '@recsys/grpc-kit';
import { SERVICE_NAMES, freePort, startMesh, tlsClientCredentials, type Mesh, type MeshOptions, type ServiceName, type ServiceProcess } from '@recsys/local';
import { GatewayServiceClient, type RecommendRequest, type RecommendResponse } from '@recsys/proto';
import { testArtifactsRoot } from './helpers';

/** A user of the synthetic test artifact with a history (the README's example user). */
const EXAMPLE_USER = '1';

/**
 * GatewayService/Recommend with an explicit client deadline (default 5 s); unset fields
 * default to user {@link EXAMPLE_USER}, k 10, no exclusions, no debug.
 */
export function recommendOn(client: GatewayServiceClient, req: Partial<RecommendRequest> = {}, timeoutMs = 5000): Promise<RecommendResponse> {
  return callUnary(client.recommend.bind(client), { userId: EXAMPLE_USER, k: 10, excludeItemIds: [], debug: false, ...req }, { deadline: Date.now() + timeoutMs });
}

/** Free gRPC and metrics ports for every service, for a suite that must know them before the start (a proxy in front of one). */
export async function freeMeshPorts(): Promise<Record<ServiceName, { grpc: number; metrics: number }>> {
  const ports = {} as Record<ServiceName, { grpc: number; metrics: number }>;
  for (const n of SERVICE_NAMES) ports[n] = { grpc: await freePort(), metrics: await freePort() };
  return ports;
}

/** What a suite may set; everything else of {@link MeshOptions} has a test default. */
export type UseMeshOptions = Partial<MeshOptions>;

/** The running mesh of a suite. Valid inside tests and in hooks declared after `useMesh()`. */
export interface MeshHandle {
  /** The mesh itself (its services, stop, …). */
  readonly mesh: Mesh;
  readonly services: Record<ServiceName, ServiceProcess>;
  /** `host:port` of the gateway. */
  readonly gatewayAddress: string;
  /** `host:port` of one service. */
  address(name: ServiceName): string;
  /** Metrics port of one service. */
  metricsPort(name: ServiceName): number;
  /** The options the mesh was started with (defaults filled in). */
  readonly options: MeshOptions;
  /** Credentials that reach the mesh: TLS with the dev client certificate when started with `tls`. */
  readonly credentials: grpc.ChannelCredentials;
  /** A gateway client, made on first use and closed after the suite. */
  readonly gateway: GatewayServiceClient;
  /** GatewayService/Recommend through {@link gateway}, see {@link recommendOn}. */
  recommend(req?: Partial<RecommendRequest>, timeoutMs?: number): Promise<RecommendResponse>;
  /** A client of `ctor` to one service (or any address), closed after the suite. */
  client<C extends grpc.Client>(ctor: new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C, to: ServiceName | string, options?: ClientOptions): C;
}

/**
 * Starts a mesh for the enclosing suite: artifacts of the run (global-setup.ts), free
 * ports, LOG_LEVEL=error unless `options` say otherwise. `options` may be a function,
 * called in the hook, when it depends on what an earlier hook made (a redis-server, a
 * proxy's port). `timeoutMs` bounds the start (jest's hook timeout).
 */
export function useMesh(options: UseMeshOptions | (() => UseMeshOptions | Promise<UseMeshOptions>) = {}, timeoutMs = 180_000): MeshHandle {
  let mesh: Mesh | undefined;
  let started: MeshOptions | undefined;
  let gateway: GatewayServiceClient | undefined;
  const clients: grpc.Client[] = [];
  const running = (): Mesh => {
    if (!mesh) throw new Error('useMesh: the mesh is not running (use the handle inside tests, or in hooks declared after useMesh())');
    return mesh;
  };
  const credentials = (): grpc.ChannelCredentials => (started?.tls ? tlsClientCredentials(started.tls.dir) : grpc.credentials.createInsecure());

  beforeAll(async () => {
    const given = typeof options === 'function' ? await options() : options;
    started = {
      ...given,
      artifactsDir: given.artifactsDir ?? testArtifactsRoot(),
      ports: given.ports ?? 'free',
      env: { LOG_LEVEL: 'error', ...given.env },
    };
    mesh = await startMesh(started);
  }, timeoutMs);

  afterAll(async () => {
    for (const c of clients) c.close();
    clients.length = 0;
    gateway = undefined;
    await mesh?.stop();
    mesh = undefined;
  }, timeoutMs);

  const handle: MeshHandle = {
    get mesh() {
      return running();
    },
    get services() {
      return running().services;
    },
    get gatewayAddress() {
      return running().gatewayAddress;
    },
    address: (name) => running().services[name].address,
    metricsPort: (name) => running().services[name].metricsPort,
    get options() {
      running();
      return started as MeshOptions;
    },
    get credentials() {
      running();
      return credentials();
    },
    get gateway() {
      gateway ??= handle.client(GatewayServiceClient, 'gateway');
      return gateway;
    },
    recommend: (req, timeoutMs) => recommendOn(handle.gateway, req, timeoutMs),
    client: (ctor, to, opts = {}) => {
      const m = running();
      const address = to in m.services ? m.services[to as ServiceName].address : to;
      const c = createClient(ctor, address, { credentials: credentials(), ...opts });
      clients.push(c);
      return c;
    },
  };
  return handle;
}
