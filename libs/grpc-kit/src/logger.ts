import pino from 'pino';
import { traceLogFields } from './tracing';

export type Logger = pino.Logger;

/**
 * A JSON logger (pino) tagged with the service name; level from LOG_LEVEL. With `traceIds`
 * (tracing on) every line written while a span is active carries its `trace_id` and `span_id`.
 */
export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? 'info', opts: { traceIds?: boolean } = {}): Logger {
  return pino({
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(opts.traceIds ? { mixin: traceLogFields } : {}),
  });
}
