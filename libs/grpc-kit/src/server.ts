import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { DescriptorIndex, addReflection, type ReflectionScope } from './reflection';
import { toServiceError } from './errors';
import { decodeStrict } from './strict-decode';
import { HealthStatus } from './health';
import type { Logger } from './logger';
import type { ServiceMetrics } from './metrics';
import { endRpcSpan, runInContext, startServerSpan, tracer } from './tracing';
import type { Span } from '@opentelemetry/api';

/** What a handler knows about the call it serves. */
export interface CallContext {
  /** Full method path, e.g. `/recsys.v1.RankerService/Rank`. */
  readonly method: string;
  /** The caller's deadline (ms since epoch), or Infinity when the caller set none. */
  readonly deadline: number;
  /** Aborted when the caller cancels or the deadline passes: stop work and return. */
  readonly signal: AbortSignal;
  readonly metadata: grpc.Metadata;
  readonly log: Logger;
  /** The call's SERVER span when tracing is on (handlers add attributes to it), else undefined. */
  readonly span?: Span;
}

/** A unary handler: returns the response or throws a DomainError. */
export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res> | Res;

type MethodDef = { path: string; requestStream: boolean; responseStream: boolean; requestDeserialize?: (b: Buffer) => unknown };

/** The async handlers of a ts-proto service definition, typed from that definition. */
export type AsyncHandlers<S> = {
  [K in keyof S]: S[K] extends { requestDeserialize: (b: Buffer) => infer Req; responseSerialize: (v: infer Res) => Buffer }
    ? UnaryHandler<Req, Res>
    : never;
};

export interface ServiceHostOptions {
  /** Short service name for logs and metrics, e.g. `gateway`. */
  name: string;
  host: string;
  port: number;
  /** Serve grpc.reflection.v1/v1alpha (default true). */
  reflection: boolean;
  /** Descriptor set that reflection serves. */
  descriptors: DescriptorIndex;
  /** Upper bound on draining in-flight calls at shutdown before forcing. */
  drainTimeoutMs: number;
  /** Time between NOT_SERVING and closing the listener, so balancers notice first. */
  shutdownDelayMs: number;
  log: Logger;
  metrics: ServiceMetrics;
  /** Extra grpc.Server channel options. */
  serverOptions?: grpc.ServerOptions;
  /**
   * Calls handled at once; the next one is answered RESOURCE_EXHAUSTED at once instead of
   * queueing until its deadline passes (0 or unset = unbounded). Health and reflection are
   * not counted, so probes are answered under any load.
   */
  maxConcurrentCalls?: number;
  /** Closes client connections gracefully after this age so scale-ups get traffic (0 = never). */
  maxConnectionAgeMs?: number;
  /** Largest message received or sent (default 16 MiB). */
  maxMessageBytes?: number;
  /** Listener credentials (default plaintext); see {@link serverCredentials}. */
  credentials?: grpc.ServerCredentials;
  /** Transport limits (see {@link TransportLimits}); each unset one takes its default. */
  transport?: Partial<TransportLimits>;
  /** What reflection describes: the files of the services served here (default), or every file of the set. */
  reflectionScope?: ReflectionScope;
}

/**
 * Limits of the listener and of each HTTP/2 connection, so no single caller can exhaust
 * a service: streams per connection, idle connections, the number of connections, the
 * share of the call slots one connection may hold, and how often a client may ping.
 */
export interface TransportLimits {
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: streams open at once on one connection; more are refused (REFUSED_STREAM). */
  maxConcurrentStreams: number;
  /** A connection with no call for this long is closed (GOAWAY); also a TCP connection that never speaks HTTP/2 (0 = never). */
  maxConnectionIdleMs: number;
  /** Connections open at once; one more is answered RESOURCE_EXHAUSTED on every call and closed (0 = unbounded). */
  maxConnections: number;
  /** Calls one connection may have in flight (0 = up to maxConcurrentCalls): one client cannot take every slot. */
  maxCallsPerConnection: number;
  /** The server pings an idle connection after this long and closes it when no answer comes in keepaliveTimeoutMs (0 = never). */
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  /** Client pings closer together than this, with no new call between them, are strikes; 3 strikes close the connection (GOAWAY ENHANCE_YOUR_CALM "too_many_pings"); 0 = no enforcement. */
  minPingIntervalMs: number;
}

/** Defaults of {@link TransportLimits} (also those of the environment variables, see common-config.ts). */
export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxConcurrentStreams: 256,
  maxConnectionIdleMs: 60_000,
  maxConnections: 256,
  maxCallsPerConnection: 0,
  keepaliveTimeMs: 60_000,
  keepaliveTimeoutMs: 20_000,
  minPingIntervalMs: 10_000,
};

/** Longest grpc-message the kit sends: a handler's message is cut there, never echoed whole. */
const MAX_DETAILS_CHARS = 1024;

function clip(details: string): string {
  return details.length <= MAX_DETAILS_CHARS ? details : `${details.slice(0, MAX_DETAILS_CHARS)}… (message cut)`;
}

/** A connection rejected over the connection cap lives this long (so its calls can be told why), then is closed. */
const REFUSED_CONNECTION_LIFE_MS = 2000;
/** Longest wait for a new connection's HTTP/2 handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Strikes of too-frequent pings before the connection is closed. */
const MAX_PING_STRIKES = 3;

/**
 * One gRPC server with the kit's conventions: health (NOT_SERVING until {@link setServing}),
 * reflection from real descriptors, an error boundary and metrics around every handler,
 * and a bounded graceful drain.
 *
 * ```ts
 * const host = new ServiceHost(opts);
 * host.addService(RankerServiceService, 'recsys.v1.RankerService', { rank: async (req, ctx) => … });
 * await host.start();   // bound; NOT_SERVING, calls answered UNAVAILABLE
 * await loadModel();
 * host.markReady();     // SERVING
 * host.installSignalHandlers();
 * ```
 */
export class ServiceHost {
  readonly server: grpc.Server;
  readonly health: HealthStatus;
  private readonly serviceNames: string[] = [];
  private readonly shutdownHooks: (() => Promise<void> | void)[] = [];
  private boundPort = 0;
  private draining: Promise<void> | undefined;
  private inFlight = 0;
  private ready = false;
  private readonly limits: TransportLimits;
  /** Calls in flight per connection (peer address). */
  private readonly perConnection = new Map<string, number>();
  /**
   * Connections over the cap (by peer address): their calls are refused until they are
   * closed. Insertion order is age; the value is whether the peer has spoken HTTP/2 (sent its
   * SETTINGS), so a flood of silent sockets never pushes out a real caller's refusal.
   */
  private readonly refusedPeers = new Map<string, { socket: net.Socket; spoke: boolean }>();
  private readonly sockets = new Set<net.Socket>();
  private listener: net.Server | undefined;
  private connectionsRefused = 0;

  constructor(private readonly opts: ServiceHostOptions) {
    const maxMessage = opts.maxMessageBytes ?? 16 * 1024 * 1024;
    this.limits = { ...DEFAULT_TRANSPORT_LIMITS, ...opts.transport };
    const l = this.limits;
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': maxMessage,
      'grpc.enable_channelz': 0,
      'grpc.max_send_message_length': maxMessage,
      ...(l.maxConcurrentStreams > 0 ? { 'grpc.max_concurrent_streams': l.maxConcurrentStreams } : {}),
      ...(l.maxConnectionIdleMs > 0 ? { 'grpc.max_connection_idle_ms': l.maxConnectionIdleMs } : {}),
      ...(l.keepaliveTimeMs > 0 ? { 'grpc.keepalive_time_ms': l.keepaliveTimeMs, 'grpc.keepalive_timeout_ms': l.keepaliveTimeoutMs } : {}),
      ...(opts.maxConnectionAgeMs
        ? {
            'grpc.max_connection_age_ms': opts.maxConnectionAgeMs,
            // Calls still running on an aged connection get the drain bound to finish.
            'grpc.max_connection_age_grace_ms': opts.drainTimeoutMs,
          }
        : {}),
      ...opts.serverOptions,
    });
    this.health = new HealthStatus();
  }

  get name(): string {
    return this.opts.name;
  }

  /** Registers a service; every method gets the error boundary, metrics and a context. */
  addService<S extends Record<string, MethodDef>>(definition: S, fullName: string, handlers: AsyncHandlers<S>): void {
    if (!this.opts.descriptors.hasSymbol(fullName)) throw new Error(`service ${fullName} is not in the descriptor set`);
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [key, def] of Object.entries(definition)) {
      if (def.requestStream || def.responseStream) throw new Error(`${def.path}: only unary methods are supported by addService`);
      const handler = (handlers as Record<string, UnaryHandler<unknown, unknown>>)[key];
      if (!handler) throw new Error(`${def.path}: no handler`);
      impl[key] = this.wrapUnary(def.path, handler, def.requestDeserialize);
    }
    // grpc-js answers a request it cannot decode with INTERNAL; the kit decodes inside the
    // boundary instead, so malformed bytes are the caller's INVALID_ARGUMENT.
    const raw = Object.fromEntries(
      Object.entries(definition).map(([key, def]) => [key, { ...def, requestDeserialize: (b: Buffer) => b }]),
    );
    this.server.addService(raw as unknown as grpc.ServiceDefinition, impl);
    this.serviceNames.push(fullName);
    this.health.register(fullName);
  }

  private wrapUnary(
    method: string,
    handler: UnaryHandler<unknown, unknown>,
    decode: ((b: Buffer) => unknown) | undefined,
  ): grpc.handleUnaryCall<unknown, unknown> {
    const { log, metrics } = this.opts;
    const limit = this.opts.maxConcurrentCalls ?? 0;
    const histogram = metrics.latency.labels(method);
    return (call, callback) => {
      if (!this.ready) {
        metrics.handled.inc({ method, code: 'UNAVAILABLE' });
        callback({ code: grpc.status.UNAVAILABLE, details: `${this.opts.name} is starting and not ready yet` });
        return;
      }
      const peer = call.getPeer();
      if (this.refusedPeers.has(peer)) {
        metrics.handled.inc({ method, code: 'RESOURCE_EXHAUSTED' });
        callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: `${this.opts.name} is at its limit of ${this.limits.maxConnections} connections; this connection is closed, retry later` });
        return;
      }
      if (limit > 0 && this.inFlight >= limit) {
        metrics.handled.inc({ method, code: 'RESOURCE_EXHAUSTED' });
        callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: `${this.opts.name} is at its limit of ${limit} concurrent calls; retry later` });
        return;
      }
      const share = limit > 0 ? Math.min(this.limits.maxCallsPerConnection, limit) : this.limits.maxCallsPerConnection;
      const mine = this.perConnection.get(peer) ?? 0;
      if (share > 0 && mine >= share) {
        metrics.handled.inc({ method, code: 'RESOURCE_EXHAUSTED' });
        callback({
          code: grpc.status.RESOURCE_EXHAUSTED,
          details: `${this.opts.name}: this connection already has ${mine} calls in flight, its share of the ${limit || 'unbounded'} concurrent calls is ${share}; retry later`,
        });
        return;
      }
      let request: unknown = call.request;
      if (decode && Buffer.isBuffer(request)) {
        try {
          request = decodeStrict(decode, request);
        } catch (err) {
          const { code, details } = toServiceError(err);
          const invalid = code === grpc.status.INVALID_ARGUMENT;
          metrics.handled.inc({ method, code: 'INVALID_ARGUMENT' });
          callback({ code: grpc.status.INVALID_ARGUMENT, details: clip(invalid ? details : `request: not a valid protobuf message (${(err as Error).message})`) });
          return;
        }
      }
      const stopTimer = histogram.startTimer();
      const abort = new AbortController();
      let finished = false;
      // grpc-js emits 'cancelled' when the stream closes, also after a call that completed;
      // aborting then would only build a DOMException (a stack capture) per call for nobody.
      call.once('cancelled', () => {
        if (!finished) abort.abort();
      });
      const rawDeadline = call.getDeadline();
      const deadline = rawDeadline instanceof Date ? rawDeadline.getTime() : rawDeadline;
      // Tracing on: the handler runs inside this call's SERVER span (child of the caller's traceparent).
      const t = tracer();
      const traced = t ? startServerSpan(t, method, call.metadata) : undefined;
      const ctx: CallContext = { method, deadline, signal: abort.signal, metadata: call.metadata, log, span: traced?.span };
      this.inFlight++;
      this.perConnection.set(peer, mine + 1);
      const finish = (code: grpc.status, details?: string): void => {
        finished = true;
        this.inFlight--;
        const left = (this.perConnection.get(peer) ?? 1) - 1;
        if (left > 0) this.perConnection.set(peer, left);
        else this.perConnection.delete(peer);
        stopTimer();
        metrics.handled.inc({ method, code: grpc.status[code] ?? String(code) });
        if (traced) endRpcSpan(traced.span, code, details);
      };
      let result: unknown;
      try {
        result = traced ? runInContext(traced.ctx, () => handler(request, ctx)) : handler(request, ctx);
      } catch (err) {
        result = Promise.reject(err);
      }
      Promise.resolve(result).then(
        (response) => {
          finish(grpc.status.OK);
          callback(null, response);
        },
        (err: unknown) => {
          const { code, details, internal } = toServiceError(err);
          const logErr = (): void => {
            if (internal) log.error({ err, method }, 'unhandled error in handler');
            else log.debug({ method, code: grpc.status[code], details: clip(details) }, 'request failed');
          };
          if (traced) runInContext(traced.ctx, logErr);
          else logErr();
          finish(code, clip(details));
          callback({ code, details: clip(details) });
        },
      );
    };
  }

  /**
   * Binds the port (0 = ephemeral) and starts serving; health stays NOT_SERVING. The kit
   * owns the TCP listener and hands each connection to grpc-js (its connection injector),
   * so it can count them: one over {@link TransportLimits.maxConnections} is still spoken
   * to, but every call on it is answered RESOURCE_EXHAUSTED naming the limit, and it is
   * closed shortly after.
   */
  async start(): Promise<number> {
    this.health.addTo(this.server);
    if (this.opts.reflection) {
      addReflection(this.server, this.opts.descriptors, [...this.serviceNames, 'grpc.health.v1.Health'], this.opts.reflectionScope ?? 'served');
    }
    const credentials = this.opts.credentials ?? grpc.ServerCredentials.createInsecure();
    const h2Servers = (this.server as unknown as { http2Servers?: Map<http2.Http2Server, unknown> }).http2Servers;
    const before = new Set(h2Servers?.keys() ?? []);
    const injector = this.server.createConnectionInjector(credentials);
    const h2 = [...(h2Servers?.keys() ?? [])].find((k) => !before.has(k));
    if (h2) {
      h2.on('session', (session: http2.ServerHttp2Session) => {
        if (this.limits.minPingIntervalMs > 0) this.enforcePings(session);
        this.enforceHandshake(session);
        if (this.refusedPeers.size > 0) {
          const refused = this.refusedPeers.get(`${session.socket.remoteAddress}:${session.socket.remotePort}`);
          if (refused) session.once('remoteSettings', () => (refused.spoke = true));
        }
      });
    } else this.opts.log.warn('grpc-js internals changed: client ping enforcement and the handshake timeout are off');
    const { maxConnections } = this.limits;
    const { metrics } = this.opts;
    // No Nagle on accepted connections (grpc-js sets it only on its client sockets): a
    // response's trailers, written after its message, leave at once.
    const listener = net.createServer({ noDelay: true }, (socket) => {
      const peer = `${socket.remoteAddress}:${socket.remotePort}`;
      this.sockets.add(socket);
      metrics.connections.set(this.sockets.size);
      socket.once('close', () => {
        this.sockets.delete(socket);
        metrics.connections.set(this.sockets.size);
        if (this.refusedPeers.get(peer)?.socket === socket) this.refusedPeers.delete(peer);
      });
      socket.on('error', () => socket.destroy());
      if (maxConnections > 0 && this.sockets.size > maxConnections) this.refuse(socket, peer);
      injector.injectConnection(socket);
    });
    this.listener = listener;
    this.boundPort = await new Promise<number>((resolve, reject) => {
      listener.once('error', (err) => reject(new Error(`cannot listen on ${this.opts.host}:${this.opts.port}: ${err.message}`)));
      listener.listen(this.opts.port, this.opts.host.replace(/^\[(.*)\]$/, '$1'), () => resolve((listener.address() as net.AddressInfo).port));
    });
    return this.boundPort;
  }

  /**
   * A connection over the cap: spoken to for {@link REFUSED_CONNECTION_LIFE_MS} so that its
   * calls are answered RESOURCE_EXHAUSTED naming the limit, then closed. Refused connections
   * are bounded too (a quarter of the cap): past that the oldest one that never spoke HTTP/2
   * is cut (else the oldest), so a flood of idle sockets cannot turn a real caller's clear
   * refusal into a reset.
   */
  private refuse(socket: net.Socket, peer: string): void {
    const { maxConnections } = this.limits;
    this.connectionsRefused++;
    this.opts.metrics.connectionsRefused.inc();
    if (this.refusedPeers.size >= Math.max(1, maxConnections >> 2)) {
      // The oldest refused connection that never spoke HTTP/2, else the oldest (insertion order).
      let victim: string | undefined;
      for (const [key, r] of this.refusedPeers) {
        victim ??= key;
        if (!r.spoke) {
          victim = key;
          break;
        }
      }
      if (victim !== undefined) {
        this.refusedPeers.get(victim)?.socket.destroy();
        this.refusedPeers.delete(victim);
      }
    }
    this.refusedPeers.set(peer, { socket, spoke: false });
    setTimeout(() => socket.destroy(), REFUSED_CONNECTION_LIFE_MS).unref();
    if (this.connectionsRefused % 100 === 1) this.opts.log.warn({ maxConnections, refused: this.connectionsRefused }, 'connection limit reached: refusing new connections');
  }

  /**
   * Keepalive enforcement: a client ping closer than minPingIntervalMs to the one before,
   * with no new call in between, is a strike; {@link MAX_PING_STRIKES} close the connection
   * with GOAWAY ENHANCE_YOUR_CALM and debug data `too_many_pings` (what gRPC's C core does).
   */
  private enforcePings(session: http2.ServerHttp2Session): void {
    let last = 0;
    let strikes = 0;
    session.on('stream', () => {
      strikes = 0;
    });
    session.on('ping', () => {
      const now = Date.now();
      if (now - last < this.limits.minPingIntervalMs) strikes++;
      last = now;
      if (strikes >= MAX_PING_STRIKES && !session.destroyed) {
        try {
          session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('too_many_pings'));
        } catch {
          /* already closing */
        }
        setTimeout(() => session.destroy(), 100).unref();
      }
    });
  }

  /**
   * A connection that has not completed the HTTP/2 handshake (the client's SETTINGS) within
   * the idle timeout (at most 10 s) is closed: grpc-js's idle timer only applies to
   * sessions that started, so a bare TCP connection would otherwise stay until the age limit.
   */
  private enforceHandshake(session: http2.ServerHttp2Session): void {
    const idle = this.limits.maxConnectionIdleMs;
    const ms = idle > 0 ? Math.min(idle, HANDSHAKE_TIMEOUT_MS) : HANDSHAKE_TIMEOUT_MS;
    const timer = setTimeout(() => session.destroy(), ms);
    timer.unref();
    session.once('remoteSettings', () => clearTimeout(timer));
    session.once('close', () => clearTimeout(timer));
  }

  /** Open client connections, and how many were refused over the cap since the start. */
  get connections(): { open: number; refused: number } {
    return { open: this.sockets.size, refused: this.connectionsRefused };
  }

  /** Calls being handled right now (health and reflection not counted). */
  get callsInFlight(): number {
    return this.inFlight;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Accepts calls from now on and reports SERVING. */
  markReady(): void {
    this.ready = true;
    this.health.setAll(true);
  }

  /** Flips every service's health (and the overall status), e.g. when a dependency fails. */
  setServing(serving: boolean): void {
    this.health.setAll(serving);
  }

  /** Runs `hook` after the server has drained (close Redis, ONNX sessions, …). */
  onShutdown(hook: () => Promise<void> | void): void {
    this.shutdownHooks.push(hook);
  }

  /**
   * NOT_SERVING → wait shutdownDelayMs → stop accepting and drain in-flight calls (bounded
   * by drainTimeoutMs, then forced) → shutdown hooks. Idempotent.
   */
  shutdown(reason: string): Promise<void> {
    this.draining ??= this.drain(reason);
    return this.draining;
  }

  private async drain(reason: string): Promise<void> {
    const { log, drainTimeoutMs, shutdownDelayMs } = this.opts;
    log.info({ reason, inFlight: this.inFlight }, 'shutting down: NOT_SERVING, draining');
    this.health.setAll(false);
    if (shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, shutdownDelayMs));
    this.health.closeWatchers();
    this.listener?.close();
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), drainTimeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!drained) {
      log.warn({ inFlight: this.inFlight, drainTimeoutMs }, 'drain timed out; forcing shutdown');
      this.server.forceShutdown();
      for (const socket of this.sockets) socket.destroy();
    }
    for (const hook of this.shutdownHooks) {
      try {
        await hook();
      } catch (err) {
        log.error({ err }, 'shutdown hook failed');
      }
    }
    log.info({ drained }, 'stopped');
  }

  /** SIGTERM/SIGINT → {@link shutdown} → exit 0 (1 if the drain failed or a second signal). */
  installSignalHandlers(): void {
    let signalled = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (signalled) {
        this.opts.log.warn({ signal: sig }, 'second signal: exiting now');
        process.exit(1);
      }
      signalled = true;
      this.shutdown(sig).then(
        () => process.exit(0),
        (err: unknown) => {
          this.opts.log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
}
