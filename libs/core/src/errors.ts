/**
 * Errors the mesh's logic throws on purpose, each with its own transport-neutral code.
 * Pure modules (feature registry, real-time events, retrieval, …) throw these without
 * knowing about gRPC; the kit's error boundary (`toServiceError` in @recsys/grpc-kit) is
 * the one place that maps a code to a gRPC status. Anything else thrown becomes INTERNAL
 * there, with no internals leaked.
 */

/** What went wrong, in the vocabulary of the gRPC status codes (mapped 1:1 by the kit). */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'CANCELLED';

/**
 * A failure reported on purpose; `code` says how a caller should treat it. The common
 * cases have their own classes below; others are `new DomainError('NOT_FOUND', …)`.
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad request content; the message starts with the field (`k: must be …`). Never retried by clients. */
export class InvalidArgumentError extends DomainError {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super('INVALID_ARGUMENT', `${field}: ${problem}`);
  }
}

/** The service cannot answer now (a dependency is down, or it is not ready). */
export class UnavailableError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNAVAILABLE', message, options);
  }
}

/**
 * A bad or missing configuration value (environment variable or setting); the message
 * names it: `configuration: GRPC_PORT must be between 0 and 65535, got 70000`. A service
 * that meets one at start exits with code 2.
 */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}
