import { Redis } from 'ioredis';

/**
 * An ioredis client that fails fast instead of hanging: commands time out, a command
 * issued while disconnected is retried at most once, and the reconnect backoff is
 * capped so the store recovers by itself when Redis returns.
 */
export function createRedisClient(url: string, commandTimeoutMs: number): Redis {
  return new Redis(url, {
    lazyConnect: true,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 1,
    connectTimeout: Math.max(1000, commandTimeoutMs),
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
  });
}
