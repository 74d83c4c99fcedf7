import * as grpc from '@grpc/grpc-js';
import { DeadlineExceededError } from './errors';

/** Channel options every client of the mesh uses. */
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
export function toTarget(address: string): string {
  const parts = address.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length <= 1) return address.trim();
  return `ipv4:${parts.join(',')}`;
}

const SERVICE_CONFIG = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/**
 * Makes a client of a generated ts-proto client class with the mesh's channel settings
 * (round-robin over every resolved address, keepalive).
 */
export function createClient<C extends grpc.Client>(
  Ctor: new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C,
  address: string,
  options: ClientOptions = {},
): C {
  return new Ctor(toTarget(address), options.credentials ?? grpc.credentials.createInsecure(), {
    'grpc.service_config': SERVICE_CONFIG,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
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

/**
 * Calls a unary method with a deadline, as a promise. A deadline already past fails at
 * once with DEADLINE_EXCEEDED, without a network round trip.
 *
 * ```ts
 * const res = await callUnary(client.rank.bind(client), req, { deadline: Date.now() + 50 });
 * ```
 */
export function callUnary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, options: UnaryCallOptions): Promise<Res> {
  if (!(options.deadline > Date.now())) {
    return Promise.reject(new DeadlineExceededError('no time left in the deadline budget'));
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

/** Resolves when the client's channel is READY, or rejects at `deadline`. */
export function waitForReady(client: grpc.Client, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => client.waitForReady(deadline, (err) => (err ? reject(err) : resolve())));
}
