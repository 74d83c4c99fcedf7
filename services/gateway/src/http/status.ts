/**
 * Errors over HTTP: the gRPC status code of the failure (the same the gRPC API would
 * give), the HTTP status it maps to (the mapping of google/rpc/code.proto that
 * grpc-gateway and Envoy use), and a google.rpc.Status-shaped JSON body.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { toServiceError } from '@recsys/grpc-kit';

/** HTTP status of each gRPC code. */
export const HTTP_STATUS_OF: Readonly<Record<GrpcStatus, number>> = {
  [GrpcStatus.OK]: 200,
  [GrpcStatus.CANCELLED]: 499,
  [GrpcStatus.UNKNOWN]: 500,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.FAILED_PRECONDITION]: 400,
  [GrpcStatus.ABORTED]: 409,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNIMPLEMENTED]: 501,
  [GrpcStatus.INTERNAL]: 500,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DATA_LOSS]: 500,
  [GrpcStatus.UNAUTHENTICATED]: 401,
};

/** A failure to send: gRPC code and message. */
export interface RpcFailure {
  code: GrpcStatus;
  message: string;
  /** True for an unexpected error (logged; the caller gets no details). */
  internal: boolean;
}

/** The gRPC failure of a thrown value: a domain error, a downstream gRPC error (its code and details kept), or INTERNAL. */
export function toRpcFailure(err: unknown): RpcFailure {
  if (err && typeof err === 'object' && typeof (err as { code?: unknown }).code === 'number' && typeof (err as { details?: unknown }).details === 'string') {
    const { code, details } = err as { code: number; details: string };
    if (code in HTTP_STATUS_OF && code !== GrpcStatus.OK) return { code, message: details, internal: false };
  }
  const { code, details, internal } = toServiceError(err);
  return { code, message: details, internal };
}

/** The google.rpc.Status JSON of a failure; INVALID_ARGUMENT messages `field: problem` carry a BadRequest field violation. */
export function statusBody(failure: Pick<RpcFailure, 'code' | 'message'>, requestId: string): Record<string, unknown> {
  const details: Record<string, unknown>[] = [];
  const m = /^([A-Za-z_][\w.[\]-]*): (.*)$/s.exec(failure.message);
  if (failure.code === GrpcStatus.INVALID_ARGUMENT && m) {
    details.push({ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: m[1], description: m[2] }] });
  }
  details.push({ '@type': 'type.googleapis.com/google.rpc.RequestInfo', requestId });
  return { code: failure.code, message: failure.message, details };
}
