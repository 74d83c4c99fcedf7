import pino from 'pino';

export type Logger = pino.Logger;

/** A JSON logger (pino) tagged with the service name; level from LOG_LEVEL. */
export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { service, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
