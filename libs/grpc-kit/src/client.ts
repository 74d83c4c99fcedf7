import * as grpc from '@grpc/grpc-js';
import { tracer, tracingInterceptor } from './tracing';

/** Reconnect back-off of every mesh client: first retry after this, then growing to {@link RECONNECT_BACKOFF_MAX_MS}. */
export const RECONNECT_BACKOFF_INITIAL_MS = 100;
/** Receive window of every client channel, per stream and per connection (bytes). */
export const FLOW_CONTROL_WINDOW = 1024 * 1024;
/**
 * Longest wait between reconnect attempts to a downstream that is gone. grpc-js's default
 * grows to 120 s (after 40 s down, about 14 s passed before it tried again); capped here,
 * a recovered downstream gets calls again within about this long (plus 20 % jitter) of
 * accepting connections.
 */
export const RECONNECT_BACKOFF_MAX_MS = 500;

export interface ClientOptions {
  /** Extra channel options (TLS, message sizes, …). */
  channelOptions?: grpc.ChannelOptions;
  credentials?: grpc.ChannelCredentials;
}

/**
 * The gRPC target for an address setting: a single `host:port` is used as is; a
 * comma-separated list becomes a static `ipv4:`/`ipv6:` list that round_robin spreads
 * calls over; `dns:` names resolve to every A record, also balanced round-robin.
 */
function toTarget(address: string): string {
  const parts = address.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length <= 1) return address.trim();
  return `ipv4:${parts.join(',')}`;
}

/**
 * The gRPC service config every mesh client uses:
 * - round_robin over every resolved address, wrapped in outlier detection: a replica whose
 *   calls mostly fail or time out (≥ 50 % of ≥ 10 calls in a 1 s interval) is ejected for
 *   5 s and up, while at least half the replicas stay in rotation;
 * - every method is an idempotent read, so a call that fails UNAVAILABLE (replica died,
 *   connection refused or reset) is retried on another replica: at most 3 attempts, 10–100 ms
 *   back-off, always within the call's own deadline. Only UNAVAILABLE is retried: never
 *   INVALID_ARGUMENT (same answer again) nor DEADLINE_EXCEEDED (no time left);
 * - retryThrottling (100 tokens, −1 per failure, +0.1 per success, retries only above 50)
 *   stops retries once failures clearly outnumber successes, so a dead service is not hit
 *   with three times the traffic.
 */
const MESH_SERVICE_CONFIG = {
  loadBalancingConfig: [
    {
      outlier_detection: {
        interval: { seconds: 1, nanos: 0 },
        base_ejection_time: { seconds: 5, nanos: 0 },
        max_ejection_time: { seconds: 30, nanos: 0 },
        max_ejection_percent: 50,
        failure_percentage_ejection: { threshold: 50, enforcement_percentage: 100, minimum_hosts: 2, request_volume: 10 },
        child_policy: [{ round_robin: {} }],
      },
    },
  ],
  methodConfig: [
    {
      name: [{}],
      retryPolicy: {
        maxAttempts: 3,
        initialBackoff: '0.01s',
        maxBackoff: '0.1s',
        backoffMultiplier: 2,
        retryableStatusCodes: ['UNAVAILABLE'],
      },
    },
  ],
  // A burst of failures (one replica dying under 8+ concurrent calls) must still be
  // retried, so the bucket is deep; a dead service drains it after ~50 failed calls and
  // retries stop until 10 successes per failure refill it.
  retryThrottling: { maxTokens: 100, tokenRatio: 0.1 },
};
const SERVICE_CONFIG = JSON.stringify(MESH_SERVICE_CONFIG);

/**
 * Makes a client of a generated ts-proto client class with the mesh's channel settings
 * ({@link MESH_SERVICE_CONFIG}: round-robin with outlier ejection, bounded and throttled
 * retries of UNAVAILABLE; keepalive). Pass `credentials` from {@link channelCredentials}
 * for TLS.
 */
export function createClient<C extends grpc.Client>(
  Ctor: new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C,
  address: string,
  options: ClientOptions = {},
): C {
  // Tracing on (initTracing ran before the clients were made): a CLIENT span per call and
  // its traceparent in the metadata. Off: no interceptor at all.
  const t = tracer();
  return new Ctor(toTarget(address), options.credentials ?? grpc.credentials.createInsecure(), {
    ...(t ? { interceptors: [tracingInterceptor(t)] } : {}),
    'grpc.service_config': SERVICE_CONFIG,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.initial_reconnect_backoff_ms': RECONNECT_BACKOFF_INITIAL_MS,
    'grpc.max_reconnect_backoff_ms': RECONNECT_BACKOFF_MAX_MS,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    // channelz bookkeeping costs every call; nothing in the mesh reads it.
    'grpc.enable_channelz': 0,
    // Receive window of 1 MiB per stream and per connection instead of HTTP/2's 64 KiB: with
    // the default, the 19 KB item-feature replies cost a WINDOW_UPDATE frame (a write here,
    // a read and a wake-up in the server) every second call; now one per ~50.
    'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
    ...options.channelOptions,
  });
}

/** Per-call options: a deadline is mandatory. */
export interface UnaryCallOptions {
  /** Absolute deadline, ms since epoch. */
  deadline: number;
  /** Cancels the call when aborted (e.g. the incoming call was cancelled). */
  signal?: AbortSignal;
  metadata?: grpc.Metadata;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/** The error grpc-js would give for a call whose deadline passed: same shape (code, details, metadata). */
export function deadlinePassed(): grpc.ServiceError {
  const details = 'no time left in the deadline budget';
  return Object.assign(new Error(`${grpc.status.DEADLINE_EXCEEDED} DEADLINE_EXCEEDED: ${details}`), { code: grpc.status.DEADLINE_EXCEEDED, details, metadata: new grpc.Metadata() });
}

/**
 * Calls a unary method with a deadline, as a promise. A deadline already past fails at
 * once with DEADLINE_EXCEEDED (a grpc-js ServiceError like any failed call), without a
 * network round trip.
 *
 * ```ts
 * const res = await callUnary(client.rank.bind(client), req, { deadline: Date.now() + 50 });
 * ```
 */
export function callUnary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, options: UnaryCallOptions): Promise<Res> {
  if (!(options.deadline > Date.now())) {
    return Promise.reject(deadlinePassed());
  }
  return new Promise<Res>((resolve, reject) => {
    const call = method(request, options.metadata ?? new grpc.Metadata(), { deadline: options.deadline }, (err, res) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(res);
    });
    const onAbort = (): void => call.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
