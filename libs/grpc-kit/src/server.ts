import * as grpc from '@grpc/grpc-js';
import { DescriptorIndex, addReflection } from './reflection';
import { toServiceError } from './errors';
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
}

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

  constructor(private readonly opts: ServiceHostOptions) {
    const maxMessage = opts.maxMessageBytes ?? 16 * 1024 * 1024;
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': maxMessage,
      'grpc.enable_channelz': 0,
      'grpc.max_send_message_length': maxMessage,
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
      if (limit > 0 && this.inFlight >= limit) {
        metrics.handled.inc({ method, code: 'RESOURCE_EXHAUSTED' });
        callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: `${this.opts.name} is at its limit of ${limit} concurrent calls; retry later` });
        return;
      }
      let request: unknown = call.request;
      if (decode && Buffer.isBuffer(request)) {
        try {
          request = decode(request);
        } catch (err) {
          metrics.handled.inc({ method, code: 'INVALID_ARGUMENT' });
          callback({ code: grpc.status.INVALID_ARGUMENT, details: `request: not a valid protobuf message (${(err as Error).message})` });
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
      const finish = (code: grpc.status, details?: string): void => {
        finished = true;
        this.inFlight--;
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
            else log.debug({ method, code: grpc.status[code], details }, 'request failed');
          };
          if (traced) runInContext(traced.ctx, logErr);
          else logErr();
          finish(code, details);
          callback({ code, details });
        },
      );
    };
  }

  /** Binds the port (0 = ephemeral) and starts serving; health stays NOT_SERVING. */
  async start(): Promise<number> {
    this.health.addTo(this.server);
    if (this.opts.reflection) addReflection(this.server, this.opts.descriptors, [...this.serviceNames, 'grpc.health.v1.Health']);
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${this.opts.host}:${this.opts.port}`, this.opts.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(new Error(`cannot listen on ${this.opts.host}:${this.opts.port}: ${err.message}`)) : resolve(p),
      );
    });
    return this.boundPort;
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
