import { Cluster, Redis, RedisOptions } from 'ioredis';
import type { RedisLike } from './redis-realtime';

/** How the feature store reaches Redis. */
export type RedisMode = 'single' | 'cluster';

/**
 * An ioredis client (a single node, or a Cluster seeded from a comma-separated URL list)
 * that fails fast instead of hanging: commands time out after `commandTimeoutMs`, a
 * command issued while disconnected fails at once (no offline queue), and reconnection
 * keeps trying with a backoff capped at 2 s, so the store recovers by itself when Redis
 * returns. Commands issued in the same tick are auto-pipelined (one write per node).
 */
export function createRedisClient(url: string, commandTimeoutMs: number, mode: RedisMode = 'single'): RedisLike {
  const options: RedisOptions = {
    lazyConnect: true,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    connectTimeout: Math.max(1000, commandTimeoutMs),
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
  };
  if (mode === 'single') return new Redis(url, options);
  const seeds = url.split(',').map((u, i) => {
    let parsed: URL;
    try {
      parsed = new URL(u.trim());
    } catch {
      throw new Error(`REDIS_URL entry ${i + 1} ("${u}") is not a URL like redis://host:port`);
    }
    return { host: parsed.hostname, port: Number(parsed.port || 6379) };
  });
  const { enableOfflineQueue: _q, lazyConnect: _l, ...perNode } = options;
  return new Cluster(seeds, {
    lazyConnect: true,
    // The cluster client queues while it learns the slot map; each node's own client fails fast.
    enableOfflineQueue: true,
    enableAutoPipelining: true,
    redisOptions: perNode,
    clusterRetryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
    slotsRefreshTimeout: Math.max(1000, commandTimeoutMs),
  });
}

/** Connects and waits until the client can serve commands (cluster: slot map known). */
export async function connectRedis(redis: RedisLike): Promise<void> {
  await redis.connect();
  if (redis instanceof Cluster && redis.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      redis.once('ready', () => resolve());
      redis.once('error', reject);
    });
  }
}

/**
 * Connects a client that is idle (never started, or ended); one that is already
 * connecting or reconnecting is left to ioredis, which keeps trying by itself, and only
 * reported. Resolves once it serves commands.
 *
 * @throws Error naming the client's state while it is not ready yet
 */
export async function ensureConnected(redis: RedisLike): Promise<void> {
  if (redis.status === 'wait' || redis.status === 'end') await connectRedis(redis);
  else if (redis.status !== 'ready') throw new Error(`Redis not reachable yet (${redis.status})`);
}

/** The master nodes to scan (the client itself when single). */
export function masterNodes(redis: RedisLike): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}
