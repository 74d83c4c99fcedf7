/**
 * `npm start`: builds the synthetic artifact if there is none, starts the four services
 * on loopback as separate processes, waits until all are SERVING, prints how to call
 * them, restarts a service that exits (supervisor.ts), and stops them all on Ctrl-C.
 *
 * Environment: ARTIFACTS_DIR (default ./artifacts), REDIS_URL (Redis feature store;
 * materialize first), GATEWAY_PORT, CANDIDATE_GENERATOR_PORT, FEATURE_STORE_PORT,
 * RANKER_PORT (defaults 50051..50054) and their *_METRICS_PORT, HTTP_PORT (the gateway's
 * HTTP/JSON API, default 8080; HTTP_ENABLED=false turns it off), RESTART_* (launch-config.ts),
 * LOG_LEVEL; every other variable (OTEL_*, REQUEST_LOG_*, EXPERIMENT_FILE, …) reaches every service.
 */
import * as path from 'node:path';
import { loadArtifacts } from '@recsys/core';
import { ConfigError } from '@recsys/core';
import { ensureArtifacts } from '@recsys/offline';
import { SERVICE_NAMES, Supervisor, portsFromEnv, restartPolicyFromEnv, startMesh } from '@recsys/local';

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

/**
 * The rollout tools this environment turns on (README "Rolling out a model"). Every
 * service inherits the launcher's environment, so OTEL_*, REQUEST_LOG_*, SHADOW_* and
 * EXPERIMENT_FILE reach the services that read them.
 */
function rolloutLines(env: NodeJS.ProcessEnv = process.env): string[] {
  const lines: string[] = [];
  if (env.OTEL_TRACES_EXPORTER === 'otlp') {
    lines.push(`Tracing: OTLP ${env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf'} to ${env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318'} (/v1/traces)`}`);
  }
  if (Number(env.REQUEST_LOG_SAMPLE ?? 0) > 0) {
    const sink = env.REQUEST_LOG_REDIS_URL || env.REDIS_URL ? `redis stream ${env.REQUEST_LOG_STREAM ?? 'recsys:requests'}` : path.resolve(env.REQUEST_LOG_FILE ?? 'request-log/requests.jsonl');
    lines.push(`Request log: ${env.REQUEST_LOG_SAMPLE} of the calls to ${sink}`);
  }
  if (env.EXPERIMENT_FILE) lines.push(`Experiment: ${path.resolve(env.EXPERIMENT_FILE)} (re-read every ${env.EXPERIMENT_POLL_MS ?? 1000} ms)`);
  if (Number(env.SHADOW_MAX_IN_FLIGHT ?? 0) > 0) lines.push(`Shadow scoring: on, at most ${env.SHADOW_MAX_IN_FLIGHT} at once`);
  return lines.length ? [...lines, ''] : [];
}

async function main(): Promise<void> {
  const artifactsRoot = path.resolve(process.env.ARTIFACTS_DIR ?? 'artifacts');
  const ports = portsFromEnv();
  const policy = restartPolicyFromEnv();
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
  const http = mesh.gatewayHttpAddress;
  const lines = [
    '',
    'recsys mesh is SERVING:',
    ...SERVICE_NAMES.map((n) => {
      const { address, metricsPort, child } = mesh.services[n];
      const metrics = metricsPort === -1 ? 'metrics off' : `metrics http://${address.split(':')[0]}:${metricsPort}/metrics`;
      return `  ${n.padEnd(20)} ${address}   ${metrics}   pid ${child.pid}`;
    }),
    ...(http
      ? [`  ${'gateway HTTP/JSON'.padEnd(20)} http://${http}   docs http://${http}/docs   console http://${http}/console`]
      : ['  gateway HTTP/JSON    off (HTTP_ENABLED=false)']),
    '',
    'Try it:',
    ...(http
      ? [
          `  curl -s -X POST http://${http}/v1/recommendations -H 'content-type: application/json' -d '{"user_id":"${exampleUser}","k":10}'`,
          `  open http://${http}/console/?user=${encodeURIComponent(exampleUser)} in a browser`,
        ]
      : []),
    `  grpcurl -plaintext -d '{"user_id":"${exampleUser}","k":10}' ${gw} recsys.v1.GatewayService/Recommend`,
    `  /usr/bin/python3 tools/grpc_probe.py ${gw} call recsys.v1.GatewayService/Recommend '{"userId":"${exampleUser}","k":10}'`,
    `  npm run recommend -- --user ${exampleUser} --addr ${gw}`,
    '',
    ...rolloutLines(),
    `A service that exits is restarted (after ${policy.backoffMs} ms, doubling); ${policy.maxCrashes} exits within ${policy.windowMs / 1000} s stop the mesh.`,
    'Ctrl-C stops all four services.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const supervisor = new Supervisor(mesh, {
    policy,
    log: (message) => process.stderr.write(`[launcher] ${message}\n`),
    formatLine,
  });
  let stopping = false;
  const stop = (sig: string): void => {
    // A give-up in progress stops the mesh already, then exits 1.
    if (stopping || supervisor.stopped) return;
    stopping = true;
    process.stdout.write(`\n${sig}: stopping the mesh…\n`);
    supervisor.stop().then(
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
  void supervisor.gaveUp.then(({ service }) => {
    process.stderr.write(`npm start: stopped because ${service} kept crashing\n`);
    process.exit(1);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`npm start: ${(err as Error).message}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
