import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { PARENT_FD_VAR, READY_LINE_PREFIX } from '@recsys/grpc-kit';
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

/** Default port of the gateway's HTTP/JSON API (HTTP_PORT). */
export const DEFAULT_HTTP_PORT = 8080;

/** Repository root (this file lives in deploy/local/{src,dist}). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/**
 * V8 flags every service process runs with (the Dockerfile's ENTRYPOINT carries the same;
 * test/integration/dockerfile.test.ts keeps the two equal). V8 starts incremental marking
 * whenever the old generation's headroom (its limit minus its size) is no larger than the
 * young generation's capacity. A service's live heap is small (the gateway's about 18 MB),
 * and the limit V8 sets after a full GC of such a heap leaves less headroom than the default
 * 16 MB semi-spaces need, so marking restarted at the next task after every full GC: four
 * full GCs a second on a near-idle gateway, V8's helper threads using 1.6 ms of CPU per
 * request at c = 1. An initial old space of 64 MB keeps the limit above that until the heap
 * really grows (`--trace-gc`: 35 full GCs in 8 s at c = 1 before, 3 after). Node refuses
 * this flag in NODE_OPTIONS, hence the command line.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

/** Entry point of a built service. */
export function serviceEntry(name: ServiceName): string {
  return path.join(REPO_ROOT, 'services', name, 'dist', 'main.js');
}

/** Lowest port {@link freePort} picks from when the ephemeral range leaves room below it. */
const PICK_FLOOR = 10_000;

/**
 * The kernel's ephemeral port range (Linux: /proc/sys/net/ipv4/ip_local_port_range), where
 * the local side of every outgoing connection gets its port; undefined where unreadable.
 */
export function ephemeralRange(): [number, number] | undefined {
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return lo !== undefined && hi !== undefined && lo > 0 && hi >= lo ? [lo, hi] : undefined;
  } catch {
    return undefined;
  }
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const { port: bound } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(bound));
    });
  });
}

/**
 * A free TCP port on 127.0.0.1 (bound, then released). Picked at random below the kernel's
 * ephemeral range when there is room (on Linux usually 10000–32767): between the pick and
 * the service's bind, the local side of any outgoing connection on the machine (a port
 * from the ephemeral range) could otherwise take it, and the service would fail with
 * EADDRINUSE. Elsewhere, port 0 lets the kernel choose.
 */
export async function freePort(): Promise<number> {
  const range = ephemeralRange();
  if (range && range[0] - PICK_FLOOR >= 1000) {
    for (let i = 0; i < 50; i++) {
      const port = await tryListen(PICK_FLOOR + Math.floor(Math.random() * (range[0] - PICK_FLOOR)));
      if (port !== undefined) return port;
    }
  }
  const port = await tryListen(0);
  if (port === undefined) throw new Error('no free TCP port on 127.0.0.1');
  return port;
}

const liveChildren = new Set<ChildProcess>();
// Never leave a detached service behind when the launching process goes away.
process.once('exit', () => {
  for (const c of liveChildren) c.kill('SIGKILL');
});

/** How a process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** `code 1`, `signal SIGKILL`. */
export function describeExit(exit: ProcessExit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/** Lines of output a {@link ServiceProcess} keeps (the oldest are dropped). */
export const KEPT_OUTPUT_LINES = 2000;

/** A service process started by {@link startServiceProcess}. */
export interface ServiceProcess {
  name: ServiceName;
  address: string;
  port: number;
  metricsPort: number;
  child: ChildProcess;
  /** The last {@link KEPT_OUTPUT_LINES} lines the process wrote (stdout and stderr). */
  output: string[];
  /** Resolves when the process exits. */
  exited: Promise<ProcessExit>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<ProcessExit>;
}

/** A service that did not reach SERVING: exited first, timed out, or the start was aborted. */
export class ServiceStartError extends Error {
  constructor(
    message: string,
    readonly service: ServiceName,
    /** Its last output lines. */
    readonly output: readonly string[],
    /** How it exited, when it exited by itself. */
    readonly exit?: ProcessExit,
  ) {
    super(message);
    this.name = 'ServiceStartError';
  }
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
  /** Aborting kills the process if it is not SERVING yet (the start rejects). */
  signal?: AbortSignal;
}

/** Descriptor of the pipe each service inherits from its launcher (see `RECSYS_PARENT_FD`). */
const PARENT_FD = 3;

/** Calls `onLine` with every complete line of `stream`; a last unterminated line on close. */
function forEachLine(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  let partial = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line) onLine(line);
  });
  stream?.on('end', () => {
    if (partial) onLine(partial);
    partial = '';
  });
}

/**
 * Spawns one service as a separate Node process and waits until its health is SERVING.
 * The process gets its own process group (a terminal's Ctrl-C reaches only the launcher)
 * and one end of a pipe on descriptor 3 (`RECSYS_PARENT_FD=3`): it drains and exits when
 * this process is gone, even after a SIGKILL. Rejects with a {@link ServiceStartError}.
 */
export async function startServiceProcess(name: ServiceName, opts: StartOptions): Promise<ServiceProcess> {
  const host = opts.host ?? '127.0.0.1';
  if (opts.signal?.aborted) throw new ServiceStartError(`${name}: start aborted`, name, []);
  // The gateway's HTTP port when the caller names none (startMesh always does): a free one,
  // never the default 8080 that another gateway on this machine may hold.
  const httpPort = name === 'gateway' && opts.env.HTTP_PORT === undefined ? { HTTP_PORT: String(await freePort()) } : {};
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, serviceEntry(name)], {
    env: {
      ...process.env,
      GRPC_HOST: host,
      GRPC_PORT: String(opts.port),
      METRICS_PORT: String(opts.metricsPort),
      ...httpPort,
      ...opts.env,
      [PARENT_FD_VAR]: String(PARENT_FD),
    },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    // Own process group: a terminal's Ctrl-C reaches only the launcher, which then sends
    // exactly one SIGTERM to each service (a second signal would force an exit).
    detached: true,
  });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  // This end stays open for the child's life; read so it closes with it. The child writes
  // one line on it once SERVING (`ready <port>`): only then is the port polled below known
  // to be held by this child, not by another process that took the same free port first
  // (which answered health SERVING while this child failed with EADDRINUSE).
  const parentEnd = child.stdio[PARENT_FD] as NodeJS.ReadableStream | null;
  parentEnd?.on('error', () => {});
  let announce = (): void => {};
  const announced = new Promise<void>((resolve) => (announce = resolve));
  let pipeText = '';
  parentEnd?.setEncoding('utf8');
  parentEnd?.on('data', (chunk: string) => {
    pipeText = (pipeText + chunk).slice(-256);
    if (pipeText.split('\n').some((l) => l.startsWith(READY_LINE_PREFIX))) announce();
  });
  const output: string[] = [];
  const onLine = (line: string): void => {
    output.push(line);
    if (output.length > KEPT_OUTPUT_LINES) output.splice(0, output.length - KEPT_OUTPUT_LINES);
    opts.onLine?.(name, line);
  };
  forEachLine(child.stdout, onLine);
  forEachLine(child.stderr, onLine);
  const exited = new Promise<ProcessExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
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
  // Stops the readiness polling when the process dies first (no timers left behind); the
  // error waits for 'close' (the pipes drained), so it carries the process's last lines.
  const stopPolling = new AbortController();
  void exited.then(() => stopPolling.abort());
  const early = new Promise<never>((_, reject) =>
    child.once('close', (code, signal) => {
      const exit = { code, signal };
      reject(new ServiceStartError(`${name} exited before it was SERVING (${describeExit(exit)}):\n${output.slice(-20).join('\n')}`, name, output.slice(-20), exit));
    }),
  );
  early.catch(() => {});
  let onAbort = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      stopPolling.abort();
      reject(new Error('start aborted'));
    };
  });
  aborted.catch(() => {});
  opts.signal?.addEventListener('abort', onAbort);
  try {
    const timeoutMs = opts.readyTimeoutMs ?? 60_000;
    const startedAt = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const notAnnounced = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`did not report SERVING on its launcher pipe within ${timeoutMs} ms`)), timeoutMs);
    });
    notAnnounced.catch(() => {});
    try {
      await Promise.race([announced, notAnnounced, early, aborted]);
    } finally {
      clearTimeout(timer);
    }
    await Promise.race([waitForServing(address, Math.max(1000, timeoutMs - (Date.now() - startedAt)), opts.credentials, stopPolling.signal), early, aborted]);
  } catch (err) {
    const exitedFirst = child.exitCode !== null || child.signalCode !== null;
    await proc.stop('SIGKILL');
    if (exitedFirst && !opts.signal?.aborted) throw await early.catch((e: unknown) => e);
    if (err instanceof ServiceStartError) throw err;
    const why = opts.signal?.aborted ? 'start aborted' : (err as Error).message;
    throw new ServiceStartError(`${name}: ${why}\n${output.slice(-20).join('\n')}`, name, output.slice(-20));
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
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
