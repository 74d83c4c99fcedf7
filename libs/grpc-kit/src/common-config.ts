import { bool, int, port, str } from './config';

/**
 * Variables every service reads. Each service adds its own to these; the README's
 * configuration table and the deploy tests are generated from the merged specs.
 */
export function commonConfig(defaults: { grpcPort: number; metricsPort: number }) {
  return {
    GRPC_HOST: str('0.0.0.0', 'address the gRPC server binds to'),
    GRPC_PORT: port(defaults.grpcPort, 'port the gRPC server listens on (0 = any free port)'),
    METRICS_PORT: int(defaults.metricsPort, 'port of the Prometheus /metrics endpoint (0 = any free port, -1 = off)', -1, 65535),
    LOG_LEVEL: str('info', 'log level', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    REFLECTION_ENABLED: bool(true, 'serve gRPC server reflection (grpcurl describe/call)'),
    SHUTDOWN_DELAY_MS: int(0, 'time between NOT_SERVING and closing the listener on SIGTERM', 0, 600_000),
    DRAIN_TIMEOUT_MS: int(10_000, 'upper bound for in-flight calls to finish on SIGTERM before forcing', 0, 600_000),
  };
}
