import { DEFAULT_ARTIFACT_POLL_MS } from '@recsys/core';
import { bool, int, optionalStr, port, str } from './config';

/**
 * Variables every service reads. Each service adds its own to these; the README's
 * configuration table and the deploy tests are generated from the merged specs.
 */
export function commonConfig(defaults: { grpcPort: number; metricsPort: number; callsPerConnection?: number; reflectionScope?: 'served' | 'all' }) {
  return {
    GRPC_HOST: str('127.0.0.1', 'address the gRPC server (and /metrics) binds to: loopback unless set; 0.0.0.0 for every interface (the Kubernetes manifests set it)'),
    GRPC_PORT: port(defaults.grpcPort, 'port the gRPC server listens on (0 = any free port)'),
    METRICS_PORT: int(defaults.metricsPort, 'port of the Prometheus /metrics endpoint (0 = any free port, -1 = off)', -1, 65535),
    LOG_LEVEL: str('info', 'log level', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    REFLECTION_ENABLED: bool(true, 'serve gRPC server reflection (grpcurl describe/call)'),
    SHUTDOWN_DELAY_MS: int(0, 'time between NOT_SERVING and closing the listener on SIGTERM', 0, 600_000),
    DRAIN_TIMEOUT_MS: int(10_000, 'upper bound for in-flight calls to finish on SIGTERM before forcing', 0, 600_000),
    REFLECTION_SCOPE: str(defaults.reflectionScope ?? 'all', 'what reflection describes: served (only the services of this process and their imports: the gateway\'s default, so it shows its public API and not the internal services\' contracts) or all (every contract of the mesh)', ['served', 'all']),
    MAX_CONCURRENT_CALLS: int(
      128,
      'calls handled at once; one more is rejected RESOURCE_EXHAUSTED at once instead of queueing (0 = unbounded)',
      0,
      100_000,
    ),
    MAX_CALLS_PER_CONNECTION: int(
      defaults.callsPerConnection ?? 0,
      "calls one client connection may have in flight, its share of MAX_CONCURRENT_CALLS, so one client cannot take every slot (at most MAX_CONCURRENT_CALLS; 0 = no share: the internal services' default, their one caller, the gateway, multiplexes every request on one connection)",
      0,
      100_000,
    ),
    MAX_CONNECTIONS: int(256, 'client connections open at once; every call on one more is answered RESOURCE_EXHAUSTED naming the limit and it is closed (0 = unbounded)', 0, 1_000_000),
    GRPC_MAX_CONCURRENT_STREAMS: int(256, 'HTTP/2 streams open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused', 1, 100_000),
    GRPC_MAX_CONNECTION_IDLE_MS: int(60_000, 'a connection with no call for this long is closed (GOAWAY), also one that never speaks HTTP/2 (0 = never)', 0, 86_400_000),
    GRPC_KEEPALIVE_TIME_MS: int(60_000, 'the server pings a connection silent for this long and closes it unless the ping is answered within GRPC_KEEPALIVE_TIMEOUT_MS (0 = never)', 0, 86_400_000),
    GRPC_KEEPALIVE_TIMEOUT_MS: int(20_000, 'how long the server waits for the answer to its keepalive ping', 1, 600_000),
    GRPC_MIN_PING_INTERVAL_MS: int(10_000, 'client pings closer together than this with no call between them are strikes; 3 close the connection (GOAWAY ENHANCE_YOUR_CALM "too_many_pings"; 0 = no enforcement)', 0, 86_400_000),
    MAX_CONNECTION_AGE_MS: int(
      300_000,
      'a client connection is closed gracefully after this long, so clients re-resolve and new replicas get traffic (0 = never)',
      0,
      86_400_000,
    ),
    MAX_MESSAGE_BYTES: int(4 * 1024 * 1024, 'largest gRPC message received or sent; bigger ones fail RESOURCE_EXHAUSTED', 1024, 256 * 1024 * 1024),
    TLS_CERT_FILE: optionalStr('PEM certificate this process presents (server, and client to the mesh); with TLS_KEY_FILE turns TLS on'),
    TLS_KEY_FILE: optionalStr('PEM private key of TLS_CERT_FILE'),
    TLS_CA_FILE: optionalStr('PEM CA bundle: verifies client certificates (mTLS) and, in the gateway, the downstream services'),
    TLS_CLIENT_AUTH: bool(false, 'mutual TLS: require and verify a client certificate signed by TLS_CA_FILE'),
  };
}

/**
 * Variables of the services that serve an artifact (candidate generator, feature store,
 * ranker): where it is and how often its CURRENT is polled for a hot reload.
 */
export function artifactsConfig() {
  return {
    ARTIFACTS_DIR: str('artifacts', 'artifact root (with CURRENT) or one version directory'),
    ARTIFACTS_POLL_MS: int(DEFAULT_ARTIFACT_POLL_MS, 'how often CURRENT is checked for a new artifact version to hot-reload (0 = never)', 0, 600_000),
  };
}
