/**
 * What `npm start` reads from the environment besides what it passes to the services: the
 * ports of each service and the restart policy of the supervisor. Every value is validated
 * before anything starts; a bad one is a {@link ConfigError} naming the variable.
 */
import { ConfigError } from '@recsys/core';
import { ConfigOf, combineConfigErrors, int, loadConfig } from '@recsys/grpc-kit';
import { DEFAULT_PORTS, SERVICE_NAMES, ServiceName } from './processes';
import { RestartPolicy } from './supervisor';

/** The variables that override each service's gRPC and metrics port under `npm start`. */
export const PORT_VARIABLES: Readonly<Record<ServiceName, { grpc: string; metrics: string }>> = {
  gateway: { grpc: 'GATEWAY_PORT', metrics: 'GATEWAY_METRICS_PORT' },
  'candidate-generator': { grpc: 'CANDIDATE_GENERATOR_PORT', metrics: 'CANDIDATE_GENERATOR_METRICS_PORT' },
  'feature-store': { grpc: 'FEATURE_STORE_PORT', metrics: 'FEATURE_STORE_METRICS_PORT' },
  ranker: { grpc: 'RANKER_PORT', metrics: 'RANKER_METRICS_PORT' },
};

/**
 * An unset metrics port is the service's gRPC port minus this (50051 → 9091, …: the
 * standard ports), so moving the gRPC ports moves the metrics ports with them.
 */
export const METRICS_PORT_OFFSET = 40960;

/** Lowest port a metrics port is derived to (below are privileged ports). */
const LOWEST_DERIVED_PORT = 1024;

const isSet = (raw: string | undefined): raw is string => raw !== undefined && raw.trim() !== '';

/**
 * Ports of the four services from `GATEWAY_PORT`, `GATEWAY_METRICS_PORT`, … (defaults:
 * the standard ports). A gRPC port is 1–65535; a metrics port is 1–65535 or -1 (off) and,
 * when unset, derived from the gRPC port ({@link METRICS_PORT_OFFSET}). No two may be equal.
 */
export function portsFromEnv(env: NodeJS.ProcessEnv = process.env): Record<ServiceName, { grpc: number; metrics: number }> {
  const out = {} as Record<ServiceName, { grpc: number; metrics: number }>;
  const problems: ConfigError[] = [];
  const read = (name: string, min: number, fallback: () => number): number => {
    const raw = env[name];
    if (!isSet(raw)) return fallback();
    try {
      return int(undefined, '', min, 65535).parse(raw);
    } catch (err) {
      problems.push(new ConfigError(name, (err as Error).message));
      return NaN;
    }
  };
  for (const name of SERVICE_NAMES) {
    const vars = PORT_VARIABLES[name];
    const grpc = read(vars.grpc, 1, () => DEFAULT_PORTS[name].grpc);
    const metrics = read(vars.metrics, -1, () => {
      const derived = grpc - METRICS_PORT_OFFSET;
      if (Number.isNaN(grpc) || derived >= LOWEST_DERIVED_PORT) return derived;
      problems.push(
        new ConfigError(
          vars.metrics,
          `is not set and cannot be derived from ${vars.grpc}=${grpc} (the derived port is the gRPC port − ${METRICS_PORT_OFFSET}, ` +
            `which needs ${vars.grpc} ≥ ${LOWEST_DERIVED_PORT + METRICS_PORT_OFFSET}): set ${vars.metrics} (or -1 for no metrics)`,
        ),
      );
      return NaN;
    });
    if (metrics === 0) problems.push(new ConfigError(vars.metrics, 'must be a fixed port (1–65535) or -1 (off), got 0: the printed address and restarts need a fixed one'));
    out[name] = { grpc, metrics };
  }
  if (problems.length === 0) {
    // Implied ports (defaults, derived) first, so a clash names a variable that was set.
    const entries = SERVICE_NAMES.flatMap((name) =>
      (['grpc', 'metrics'] as const).map((kind) => {
        const variable = PORT_VARIABLES[name][kind];
        const implied = isSet(env[variable]) ? '' : kind === 'grpc' ? ' (its default)' : ' (derived from the gRPC port)';
        return { port: out[name][kind], variable, implied };
      }),
    ).sort((a, b) => Number(a.implied === '') - Number(b.implied === ''));
    const owner = new Map<number, string>();
    for (const { port, variable, implied } of entries) {
      if (port === -1) continue;
      const other = owner.get(port);
      if (other) problems.push(new ConfigError(variable, `is ${port}${implied}, the same port as ${other}`));
      else owner.set(port, `${variable}${implied}`);
    }
  }
  const err = combineConfigErrors(problems);
  if (err) throw err;
  return out;
}

/** The supervisor's variables, with their defaults and meaning (the README documents them). */
export const RESTART_CONFIG = {
  RESTART_BACKOFF_MS: int(500, 'wait before the first restart of a service that exited; doubles with each crash in the window', 1, 600_000),
  RESTART_BACKOFF_MAX_MS: int(10_000, 'longest wait between restarts', 1, 600_000),
  RESTART_MAX_CRASHES: int(5, 'this many exits of one service within RESTART_WINDOW_MS stop the whole mesh (exit 1)', 1, 1000),
  RESTART_WINDOW_MS: int(60_000, 'the window the crashes are counted in', 1000, 86_400_000),
};

/** The restart policy from `RESTART_*` (see {@link RESTART_CONFIG}). */
export function restartPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): RestartPolicy {
  const c: ConfigOf<typeof RESTART_CONFIG> = loadConfig(RESTART_CONFIG, env);
  if (c.RESTART_BACKOFF_MAX_MS < c.RESTART_BACKOFF_MS) {
    throw new ConfigError('RESTART_BACKOFF_MAX_MS', `must be at least RESTART_BACKOFF_MS (${c.RESTART_BACKOFF_MS}), got ${c.RESTART_BACKOFF_MAX_MS}`);
  }
  return { backoffMs: c.RESTART_BACKOFF_MS, maxBackoffMs: c.RESTART_BACKOFF_MAX_MS, maxCrashes: c.RESTART_MAX_CRASHES, windowMs: c.RESTART_WINDOW_MS };
}
