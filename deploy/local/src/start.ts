/**
 * `npm start`: builds the synthetic artifact if there is none, starts the four services
 * on loopback as separate processes, waits until all are SERVING, prints how to call
 * them, and stops them all on Ctrl-C.
 *
 * Environment: ARTIFACTS_DIR (default ./artifacts), REDIS_URL (Redis feature store;
 * materialize first), GATEWAY_PORT, CANDIDATE_GENERATOR_PORT, FEATURE_STORE_PORT,
 * RANKER_PORT (defaults 50051..50054), LOG_LEVEL.
 */
import * as path from 'node:path';
import { loadArtifacts } from '@recsys/core';
import { ensureArtifacts } from '@recsys/offline';
import { DEFAULT_PORTS, SERVICE_NAMES, ServiceName } from './processes';
import { startMesh } from './mesh';

const PORT_VARS: Record<ServiceName, string> = {
  gateway: 'GATEWAY_PORT',
  'candidate-generator': 'CANDIDATE_GENERATOR_PORT',
  'feature-store': 'FEATURE_STORE_PORT',
  ranker: 'RANKER_PORT',
};

function portsFromEnv(): Record<ServiceName, { grpc: number; metrics: number }> {
  const out = {} as Record<ServiceName, { grpc: number; metrics: number }>;
  for (const name of SERVICE_NAMES) {
    const raw = process.env[PORT_VARS[name]];
    let grpc = DEFAULT_PORTS[name].grpc;
    if (raw !== undefined && raw !== '') {
      grpc = Number(raw);
      if (!Number.isInteger(grpc) || grpc < 1 || grpc > 65535) throw new Error(`${PORT_VARS[name]} must be a port number, got "${raw}"`);
    }
    out[name] = { grpc, metrics: DEFAULT_PORTS[name].metrics };
  }
  return out;
}

/** Renders a child's JSON log line as `[service] level message {extra}`. */
function formatLine(service: string, line: string): string {
  try {
    const { level, msg, time: _t, pid: _p, service: _s, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
    const names: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
    const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    return `[${service}] ${names[level as number] ?? level} ${msg}${extra}`;
  } catch {
    return `[${service}] ${line}`;
  }
}

async function main(): Promise<void> {
  const artifactsRoot = path.resolve(process.env.ARTIFACTS_DIR ?? 'artifacts');
  const ports = portsFromEnv();
  const versionDir = await ensureArtifacts(artifactsRoot);
  const { userIds, userHistory } = loadArtifacts(versionDir, ['userIds', 'userHistory']);
  const exampleUser = userIds.find((u) => (userHistory.get(u)?.length ?? 0) > 0) ?? userIds[0] ?? 'u1';
  const redisUrl = process.env.REDIS_URL || undefined;
  process.stdout.write(`starting the mesh (artifacts ${versionDir}, feature store ${redisUrl ? `redis ${redisUrl}` : 'memory'})\n`);
  const mesh = await startMesh({
    artifactsDir: artifactsRoot,
    ports,
    redisUrl,
    onLine: (service, line) => process.stdout.write(`${formatLine(service, line)}\n`),
  });
  const gw = mesh.gatewayAddress;
  const lines = [
    '',
    'recsys mesh is SERVING:',
    ...SERVICE_NAMES.map((n) => `  ${n.padEnd(20)} ${mesh.services[n].address}   metrics http://${mesh.services[n].address.split(':')[0]}:${mesh.services[n].metricsPort}/metrics`),
    '',
    'Try it:',
    `  grpcurl -plaintext -d '{"user_id":"${exampleUser}","k":10}' ${gw} recsys.v1.GatewayService/Recommend`,
    `  /usr/bin/python3 tools/grpc_probe.py ${gw} call recsys.v1.GatewayService/Recommend '{"userId":"${exampleUser}","k":10}'`,
    `  npm run recommend -- --user ${exampleUser} --addr ${gw}`,
    '',
    'Ctrl-C stops all four services.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${sig}: stopping the mesh…\n`);
    mesh.stop().then(
      () => {
        process.stdout.write('all services stopped\n');
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`stop failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  for (const name of SERVICE_NAMES) {
    void mesh.services[name].exited.then(({ code, signal }) => {
      if (stopping) return;
      process.stderr.write(`${name} exited unexpectedly (code ${code}, signal ${signal}); stopping the mesh\n`);
      stop('service exit');
    });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`npm start: ${(err as Error).message}\n`);
  process.exit(1);
});
