import { ChildProcess, spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { health } from '@recsys/proto';

/** The four services, in start order (the gateway last: it calls the others). */
export const SERVICE_NAMES = ['candidate-generator', 'feature-store', 'ranker', 'gateway'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** Default gRPC and metrics ports of each service. */
export const DEFAULT_PORTS: Readonly<Record<ServiceName, { grpc: number; metrics: number }>> = {
  gateway: { grpc: 50051, metrics: 9091 },
  'candidate-generator': { grpc: 50052, metrics: 9092 },
  'feature-store': { grpc: 50053, metrics: 9093 },
  ranker: { grpc: 50054, metrics: 9094 },
};

/** Repository root (this file lives in deploy/local/{src,dist}). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** Entry point of a built service. */
export function serviceEntry(name: ServiceName): string {
  return path.join(REPO_ROOT, 'services', name, 'dist', 'main.js');
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const liveChildren = new Set<ChildProcess>();
// Never leave a detached service behind when the launching process goes away.
process.once('exit', () => {
  for (const c of liveChildren) c.kill('SIGKILL');
});

/** A service process started by {@link startServiceProcess}. */
export interface ServiceProcess {
  name: ServiceName;
  address: string;
  port: number;
  metricsPort: number;
  child: ChildProcess;
  /** Every line the process wrote (stdout and stderr). */
  output: string[];
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  host?: string;
  port: number;
  metricsPort: number;
  /** Extra environment (ARTIFACTS_DIR, REDIS_URL, downstream addresses, …). */
  env: Record<string, string>;
  /** Called with every output line. */
  onLine?: (service: ServiceName, line: string) => void;
  /** How long to wait for SERVING. */
  readyTimeoutMs?: number;
  /** Credentials of the readiness health checks (default plaintext; TLS for a TLS server). */
  credentials?: grpc.ChannelCredentials;
}

/** Spawns one service as a separate Node process and waits until its health is SERVING. */
export async function startServiceProcess(name: ServiceName, opts: StartOptions): Promise<ServiceProcess> {
  const host = opts.host ?? '127.0.0.1';
  const child = spawn(process.execPath, [serviceEntry(name)], {
    env: {
      ...process.env,
      GRPC_HOST: host,
      GRPC_PORT: String(opts.port),
      METRICS_PORT: String(opts.metricsPort),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: a terminal's Ctrl-C reaches only the launcher, which then sends
    // exactly one SIGTERM to each service (a second signal would force an exit).
    detached: true,
  });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  const output: string[] = [];
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      output.push(line);
      opts.onLine?.(name, line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const address = `${host}:${opts.port}`;
  const proc: ServiceProcess = {
    name,
    address,
    port: opts.port,
    metricsPort: opts.metricsPort,
    child,
    output,
    exited,
    stop: (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  // Stops the readiness polling when the process dies first (no timers left behind).
  const stopPolling = new AbortController();
  const early = exited.then(({ code, signal }) => {
    stopPolling.abort();
    throw new Error(`${name} exited before it was SERVING (code ${code}, signal ${signal}):\n${output.slice(-20).join('\n')}`);
  });
  try {
    await Promise.race([waitForServing(address, opts.readyTimeoutMs ?? 60_000, opts.credentials, stopPolling.signal), early]);
  } catch (err) {
    void proc.stop('SIGKILL');
    throw err;
  }
  early.catch(() => {});
  return proc;
}

/** Checks `grpc.health.v1.Health/Check` once; resolves with the status or rejects. */
export function checkHealth(
  address: string,
  service = '',
  timeoutMs = 1000,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<health.HealthCheckResponse_ServingStatus> {
  const client = new health.HealthClient(address, credentials);
  return new Promise((resolve, reject) => {
    client.check({ service }, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res.status);
    });
  });
}

/** Polls health until SERVING, the timeout passes, or `signal` aborts. */
export async function waitForServing(address: string, timeoutMs: number, credentials?: grpc.ChannelCredentials, signal?: AbortSignal): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < until) {
    if (signal?.aborted) throw new Error(`${address}: stopped waiting for SERVING`);
    try {
      const status = await checkHealth(address, '', 1000, credentials);
      if (status === health.HealthCheckResponse_ServingStatus.SERVING) return;
      last = health.HealthCheckResponse_ServingStatus[status] ?? String(status);
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${address} not SERVING after ${timeoutMs} ms (last: ${last})`);
}
