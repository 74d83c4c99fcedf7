import { ConfigError } from '@recsys/core';
import { DESCRIPTOR_SET_PATH } from '@recsys/proto';
import { ConfigSpec, ConfigOf, loadConfig } from './config';
import { commonConfig } from './common-config';
import { createLogger, Logger, muteLogOutput } from './logger';
import { ServiceMetrics } from './metrics';
import { notifyParentReady, parentFdFromEnv, watchParent } from './parent-watch';
import { DescriptorIndex } from './reflection';
import { ServiceHost } from './server';
import { serverCredentials } from './tls';
import { initTracing, type TracingSetup } from './tracing';

/** What a service's setup receives. */
export interface ServiceKit<C> {
  config: C;
  log: Logger;
  metrics: ServiceMetrics;
  host: ServiceHost;
}

type CommonSpec = ReturnType<typeof commonConfig>;

export interface ServiceDefinitionOptions<S extends ConfigSpec> {
  /** Short name: `gateway`, `ranker`, … */
  name: string;
  /** The service's full config spec (commonConfig(...) merged with its own). */
  spec: S & CommonSpec;
  /**
   * Registers the service's handlers on `kit.host` and returns the initialisation to run
   * once the port is bound (load artifacts, open Redis, …). Throwing from either stops the
   * process with the error's message.
   */
  setup(kit: ServiceKit<ConfigOf<S & CommonSpec>>): Promise<() => Promise<void>> | (() => Promise<void>);
}

/**
 * The whole life of a service process, so every `main.ts` only wires:
 * config (a bad value exits 2 naming the variable) → logs and metrics → handlers → bind
 * (NOT_SERVING) → init → SERVING → drain on SIGTERM/SIGINT → exit 0. Started by a launcher
 * that set `RECSYS_PARENT_FD` (see parent-watch.ts), it also drains and exits when the
 * launcher is gone, at any stage of that life.
 */
export async function runService<S extends ConfigSpec>(def: ServiceDefinitionOptions<S>): Promise<ServiceHost> {
  let log: Logger | undefined;
  /** Stops the process: a ConfigError (a bad setting, at any stage) exits 2 with its message, anything else 1. */
  const fail = (stage: string, err: unknown): never => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${def.name}: ${err.message}\n`);
      process.exit(2);
    }
    log?.fatal({ err }, `${stage} failed: ${(err as Error).message}`);
    process.stderr.write(`${def.name}: ${stage} failed: ${(err as Error).message}\n`);
    process.exit(1);
  };
  let config: ConfigOf<S & CommonSpec>;
  let parentFd: number | undefined;
  let tracing: TracingSetup | undefined;
  try {
    config = loadConfig(def.spec);
    parentFd = parentFdFromEnv();
    // Before any client or server exists: they pick their tracing hooks up when made.
    tracing = initTracing(def.name);
  } catch (err) {
    return fail('configuration', err);
  }
  const common = config as unknown as ConfigOf<CommonSpec>;
  log = createLogger(def.name, common.LOG_LEVEL, { traceIds: tracing !== undefined });
  if (tracing) log.info({ protocol: tracing.protocol, endpoint: tracing.endpoint, serviceName: tracing.serviceName }, 'tracing on: exporting spans over OTLP');
  const metrics = new ServiceMetrics(def.name);
  let credentials: ReturnType<typeof serverCredentials>;
  try {
    credentials = serverCredentials(common);
  } catch (err) {
    return fail('TLS set-up', err);
  }
  const host = new ServiceHost({
    name: def.name,
    host: common.GRPC_HOST,
    port: common.GRPC_PORT,
    reflection: common.REFLECTION_ENABLED,
    descriptors: DescriptorIndex.fromFile(DESCRIPTOR_SET_PATH),
    drainTimeoutMs: common.DRAIN_TIMEOUT_MS,
    shutdownDelayMs: common.SHUTDOWN_DELAY_MS,
    log,
    metrics,
    maxConcurrentCalls: common.MAX_CONCURRENT_CALLS,
    maxConnectionAgeMs: common.MAX_CONNECTION_AGE_MS,
    maxMessageBytes: common.MAX_MESSAGE_BYTES,
    credentials,
    reflectionScope: common.REFLECTION_SCOPE as 'served' | 'all',
    transport: {
      maxConcurrentStreams: common.GRPC_MAX_CONCURRENT_STREAMS,
      maxConnectionIdleMs: common.GRPC_MAX_CONNECTION_IDLE_MS,
      maxConnections: common.MAX_CONNECTIONS,
      maxCallsPerConnection: common.MAX_CALLS_PER_CONNECTION,
      keepaliveTimeMs: common.GRPC_KEEPALIVE_TIME_MS,
      keepaliveTimeoutMs: common.GRPC_KEEPALIVE_TIMEOUT_MS,
      minPingIntervalMs: common.GRPC_MIN_PING_INTERVAL_MS,
    },
  });
  host.installSignalHandlers();
  if (parentFd !== undefined) {
    watchParent(parentFd, () => {
      // Nobody reads stdout/stderr any more: a write must neither crash the drain nor block
      // it (a full pipe makes a synchronous write retry forever, timers included).
      process.stdout.on('error', () => {});
      process.stderr.on('error', () => {});
      muteLogOutput();
      // Nobody is left to force a stuck drain either: bound it here.
      setTimeout(() => process.exit(1), common.SHUTDOWN_DELAY_MS + common.DRAIN_TIMEOUT_MS + 5000).unref();
      host.shutdown('launcher gone').then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
  let init: () => Promise<void> = async () => {};
  try {
    init = await def.setup({ config, log, metrics, host });
  } catch (err) {
    fail('setup', err);
  }
  try {
    const port = await host.start();
    log.info({ port, host: common.GRPC_HOST }, 'listening (NOT_SERVING until ready)');
  } catch (err) {
    fail('listen', err);
  }
  if (common.METRICS_PORT >= 0) {
    try {
      const m = await metrics.listen(common.METRICS_PORT, common.GRPC_HOST);
      host.onShutdown(m.close);
      log.info({ metricsPort: m.port }, 'metrics at /metrics');
    } catch (err) {
      fail('metrics listen', err);
    }
  }
  try {
    await init();
  } catch (err) {
    fail('initialisation', err);
  }
  if (tracing) {
    // The last hook: spans of the drained calls are flushed before the process exits.
    const t = tracing;
    host.onShutdown(() => t.shutdown());
  }
  host.markReady();
  if (parentFd !== undefined) notifyParentReady(parentFd, host.port);
  log.info({ port: host.port }, 'SERVING');
  return host;
}
