/**
 * A lean unary-only gRPC client over Node's http2 module, for the gateway's four calls per
 * request. grpc-js's client costs about twice the CPU of the bare http2 call it makes (an
 * interceptor chain, a resolving / load-balancing / retrying call per request, Metadata
 * objects, a captured `new Error()` per call; measured in README "Where the time goes"),
 * and the gateway makes four of them for every Recommend. This client keeps what the mesh
 * relies on and nothing else:
 *
 * - addresses as {@link createClient} takes them: `host:port` (a name resolves to every
 *   address, like grpc-js's DNS resolver), a comma-separated list, `dns:[//authority/]host:port`,
 *   `ipv4:`/`ipv6:` lists; names are resolved again every 30 s, when a connection ends (a
 *   server's GOAWAY after MAX_CONNECTION_AGE_MS) and when nothing is reachable;
 * - one HTTP/2 connection per address, calls spread round-robin over the connected ones,
 *   reconnect back-off {@link RECONNECT_BACKOFF_INITIAL_MS} → {@link RECONNECT_BACKOFF_MAX_MS}
 *   with ±20 % jitter, keepalive pings (30 s, 10 s timeout), the 1 MiB receive window;
 * - outlier ejection as in the mesh's grpc-js service config: an address whose calls mostly
 *   fail or time out (≥ 50 % of ≥ 10 calls in a 1 s interval) is left out for 5 s, growing
 *   to 30 s when it happens again, while at least half of the addresses stay in rotation;
 * - a call that fails UNAVAILABLE (connection refused or reset, stream refused) is tried
 *   again on the next address: at most 3 attempts, 10–100 ms back-off, within the call's
 *   deadline, throttled (100 tokens, −1 per failure, +0.1 per success, retries above 50);
 * - the deadline as `grpc-timeout` and as a local timer (DEADLINE_EXCEEDED), cancellation
 *   by an AbortSignal (CANCELLED, RST_STREAM to the server), the receive and send size
 *   limits (RESOURCE_EXHAUSTED), TLS and mutual TLS, a CLIENT span with `traceparent` when
 *   tracing is on;
 * - failures are grpc-js-shaped `ServiceError`s (`code`, `details`, `metadata`), so callers
 *   and their tests see no difference.
 *
 * Not supported (not used by the mesh's stage calls): streaming, compression, call
 * credentials, response metadata on success.
 */
import * as dns from 'node:dns';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { SpanKind, context, propagation, trace, type Span, type TextMapSetter } from '@opentelemetry/api';
import { deadlinePassed, FLOW_CONTROL_WINDOW, RECONNECT_BACKOFF_INITIAL_MS, RECONNECT_BACKOFF_MAX_MS, type UnaryCallOptions } from './client';
import { endRpcSpan, rpcAttributes, tracer } from './tracing';

/** The parts of a generated grpc-js method definition (ts-proto `…Service.method`) a unary call needs. */
export interface UnaryMethodDefinition<Req, Res> {
  path: string;
  requestSerialize(value: Req): Buffer;
  /** The request as one gRPC length-prefixed message, when the definition can write it so without a copy (`@recsys/proto`'s shared-writer services). */
  requestSerializeFramed?(value: Req): Buffer;
  responseDeserialize(bytes: Buffer): Res;
}

/** TLS for {@link UnaryChannel}: the CA that signs the servers, and a client certificate for mutual TLS. */
export interface UnaryChannelTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface UnaryChannelOptions {
  tls?: UnaryChannelTls;
  /** Largest response message accepted (bytes); default 16 MiB, as {@link createClient}. */
  maxReceiveBytes?: number;
  /** Largest request message sent (bytes); default unlimited, as grpc-js. */
  maxSendBytes?: number;
}

const {
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_PATH,
  HTTP2_HEADER_STATUS,
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_TE,
  HTTP2_HEADER_USER_AGENT,
  NGHTTP2_CANCEL,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_ENHANCE_YOUR_CALM,
} = http2.constants;

const USER_AGENT = 'recsys-mesh-unary/1';
const KEEPALIVE_TIME_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 20_000;
const RESOLVE_EVERY_MS = 30_000;
const MAX_ATTEMPTS = 3;
const RETRY_BACKOFF_INITIAL_MS = 10;
const RETRY_BACKOFF_MAX_MS = 100;
const THROTTLE_MAX_TOKENS = 100;
const THROTTLE_TOKEN_RATIO = 0.1;
const OUTLIER_INTERVAL_MS = 1000;
const OUTLIER_BASE_EJECTION_MS = 5000;
const OUTLIER_MAX_EJECTION_MS = 30_000;
const OUTLIER_MIN_CALLS = 10;
const OUTLIER_FAILURE_PERCENT = 50;
const OUTLIER_MAX_EJECTED_PERCENT = 50;

/** Status codes that say "this address is not serving well" for outlier ejection. */
const OUTLIER_FAILURES = new Set<grpc.status>([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
]);

/** A grpc-js-shaped ServiceError. */
function serviceError(code: grpc.status, details: string, metadata = new grpc.Metadata()): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata });
}

/** `payload` behind gRPC's message prefix (flag 0: uncompressed; 4-byte big-endian length). */
function toFrame(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame[0] = 0;
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  return frame;
}

/** gRPC's mapping of an HTTP status without grpc-status to a code. */
function codeOfHttpStatus(status: number): grpc.status {
  switch (status) {
    case 400:
      return grpc.status.INTERNAL;
    case 401:
      return grpc.status.UNAUTHENTICATED;
    case 403:
      return grpc.status.PERMISSION_DENIED;
    case 404:
      return grpc.status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return grpc.status.UNAVAILABLE;
    default:
      return grpc.status.UNKNOWN;
  }
}

function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const s = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const headerSetter: TextMapSetter<http2.OutgoingHttpHeaders> = {
  set: (headers, key, value) => {
    headers[key] = value;
  },
};

function jitter(ms: number): number {
  return ms * (0.8 + 0.4 * Math.random());
}

/** One address to connect to: `host` for the socket, `servername` for TLS and `:authority`. */
interface Address {
  host: string;
  port: number;
  servername: string;
}

/** The parsed address setting: fixed addresses, or names to resolve. */
interface Target {
  fixed: Address[];
  names: { name: string; port: number }[];
}

function splitHostPort(part: string, setting: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(part) ?? /^([^:]+):(\d+)$/.exec(part);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port < 65536)) throw new Error(`address "${part}" in "${setting}" is not host:port`);
  return { host: m[1] as string, port };
}

/** Parses an address setting the way {@link createClient}'s target would resolve it. */
export function parseTarget(setting: string): Target {
  let rest = setting.trim();
  if (rest.startsWith('dns:')) {
    rest = rest.slice(4);
    if (rest.startsWith('//')) rest = rest.slice(rest.indexOf('/', 2) + 1);
  } else if (rest.startsWith('ipv4:') || rest.startsWith('ipv6:')) {
    rest = rest.slice(5);
  }
  const target: Target = { fixed: [], names: [] };
  for (const part of rest.split(',').map((p) => p.trim()).filter(Boolean)) {
    const { host, port } = splitHostPort(part, setting);
    if (net.isIP(host)) target.fixed.push({ host, port, servername: host });
    else target.names.push({ name: host, port });
  }
  if (target.fixed.length + target.names.length === 0) throw new Error(`address "${setting}" names no host:port`);
  return target;
}

/** Pending callers of {@link Endpoint.whenReady}. */
type ReadyWaiter = (ok: boolean) => void;

/** One address: its connection, back-off and outlier state. */
class Endpoint {
  session: http2.ClientHttp2Session | undefined;
  ready = false;
  closed = false;
  private connecting = false;
  private nextConnectAt = 0;
  private backoffMs = RECONNECT_BACKOFF_INITIAL_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private waiters: ReadyWaiter[] = [];
  /** Outlier detection: calls and failures in the current interval; ejection. */
  calls = 0;
  failures = 0;
  ejectedUntil = 0;
  ejections = 0;

  constructor(
    readonly address: Address,
    private readonly tlsOptions: UnaryChannelTls | undefined,
    /** Told when an established connection ended (the channel resolves its names again). */
    private readonly onLost: () => void = () => {},
  ) {}

  get key(): string {
    return `${this.address.host}:${this.address.port}`;
  }

  get authority(): string {
    const { servername, port } = this.address;
    return net.isIPv6(servername) ? `[${servername}]:${port}` : `${servername}:${port}`;
  }

  /** Starts connecting if not connected, not connecting and out of back-off. */
  connect(): void {
    if (this.closed || this.ready || this.connecting) return;
    const wait = this.nextConnectAt - Date.now();
    if (wait > 0) {
      if (!this.reconnectTimer) {
        this.reconnectTimer = setTimeout(() => {
          this.reconnectTimer = undefined;
          this.connect();
        }, wait);
        this.reconnectTimer.unref();
      }
      return;
    }
    this.connecting = true;
    const { host, port, servername } = this.address;
    const t = this.tlsOptions;
    const scheme = t ? 'https' : 'http';
    const session = http2.connect(`${scheme}://${this.authority}`, {
      settings: { initialWindowSize: FLOW_CONTROL_WINDOW, enablePush: false },
      // No Nagle: a call's frames leave at once, as grpc-js and gRPC's C core set it.
      createConnection: () =>
        t
          ? tls
              .connect({
                host,
                port,
                servername: net.isIP(servername) ? undefined : servername,
                ca: t.ca,
                cert: t.cert,
                key: t.key,
                ALPNProtocols: ['h2'],
                checkServerIdentity: (_h, cert) => tls.checkServerIdentity(servername, cert),
              })
              .setNoDelay(true)
          : net.connect({ host, port, noDelay: true }),
    });
    this.session = session;
    const connectTimer = setTimeout(() => session.destroy(new Error(`connect to ${this.authority} timed out`)), CONNECT_TIMEOUT_MS);
    connectTimer.unref();
    session.once('connect', () => {
      clearTimeout(connectTimer);
      if (this.session !== session) return;
      this.connecting = false;
      this.ready = true;
      this.backoffMs = RECONNECT_BACKOFF_INITIAL_MS;
      try {
        session.setLocalWindowSize(FLOW_CONTROL_WINDOW);
      } catch {
        // the session closed in between: 'close' follows
      }
      this.startKeepalive(session);
      this.settle(true);
    });
    // A GOAWAY: no new streams on this connection; the ones it accepted finish.
    session.once('goaway', () => {
      if (this.session === session) this.lost(session);
    });
    session.on('error', () => {
      // 'close' follows; the calls on it fail with their stream's error.
    });
    session.once('close', () => {
      clearTimeout(connectTimer);
      if (this.session === session) this.lost(session);
    });
  }

  private startKeepalive(session: http2.ClientHttp2Session): void {
    this.keepalive = setInterval(() => {
      const timer = setTimeout(() => session.destroy(new Error('keepalive ping timed out')), KEEPALIVE_TIMEOUT_MS);
      timer.unref();
      try {
        session.ping((err) => {
          clearTimeout(timer);
          if (err) session.destroy(err);
        });
      } catch {
        clearTimeout(timer);
      }
    }, KEEPALIVE_TIME_MS);
    this.keepalive.unref();
  }

  /** The connection is gone or going: back off, then reconnect in the background. */
  private lost(session: http2.ClientHttp2Session): void {
    const wasConnecting = this.connecting;
    const wasReady = this.ready;
    this.session = undefined;
    this.ready = false;
    this.connecting = false;
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = undefined;
    if (!session.closed && !session.destroyed) session.close();
    // An established connection that ended (GOAWAY, idle timeout, the server restarting) is
    // replaced at once; a connection attempt that failed backs off.
    if (wasReady) {
      this.nextConnectAt = 0;
    } else if (wasConnecting) {
      this.nextConnectAt = Date.now() + jitter(this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 1.6, RECONNECT_BACKOFF_MAX_MS);
    }
    this.settle(false);
    if (!this.closed) {
      if (wasReady) this.onLost();
      this.connect();
    }
  }

  /**
   * Resolves true once connected, false when the connection attempt under way failed, or
   * at once when the address is in reconnect back-off (calls fail fast, as grpc-js's do in
   * TRANSIENT_FAILURE, instead of waiting out the back-off).
   */
  whenReady(): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    this.connect();
    if (!this.connecting) return Promise.resolve(false);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private settle(ok: boolean): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(ok);
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.keepalive) clearInterval(this.keepalive);
    const session = this.session;
    this.session = undefined;
    this.ready = false;
    session?.close();
    this.settle(false);
  }
}

/** State of one call attempt while its stream is open. */
interface Attempt<Res> {
  resolve(res: Res): void;
  reject(err: grpc.ServiceError): void;
}

/** A stream's 'error' listener: the stream's 'close' reports the failure (a module function, so it holds no call's state). */
function ignoreStreamError(): void {}

/**
 * A unary gRPC client for one downstream (every replica behind one address setting).
 *
 * ```ts
 * const ranker = new UnaryChannel('ranker:50053');
 * const res = await ranker.call(RankerService.rank, req, { deadline: Date.now() + 50 });
 * ```
 */
export class UnaryChannel {
  private endpoints: Endpoint[] = [];
  private next = 0;
  private readonly target: Target;
  private resolving: Promise<void> | undefined;
  private resolvedAt = 0;
  private tokens = THROTTLE_MAX_TOKENS;
  private readonly outlierTimer: NodeJS.Timeout;
  private readonly maxReceiveBytes: number;
  private readonly maxSendBytes: number;
  private closed = false;

  constructor(
    readonly address: string,
    private readonly options: UnaryChannelOptions = {},
  ) {
    this.target = parseTarget(address);
    this.maxReceiveBytes = options.maxReceiveBytes ?? 16 * 1024 * 1024;
    this.maxSendBytes = options.maxSendBytes ?? Infinity;
    this.setAddresses(this.target.fixed);
    if (this.target.names.length > 0) void this.resolve();
    this.outlierTimer = setInterval(() => this.detectOutliers(), OUTLIER_INTERVAL_MS);
    this.outlierTimer.unref();
  }

  /** The addresses in rotation now (for tests and logs). */
  get addresses(): string[] {
    return this.endpoints.map((e) => e.key);
  }

  private setAddresses(addresses: Address[]): void {
    const keep = new Map(this.endpoints.map((e) => [e.key, e]));
    const next: Endpoint[] = [];
    for (const a of addresses) {
      const key = `${a.host}:${a.port}`;
      const old = keep.get(key);
      if (old) {
        next.push(old);
        keep.delete(key);
      } else if (!next.some((e) => e.key === key)) {
        next.push(new Endpoint(a, this.options.tls, () => this.onEndpointLost()));
      }
    }
    for (const gone of keep.values()) gone.close();
    this.endpoints = next;
    for (const e of next) e.connect();
  }

  /**
   * A connection that ended (a server's GOAWAY after MAX_CONNECTION_AGE_MS, a replica gone):
   * names are resolved again, so new replicas get calls and removed ones are dropped.
   */
  private onEndpointLost(): void {
    if (this.target.names.length > 0 && !this.closed) void this.resolve();
  }

  /** Resolves the names of the setting (every address of each), at most once at a time. */
  private resolve(): Promise<void> {
    if (this.target.names.length === 0) return Promise.resolve();
    this.resolving ??= (async () => {
      const found: Address[] = [...this.target.fixed];
      for (const { name, port } of this.target.names) {
        try {
          const all = await dns.promises.lookup(name, { all: true });
          for (const a of all) found.push({ host: a.address, port, servername: name });
        } catch {
          // a name that does not resolve now contributes nothing; tried again later
        }
      }
      this.resolvedAt = Date.now();
      if (!this.closed && (found.length > 0 || this.endpoints.length === 0)) this.setAddresses(found);
    })().finally(() => {
      this.resolving = undefined;
    });
    return this.resolving;
  }

  /** A connected endpoint, round-robin, preferring those not ejected; waits for one to connect. */
  private async pick(deadline: number, signal: AbortSignal | undefined, avoid: Endpoint | undefined): Promise<Endpoint> {
    if (this.resolveDue()) {
      const pending = this.resolve();
      if (this.endpoints.length === 0) await pending;
    }
    for (;;) {
      const chosen = this.choose(avoid);
      if (chosen) return chosen;
      if (this.closed) throw serviceError(grpc.status.UNAVAILABLE, 'channel closed');
      if (this.endpoints.length === 0) throw serviceError(grpc.status.UNAVAILABLE, `no address resolved for "${this.address}"`);
      // Nothing connected: wait for the first connection attempt to end, within the deadline.
      const left = deadline - Date.now();
      if (left <= 0) throw serviceError(grpc.status.DEADLINE_EXCEEDED, `deadline passed waiting for a connection to ${this.address}`);
      if (signal?.aborted) throw serviceError(grpc.status.CANCELLED, 'Cancelled on client');
      const outcome = await this.anyReady(left, signal);
      if (outcome === 'ready') continue;
      if (outcome === 'aborted') throw serviceError(grpc.status.CANCELLED, 'Cancelled on client');
      if (outcome === 'timeout') throw serviceError(grpc.status.DEADLINE_EXCEEDED, `deadline passed waiting for a connection to ${this.address}`);
      if (this.target.names.length > 0) void this.resolve();
      throw serviceError(grpc.status.UNAVAILABLE, `no connection to ${this.address}: ${this.endpoints.map((e) => e.key).join(', ')} refused or unreachable`);
    }
  }

  private choose(avoid: Endpoint | undefined): Endpoint | undefined {
    const n = this.endpoints.length;
    const now = Date.now();
    let fallback: Endpoint | undefined;
    for (let i = 0; i < n; i++) {
      const e = this.endpoints[(this.next + i) % n] as Endpoint;
      if (!e.ready) continue;
      if (e.ejectedUntil > now || e === avoid) {
        fallback ??= e;
        continue;
      }
      this.next = (this.next + i + 1) % n;
      return e;
    }
    return fallback;
  }

  /** Waits until any endpoint connects ('ready'), all attempts failed ('failed'), time ran out or the call was cancelled. */
  private anyReady(timeoutMs: number, signal: AbortSignal | undefined): Promise<'ready' | 'failed' | 'timeout' | 'aborted'> {
    return new Promise((resolve) => {
      let pending = this.endpoints.length;
      let done = false;
      const finish = (v: 'ready' | 'failed' | 'timeout' | 'aborted'): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      const onAbort = (): void => finish('aborted');
      signal?.addEventListener('abort', onAbort, { once: true });
      for (const e of this.endpoints) {
        void e.whenReady().then((ok) => {
          if (ok) finish('ready');
          else if (--pending === 0) finish('failed');
        });
      }
    });
  }

  /**
   * Calls `method` with `request`, bounded by `options.deadline` and cancelled by
   * `options.signal`. A deadline already past fails at once with DEADLINE_EXCEEDED.
   * @throws grpc.ServiceError with the call's status
   */
  async call<Req, Res>(method: UnaryMethodDefinition<Req, Res>, request: Req, options: UnaryCallOptions): Promise<Res> {
    const { deadline, signal } = options;
    if (!(deadline > Date.now())) throw deadlinePassed();
    const frame = method.requestSerializeFramed ? method.requestSerializeFramed(request) : toFrame(method.requestSerialize(request));
    if (frame.length - 5 > this.maxSendBytes) {
      throw serviceError(grpc.status.RESOURCE_EXHAUSTED, `Sent message larger than max (${frame.length - 5} vs. ${this.maxSendBytes})`);
    }
    const t = tracer();
    const span = t?.startSpan(method.path.slice(1), { kind: SpanKind.CLIENT, attributes: rpcAttributes(method.path) }, context.active());
    let last: Endpoint | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        const endpoint = await this.pick(deadline, signal, last);
        last = endpoint;
        const res = await this.attempt(endpoint, method, frame, deadline, signal, options.metadata, span);
        this.tokens = Math.min(THROTTLE_MAX_TOKENS, this.tokens + THROTTLE_TOKEN_RATIO);
        if (span) endRpcSpan(span, grpc.status.OK);
        return res;
      } catch (e) {
        const err = e as grpc.ServiceError;
        // Retry throttling counts the failures that could be retried (UNAVAILABLE), as gRPC's A6 does.
        if (err.code === grpc.status.UNAVAILABLE) this.tokens = Math.max(0, this.tokens - 1);
        const backoff = Math.min(RETRY_BACKOFF_INITIAL_MS * 2 ** (attempt - 1), RETRY_BACKOFF_MAX_MS) * Math.random();
        const retry =
          err.code === grpc.status.UNAVAILABLE &&
          attempt < MAX_ATTEMPTS &&
          this.tokens > THROTTLE_MAX_TOKENS / 2 &&
          !signal?.aborted &&
          Date.now() + backoff < deadline;
        if (!retry) {
          if (span) endRpcSpan(span, err.code, err.details);
          throw err;
        }
        await new Promise((r) => setTimeout(r, backoff));
      }
    }
  }

  private resolveDue(): boolean {
    return this.target.names.length > 0 && (this.endpoints.length === 0 || Date.now() - this.resolvedAt > RESOLVE_EVERY_MS);
  }

  private attempt<Req, Res>(
    endpoint: Endpoint,
    method: UnaryMethodDefinition<Req, Res>,
    frame: Buffer,
    deadline: number,
    signal: AbortSignal | undefined,
    metadata: grpc.Metadata | undefined,
    span: Span | undefined,
  ): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const session = endpoint.session;
      const left = deadline - Date.now();
      if (!session || left <= 0) {
        reject(left <= 0 ? serviceError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded') : serviceError(grpc.status.UNAVAILABLE, `connection to ${endpoint.key} lost`));
        return;
      }
      const headers: http2.OutgoingHttpHeaders = {
        [HTTP2_HEADER_METHOD]: 'POST',
        [HTTP2_HEADER_PATH]: method.path,
        [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
        [HTTP2_HEADER_TE]: 'trailers',
        [HTTP2_HEADER_USER_AGENT]: USER_AGENT,
        'grpc-timeout': `${Math.max(1, Math.ceil(left))}m`,
      };
      if (metadata) {
        for (const [k, v] of Object.entries(metadata.getMap())) headers[k] = typeof v === 'string' ? v : v.toString('base64');
      }
      if (span) propagation.inject(trace.setSpan(context.active(), span), headers, headerSetter);
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers, { endStream: false });
      } catch (err) {
        reject(serviceError(grpc.status.UNAVAILABLE, `connection to ${endpoint.key}: ${(err as Error).message}`));
        return;
      }
      endpoint.calls++;
      let settled = false;
      let httpStatus = 0;
      let grpcStatus: grpc.status | undefined;
      let grpcMessage = '';
      let trailerMetadata: http2.IncomingHttpHeaders | undefined;
      let chunks: Buffer[] = [];
      let received = 0;
      let localError: grpc.ServiceError | undefined;
      const outcome: Attempt<Res> = {
        resolve: (res) => {
          if (settled) return;
          settled = true;
          finish();
          resolve(res);
        },
        reject: (err) => {
          if (settled) return;
          settled = true;
          finish();
          if (OUTLIER_FAILURES.has(err.code)) endpoint.failures++;
          reject(err);
        },
      };
      const fail = (code: grpc.status, details: string): void => {
        localError ??= serviceError(code, details);
        if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
        outcome.reject(localError);
      };
      const timer = setTimeout(() => fail(grpc.status.DEADLINE_EXCEEDED, `Deadline exceeded after ${(left / 1000).toFixed(3)}s (${method.path} on ${endpoint.key})`), left);
      const onAbort = (): void => fail(grpc.status.CANCELLED, 'Cancelled on client');
      signal?.addEventListener('abort', onAbort, { once: true });
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        // Node keeps a finished stream object until its native stream is gone, and young
        // objects reachable from it survive V8's scavenges until then: with these
        // listeners that was everything the call held (its closures, the decoded reply):
        // in the gateway about 1.1 MB more copied per scavenge, at any load (README "Where
        // the time goes"). The 'error' listener stays: a module function holding nothing,
        // and a late error must not go unhandled.
        stream.removeAllListeners('response').removeAllListeners('data').removeAllListeners('trailers').removeAllListeners('close');
      };
      const takeStatus = (h: http2.IncomingHttpHeaders): void => {
        const s = h['grpc-status'];
        if (s === undefined) return;
        const n = Number(s);
        grpcStatus = Number.isInteger(n) && n >= 0 && n <= 16 ? (n as grpc.status) : grpc.status.UNKNOWN;
        const m = h['grpc-message'];
        grpcMessage = m === undefined || m === '' ? '' : decodeGrpcMessage(m);
        trailerMetadata = h;
      };
      stream.on('response', (h) => {
        httpStatus = Number(h[HTTP2_HEADER_STATUS]);
        takeStatus(h); // a trailers-only response carries the status in the headers
      });
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > this.maxReceiveBytes + 5) {
          fail(grpc.status.RESOURCE_EXHAUSTED, `Received message larger than max (${received - 5} vs. ${this.maxReceiveBytes})`);
          return;
        }
        chunks.push(chunk);
      });
      stream.on('trailers', takeStatus);
      stream.on('error', ignoreStreamError); // 'close' reports it
      stream.on('close', () => {
        if (settled) return;
        if (grpcStatus === undefined) {
          if (httpStatus !== 0 && httpStatus !== 200) {
            outcome.reject(serviceError(codeOfHttpStatus(httpStatus), `Received HTTP status code ${httpStatus}`));
            return;
          }
          const rst = stream.rstCode;
          // Refused (GOAWAY or stream limit) or a connection that died: nothing was
          // processed or the reply is lost; UNAVAILABLE, which the caller may retry.
          if (rst === NGHTTP2_REFUSED_STREAM || session.destroyed || session.closed || !rst) {
            outcome.reject(serviceError(grpc.status.UNAVAILABLE, `connection to ${endpoint.key} closed before the call ended${rst ? ` (RST_STREAM ${rst})` : ''}`));
          } else if (rst === NGHTTP2_CANCEL) {
            outcome.reject(serviceError(grpc.status.CANCELLED, 'Call cancelled by the server (RST_STREAM CANCEL)'));
          } else if (rst === NGHTTP2_ENHANCE_YOUR_CALM) {
            outcome.reject(serviceError(grpc.status.RESOURCE_EXHAUSTED, 'Bandwidth exhausted or memory limit exceeded (RST_STREAM ENHANCE_YOUR_CALM)'));
          } else {
            outcome.reject(serviceError(grpc.status.INTERNAL, `Received RST_STREAM with code ${rst}`));
          }
          return;
        }
        if (grpcStatus !== grpc.status.OK) {
          outcome.reject(serviceError(grpcStatus, grpcMessage, toMetadata(trailerMetadata)));
          return;
        }
        const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received);
        chunks = [];
        if (body.length < 5) {
          outcome.reject(serviceError(grpc.status.UNIMPLEMENTED, 'No message received'));
          return;
        }
        if (body[0] !== 0) {
          outcome.reject(serviceError(grpc.status.INTERNAL, 'Received a compressed message, but compression was not negotiated'));
          return;
        }
        const length = body.readUInt32BE(1);
        if (length !== body.length - 5) {
          outcome.reject(
            serviceError(grpc.status.UNIMPLEMENTED, length < body.length - 5 ? 'Too many responses received' : `Truncated message: ${body.length - 5} of ${length} bytes`),
          );
          return;
        }
        let res: Res;
        try {
          res = method.responseDeserialize(body.subarray(5));
        } catch (err) {
          outcome.reject(serviceError(grpc.status.INTERNAL, `Response message parsing error: ${(err as Error).message}`));
          return;
        }
        outcome.resolve(res);
      });
      stream.end(frame);
    });
  }

  /** Ejects addresses whose calls mostly failed in the last interval; brings back those whose time is up. */
  private detectOutliers(): void {
    const now = Date.now();
    const eps = this.endpoints;
    let ejected = eps.filter((e) => e.ejectedUntil > now).length;
    const eligible = eps.filter((e) => e.calls >= OUTLIER_MIN_CALLS).length;
    for (const e of eps) {
      if (e.ejectedUntil > now) {
        // still out
      } else if (
        eligible >= 2 &&
        e.calls >= OUTLIER_MIN_CALLS &&
        (100 * e.failures) / e.calls >= OUTLIER_FAILURE_PERCENT &&
        (100 * (ejected + 1)) / eps.length <= OUTLIER_MAX_EJECTED_PERCENT
      ) {
        e.ejections++;
        e.ejectedUntil = now + Math.min(OUTLIER_BASE_EJECTION_MS * e.ejections, Math.max(OUTLIER_BASE_EJECTION_MS, OUTLIER_MAX_EJECTION_MS));
        ejected++;
      } else if (e.ejections > 0 && e.ejectedUntil <= now && e.calls > 0 && e.failures === 0) {
        e.ejections--;
      }
      e.calls = 0;
      e.failures = 0;
    }
  }

  /** Closes every connection; calls in flight fail UNAVAILABLE. */
  close(): void {
    this.closed = true;
    clearInterval(this.outlierTimer);
    for (const e of this.endpoints) e.close();
  }
}

function toMetadata(h: http2.IncomingHttpHeaders | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (!h) return md;
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(':') || k.startsWith('grpc-') || k === 'content-type' || v === undefined) continue;
    if (k.endsWith('-bin')) {
      for (const one of Array.isArray(v) ? v : [v]) md.add(k, Buffer.from(one, 'base64'));
    } else {
      for (const one of Array.isArray(v) ? v : [v]) md.add(k, one);
    }
  }
  return md;
}
