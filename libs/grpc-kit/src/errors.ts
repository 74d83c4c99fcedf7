import { status as Status } from '@grpc/grpc-js';
import { DomainError, type ErrorCode } from '@recsys/core';

/** The gRPC status of each domain error code: the one place the mapping is written. */
const GRPC_STATUS: Readonly<Record<ErrorCode, Status>> = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  NOT_FOUND: Status.NOT_FOUND,
  FAILED_PRECONDITION: Status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: Status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: Status.UNAVAILABLE,
  DEADLINE_EXCEEDED: Status.DEADLINE_EXCEEDED,
  CANCELLED: Status.CANCELLED,
};

/**
 * The error boundary: what the server sends to the caller for a thrown value. A
 * {@link DomainError} (from @recsys/core) keeps its message under the gRPC status of its
 * code; an aborted signal is CANCELLED; anything else is INTERNAL without details.
 */
export function toServiceError(err: unknown): { code: Status; details: string; internal: boolean } {
  if (err instanceof DomainError) return { code: GRPC_STATUS[err.code], details: err.message, internal: false };
  // signal.throwIfAborted() in a handler: the caller cancelled or its deadline passed.
  // (A DOMException is not an Error in every realm, so test the name.)
  if (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError') return { code: Status.CANCELLED, details: 'call cancelled by the client', internal: false };
  return { code: Status.INTERNAL, details: 'internal error', internal: true };
}
