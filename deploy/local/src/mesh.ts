import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_HTTP_PORT, DEFAULT_PORTS, SERVICE_NAMES, ServiceName, ServiceProcess, ServiceStartError, freePort, startServiceProcess } from './processes';

export interface MeshOptions {
  artifactsDir: string;
  /** Ports per service (default: the standard ones); `'free'` picks free ports. */
  ports?: 'standard' | 'free' | Record<ServiceName, { grpc: number; metrics: number }>;
  host?: string;
  /** Enables the Redis feature store backend. */
  redisUrl?: string;
  /** Extra environment for every service, or per service. */
  env?: Record<string, string>;
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  onLine?: (service: ServiceName, line: string) => void;
  /**
   * TLS between every service, from a folder made by `scripts/dev-certs.sh` (`ca.pem`,
   * `mesh.pem`, `mesh-key.pem`); `mutual` also requires client certificates (mTLS).
   */
  tls?: { dir: string; mutual?: boolean };
  /** How long each service may take to become SERVING (default 60 s; a 1M-item artifact verifies and loads for longer). */
  readyTimeoutMs?: number;
}

/** Environment that turns TLS (and with `mutual`, mTLS) on for a service, from a dev-certs folder. */
export function tlsEnv(tls: { dir: string; mutual?: boolean }): Record<string, string> {
  return {
    TLS_CERT_FILE: path.join(tls.dir, 'mesh.pem'),
    TLS_KEY_FILE: path.join(tls.dir, 'mesh-key.pem'),
    TLS_CA_FILE: path.join(tls.dir, 'ca.pem'),
    TLS_CLIENT_AUTH: tls.mutual ? 'true' : 'false',
  };
}

/**
 * Client credentials for a mesh started with `tls`: verifies against the dev CA and
 * presents the `client.pem` certificate (accepted by mTLS servers).
 */
export function tlsClientCredentials(dir: string, withClientCert = true): grpc.ChannelCredentials {
  const ca = fs.readFileSync(path.join(dir, 'ca.pem'));
  if (!withClientCert) return grpc.credentials.createSsl(ca);
  return grpc.credentials.createSsl(ca, fs.readFileSync(path.join(dir, 'client-key.pem')), fs.readFileSync(path.join(dir, 'client.pem')));
}

/** The four services running as separate processes. */
export interface Mesh {
  /** The current process of each service ({@link restart} replaces an entry). */
  services: Record<ServiceName, ServiceProcess>;
  gatewayAddress: string;
  /** `host:port` of the gateway's HTTP/JSON API (services/gateway/src/http); undefined when HTTP_ENABLED is false. */
  gatewayHttpAddress: string | undefined;
  /**
   * Starts `name` again on its ports with its environment, once its process has exited
   * (SIGTERM first if it still runs), and waits until it is SERVING. {@link stop} aborts it.
   */
  restart(name: ServiceName): Promise<ServiceProcess>;
  /** SIGTERM to every service (gateway first), waits for all exits; aborts restarts in progress. */
  stop(): Promise<void>;
}

/**
 * Starts candidate generator, feature store and ranker, then the gateway pointed at
 * them; each one is waited for until SERVING. If one fails, those started are stopped.
 */
export async function startMesh(opts: MeshOptions): Promise<Mesh> {
  const host = opts.host ?? '127.0.0.1';
  const ports = {} as Record<ServiceName, { grpc: number; metrics: number }>;
  for (const name of SERVICE_NAMES) {
    if (opts.ports === 'free') ports[name] = { grpc: await freePort(), metrics: await freePort() };
    else if (typeof opts.ports === 'object') ports[name] = opts.ports[name];
    else ports[name] = DEFAULT_PORTS[name];
  }
  // The gateway's HTTP port: as set (HTTP_PORT), else free with free ports, else its default.
  const gatewayEnv = { ...process.env, ...opts.env, ...opts.serviceEnv?.gateway };
  const httpEnabled = !/^(false|0|no|off)$/i.test((gatewayEnv.HTTP_ENABLED ?? '').trim());
  // HTTP_PORT=0 is resolved here to a free port, so the mesh (and the npm start banner) know it.
  const givenHttp = gatewayEnv.HTTP_PORT?.trim();
  const fixedHttp = givenHttp && givenHttp !== '0' ? givenHttp : undefined;
  const freeHttp = fixedHttp === undefined && (givenHttp === '0' || opts.ports === 'free');
  let httpPort = fixedHttp ?? (freeHttp ? String(await freePort()) : String(DEFAULT_HTTP_PORT));
  const services = {} as Record<ServiceName, ServiceProcess>;
  // Read when the gateway starts: a downstream restarted on new free ports is included.
  const downstream = (): Record<string, string> => ({
    HTTP_PORT: httpPort,
    CANDIDATE_GENERATOR_ADDR: `${host}:${ports['candidate-generator'].grpc}`,
    FEATURE_STORE_ADDR: `${host}:${ports['feature-store'].grpc}`,
    RANKER_ADDR: `${host}:${ports.ranker.grpc}`,
  });
  // Aborted by stop(): no start in progress outlives the mesh.
  const stopping = new AbortController();
  // One entry per process started: settles when it has exited (or its start failed, which kills it).
  const lives = new Set<Promise<unknown>>();
  const startOnce = async (name: ServiceName): Promise<ServiceProcess> => {
    const starting = startServiceProcess(name, {
      host,
      port: ports[name].grpc,
      metricsPort: ports[name].metrics,
      env: {
        ARTIFACTS_DIR: opts.artifactsDir,
        ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
        ...(name === 'gateway' ? downstream() : {}),
        ...(opts.tls ? tlsEnv(opts.tls) : {}),
        ...opts.env,
        ...opts.serviceEnv?.[name],
      },
      onLine: opts.onLine,
      credentials: opts.tls ? tlsClientCredentials(opts.tls.dir) : undefined,
      ...(opts.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: opts.readyTimeoutMs }),
      signal: stopping.signal,
    });
    const life = starting.then((p) => p.exited, () => undefined);
    lives.add(life);
    void life.then(() => lives.delete(life));
    const p = await starting;
    if (stopping.signal.aborted) {
      // SERVING just as the mesh began to stop.
      await p.stop();
      throw new ServiceStartError(`${name}: start aborted, the mesh is stopping`, name, p.output.slice(-20));
    }
    services[name] = p;
    return p;
  };
  /**
   * {@link startOnce}; with free ports, a service that found one of its ports taken
   * (EADDRINUSE: another process took the free port between the pick and the bind) starts
   * again on new free ports, up to 3 times. Restarts keep their ports (clients point there).
   */
  const start = async (name: ServiceName, newPortsOnCollision = false): Promise<ServiceProcess> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOnce(name);
      } catch (err) {
        const collided = err instanceof ServiceStartError && err.output.some((l) => l.includes('EADDRINUSE'));
        if (!(newPortsOnCollision && opts.ports === 'free' && collided) || attempt >= 3 || stopping.signal.aborted) throw err;
        ports[name] = { grpc: await freePort(), metrics: await freePort() };
        if (name === 'gateway' && freeHttp) httpPort = String(await freePort());
        opts.onLine?.(name, `a port was taken by another process (EADDRINUSE): starting again on new free ports (attempt ${attempt + 1} of 3)`);
      }
    }
  };
  const stopAll = async (): Promise<void> => {
    stopping.abort();
    await services.gateway?.stop();
    await Promise.all(SERVICE_NAMES.filter((n) => n !== 'gateway').map((n) => services[n]?.stop()));
    // A start in progress (a restart) is killed by the abort, or stopped by the check above.
    await Promise.all(lives);
  };
  try {
    await Promise.all(SERVICE_NAMES.filter((n) => n !== 'gateway').map((n) => start(n, true)));
    await start('gateway', true);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    services,
    gatewayAddress: services.gateway.address,
    gatewayHttpAddress: httpEnabled ? `${host}:${httpPort}` : undefined,
    restart: async (name) => {
      await services[name].stop();
      return start(name);
    },
    stop: stopAll,
  };
}
