import pino from 'pino';
import { traceLogFields } from './tracing';

export type Logger = pino.Logger;

/**
 * Where every service logger writes: standard output, synchronously, unless
 * {@link muteLogOutput} was called. A synchronous write to a pipe nobody reads any more
 * (the launcher was killed) either fails or, when the pipe is full, makes pino's
 * destination retry in a blocking loop that also stops every timer; once muted, lines are
 * dropped instead, and a write error mutes the output the same way.
 */
let muted = false;
let destination: pino.DestinationStream | undefined;

function output(): pino.DestinationStream {
  if (destination) return destination;
  const stdout = pino.destination({ fd: 1, sync: true });
  stdout.on('error', () => {
    muted = true;
  });
  destination = {
    write(line: string): void {
      if (!muted) stdout.write(line);
    },
  };
  return destination;
}

/** Drops every later log line of every logger from {@link createLogger} (its reader is gone). */
export function muteLogOutput(): void {
  muted = true;
}

/**
 * A JSON logger (pino) tagged with the service name; level from LOG_LEVEL. With `traceIds`
 * (tracing on) every line written while a span is active carries its `trace_id` and `span_id`.
 */
export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? 'info', opts: { traceIds?: boolean } = {}): Logger {
  return pino(
    { level, base: { service, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, ...(opts.traceIds ? { mixin: traceLogFields } : {}) },
    output(),
  );
}
