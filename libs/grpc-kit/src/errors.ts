import { status as Status } from '@grpc/grpc-js';

/**
 * A failure a handler reports on purpose. Handlers throw these; the error boundary
 * ({@link toServiceError}) turns them into gRPC statuses. Anything else thrown becomes
 * INTERNAL with no internals leaked.
 */
export class DomainError extends Error {
  constructor(
    readonly code: Status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad request content; the message names the field. Never retried by clients. */
export class InvalidArgumentError extends DomainError {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(Status.INVALID_ARGUMENT, `${field}: ${problem}`);
  }
}

/** The thing asked for does not exist. */
export class NotFoundError extends DomainError {
  constructor(message: string) {
    super(Status.NOT_FOUND, message);
  }
}

/** The service cannot answer now (a dependency is down, or it is not ready). */
export class UnavailableError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(Status.UNAVAILABLE, message, options);
  }
}

/** The request is valid but the system is not in a state to run it. */
export class FailedPreconditionError extends DomainError {
  constructor(message: string) {
    super(Status.FAILED_PRECONDITION, message);
  }
}

/** Too much load: rejected fast instead of queued. */
export class ResourceExhaustedError extends DomainError {
  constructor(message: string) {
    super(Status.RESOURCE_EXHAUSTED, message);
  }
}

/** The deadline ran out before the work finished. */
export class DeadlineExceededError extends DomainError {
  constructor(message: string) {
    super(Status.DEADLINE_EXCEEDED, message);
  }
}

/** The caller went away; work stopped. */
export class CancelledError extends DomainError {
  constructor(message = 'call cancelled by the client') {
    super(Status.CANCELLED, message);
  }
}

/** The shape of a gRPC error as grpc-js clients produce it. */
export interface GrpcCallError extends Error {
  code: Status;
  details: string;
}

/** True when `err` is an error returned by a grpc-js client call. */
export function isGrpcCallError(err: unknown): err is GrpcCallError {
  return err instanceof Error && typeof (err as Partial<GrpcCallError>).code === 'number' && 'details' in err;
}

/** What the boundary sends to the caller for a thrown value. */
export function toServiceError(err: unknown): { code: Status; details: string; internal: boolean } {
  if (err instanceof DomainError) return { code: err.code, details: err.message, internal: false };
  // signal.throwIfAborted() in a handler: the caller cancelled or its deadline passed.
  // (A DOMException is not an Error in every realm, so test the name.)
  if (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError') return { code: Status.CANCELLED, details: 'call cancelled by the client', internal: false };
  return { code: Status.INTERNAL, details: 'internal error', internal: true };
}
