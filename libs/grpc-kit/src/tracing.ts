/**
 * OpenTelemetry tracing of the mesh, off by default.
 *
 * On with `OTEL_TRACES_EXPORTER=otlp`: {@link initTracing} loads the SDK (only then), exports
 * spans over OTLP/HTTP (`OTEL_EXPORTER_OTLP_PROTOCOL` `http/json` or `http/protobuf`, the
 * spec's default) to `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`),
 * samples by `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG`, names the service by
 * `OTEL_SERVICE_NAME` (default the mesh's own name) and propagates W3C `traceparent` in gRPC
 * metadata. The server kit opens a SERVER span per handled call ({@link startServerSpan}),
 * mesh clients a CLIENT span per call ({@link tracingInterceptor}), the gateway a span per
 * stage ({@link withSpan}).
 *
 * Off (unset or `none`): no SDK module is loaded, {@link tracer} stays undefined and every
 * hook is one `if` on it.
 */
import * as grpc from '@grpc/grpc-js';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import { ConfigError } from '@recsys/core';

let activeTracer: Tracer | undefined;
let shutdownProvider: (() => Promise<void>) | undefined;

/** The tracer when tracing is on, else undefined (every hook tests this first). */
export function tracer(): Tracer | undefined {
  return activeTracer;
}

/** What {@link initTracing} set up: the exporter protocol and endpoint, for the start log. */
export interface TracingSetup {
  protocol: 'http/json' | 'http/protobuf';
  endpoint: string;
  serviceName: string;
  /** Flushes the spans not exported yet and stops the exporter (on shutdown). */
  shutdown(): Promise<void>;
}

const PROTOCOLS = ['http/json', 'http/protobuf'] as const;

/**
 * Turns tracing on when `env.OTEL_TRACES_EXPORTER` is `otlp`; returns undefined (and loads
 * nothing) when it is unset or `none`. A value it cannot honour is a ConfigError naming the
 * variable (`grpc` is not supported: the mesh exports over HTTP only).
 */
export function initTracing(service: string, env: NodeJS.ProcessEnv = process.env): TracingSetup | undefined {
  const exporterName = (env.OTEL_TRACES_EXPORTER ?? '').trim();
  if (exporterName === '' || exporterName === 'none') return undefined;
  if (exporterName !== 'otlp') throw new ConfigError('OTEL_TRACES_EXPORTER', `must be otlp or none, got "${exporterName}"`);
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim();
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    const name = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
    throw new ConfigError(name, `must be one of ${PROTOCOLS.join(', ')} (the mesh exports OTLP over HTTP), got "${protocol}"`);
  }
  const sampler = env.OTEL_TRACES_SAMPLER?.trim();
  const samplers = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];
  if (sampler && !samplers.includes(sampler)) throw new ConfigError('OTEL_TRACES_SAMPLER', `must be one of ${samplers.join(', ')}, got "${sampler}"`);
  const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  if (arg && sampler?.endsWith('traceidratio') && !(Number(arg) >= 0 && Number(arg) <= 1)) {
    throw new ConfigError('OTEL_TRACES_SAMPLER_ARG', `must be a ratio between 0 and 1, got "${arg}"`);
  }
  const base = (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318').replace(/\/+$/, '');
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${base}/v1/traces`;
  try {
    new URL(endpoint);
  } catch {
    const name = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
    throw new ConfigError(name, `must be a URL such as http://127.0.0.1:4318, got "${endpoint}"`);
  }
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || service;

  // Loaded here and only here: with tracing off no SDK module is ever required.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const Exporter =
    protocol === 'http/json'
      ? (require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter
      : (require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter;
  /* eslint-enable @typescript-eslint/no-require-imports */
  // The exporter reads the endpoint, headers and timeout variables itself; the sampler
  // comes from OTEL_TRACES_SAMPLER/_ARG through the provider's environment defaults.
  const exporter = new Exporter({ url: endpoint });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000, maxQueueSize: 4096 })],
  });
  // Registers the AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
  activeTracer = trace.getTracer('recsys-mesh');
  shutdownProvider = () => provider.shutdown();
  return { protocol: protocol as TracingSetup['protocol'], endpoint, serviceName, shutdown: () => shutdownProvider?.() ?? Promise.resolve() };
}

const metadataGetter: TextMapGetter<grpc.Metadata> = {
  keys: (md) => Object.keys(md.getMap()),
  get: (md, key) => {
    const v = md.get(key);
    return v.length === 0 ? undefined : v.map(String);
  },
};

const metadataSetter: TextMapSetter<grpc.Metadata> = {
  set: (md, key, value) => md.set(key, value),
};

/** `/recsys.v1.RankerService/Rank` → rpc.service and rpc.method attributes. */
export function rpcAttributes(path: string): Attributes {
  const slash = path.lastIndexOf('/');
  return { 'rpc.system': 'grpc', 'rpc.service': path.slice(1, slash), 'rpc.method': path.slice(slash + 1) };
}

/** A SERVER span of one handled call, child of the caller's `traceparent`, and its context. */
export function startServerSpan(t: Tracer, method: string, metadata: grpc.Metadata): { span: Span; ctx: Context } {
  const parent = propagation.extract(ROOT_CONTEXT, metadata, metadataGetter);
  const span = t.startSpan(method.slice(1), { kind: SpanKind.SERVER, attributes: rpcAttributes(method) }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

/** Ends a span of an RPC with its gRPC status. */
export function endRpcSpan(span: Span, code: grpc.status, details?: string): void {
  span.setAttribute('rpc.grpc.status_code', code);
  if (code !== grpc.status.OK) span.setStatus({ code: SpanStatusCode.ERROR, message: details ?? grpc.status[code] });
  span.end();
}

/**
 * The client interceptor mesh clients get when tracing is on: a CLIENT span per call, child
 * of the active context, whose `traceparent` goes out in the call's metadata.
 */
export function tracingInterceptor(t: Tracer): grpc.Interceptor {
  return (options, nextCall) => {
    const path = options.method_definition.path;
    return new grpc.InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        const span = t.startSpan(path.slice(1), { kind: SpanKind.CLIENT, attributes: rpcAttributes(path) }, context.active());
        propagation.inject(trace.setSpan(context.active(), span), metadata, metadataSetter);
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            endRpcSpan(span, status.code, status.details);
            nextStatus(status);
          },
        });
      },
    });
  };
}

/**
 * Runs `fn` inside an INTERNAL span named `name` (child of the active context): the span is
 * active for `fn`, so calls it makes are its children. `fn` may set attributes on it; a throw
 * marks it as an error. With tracing off, `fn` runs directly with no span.
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  const t = activeTracer;
  if (!t) return fn(undefined);
  const span = t.startSpan(name, { attributes }, context.active());
  return context.with(trace.setSpan(context.active(), span), async () => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Runs `fn` with `ctx` active (the server kit runs each handler in its SERVER span). */
export function runInContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

/** Trace id of the active span (32 hex digits), or '' when none (tracing off). */
export function activeTraceId(): string {
  if (!activeTracer) return '';
  const span = trace.getSpan(context.active());
  return span ? span.spanContext().traceId : '';
}

/** `trace_id`/`span_id` of the active span for a log line (pino mixin); {} when none. */
export function traceLogFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const c = span.spanContext();
  return { trace_id: c.traceId, span_id: c.spanId };
}

/**
 * The trace id a caller sent in `traceparent` (W3C: `00-<32 hex>-<16 hex>-<2 hex>`), or ''.
 * Used by the request log when tracing is off but the caller traces.
 */
export function traceIdFromMetadata(metadata: grpc.Metadata): string {
  const v = metadata.get('traceparent')[0];
  if (typeof v !== 'string') return '';
  const m = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(v.trim());
  return m && m[1] !== '00000000000000000000000000000000' ? (m[1] as string) : '';
}
