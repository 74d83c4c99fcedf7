import { execFile } from 'node:child_process';
import * as net from 'node:net';
import { promisify } from 'node:util';
import { freePort } from '@recsys/local';
import { RedisServer, startRedis } from './helpers';

const execFileP = promisify(execFile);

/** A real local Redis Cluster of three masters (no replicas) started by a test. */
export interface RedisCluster {
  nodes: RedisServer[];
  /** Seed list for REDIS_URL with REDIS_MODE=cluster. */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts three `redis-server --cluster-enabled yes` on free ports, joins them with
 * `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, and waits until
 * every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(await startRedis(await clusterPort(), ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000']));
    }
    const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
    await execFileP('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 60_000 });
    const until = Date.now() + 30_000;
    for (;;) {
      const states = await Promise.all(
        nodes.map(async (n) => (await execFileP('redis-cli', ['-p', String(n.port), 'cluster', 'info'])).stdout.includes('cluster_state:ok')),
      );
      if (states.every(Boolean)) break;
      if (Date.now() > until) throw new Error(`redis cluster on ${addrs.join(', ')} did not reach cluster_state:ok`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { nodes, url: nodes.map((n) => n.url).join(','), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A free port whose cluster bus port (port + 10000) is a valid, free port too. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p + 10_000 > 65_535) continue;
    const bus = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(p + 10_000, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (bus) return p;
  }
}

/** Number of keys each node holds (DBSIZE), in node order. */
export async function keysPerNode(cluster: RedisCluster): Promise<number[]> {
  return Promise.all(cluster.nodes.map(async (n) => Number((await execFileP('redis-cli', ['-p', String(n.port), 'dbsize'])).stdout.trim())));
}
