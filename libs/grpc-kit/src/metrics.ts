import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as prom from 'prom-client';

/**
 * Prometheus metrics of one service process: the standard RPC metrics every server kit
 * records, process metrics (event-loop lag, heap, CPU), and whatever the service adds
 * with `registry`.
 */
export class ServiceMetrics {
  readonly registry = new prom.Registry();
  /** RPCs handled, by method and status code name. */
  readonly handled: prom.Counter<'method' | 'code'>;
  /** Handling time in seconds, by method. */
  readonly latency: prom.Histogram<'method'>;
  /** Stage fallbacks taken, by stage and reason (gateway, feature store). */
  readonly fallbacks: prom.Counter<'stage' | 'reason'>;
  /** Client connections open now, and those refused over the connection cap since the start. */
  readonly connections: prom.Gauge;
  readonly connectionsRefused: prom.Counter;
  /** Version of the artifact or model in service (value 1 for the live one). */
  readonly artifactVersion: prom.Gauge<'version'>;

  constructor(readonly service: string) {
    this.registry.setDefaultLabels({ service });
    prom.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    this.handled = new prom.Counter({
      name: 'grpc_server_handled_total',
      help: 'RPCs completed on the server, by method and gRPC status code.',
      labelNames: ['method', 'code'],
      registers: [this.registry],
    });
    this.latency = new prom.Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Time from receiving a request to sending its response.',
      labelNames: ['method'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.fallbacks = new prom.Counter({
      name: 'recsys_stage_fallbacks_total',
      help: 'Times a stage degraded and a fallback answered instead, by stage and reason.',
      labelNames: ['stage', 'reason'],
      registers: [this.registry],
    });
    this.connections = new prom.Gauge({
      name: 'grpc_server_connections',
      help: 'Client connections open (TCP), refused ones included.',
      registers: [this.registry],
    });
    this.connectionsRefused = new prom.Counter({
      name: 'grpc_server_connections_refused_total',
      help: 'Client connections over MAX_CONNECTIONS: their calls were answered RESOURCE_EXHAUSTED and they were closed.',
      registers: [this.registry],
    });
    this.artifactVersion = new prom.Gauge({
      name: 'recsys_artifact_info',
      help: 'The artifact/model version this process serves (value 1).',
      labelNames: ['version'],
      registers: [this.registry],
    });
  }

  /** Marks `version` as the one in service (and clears the previous one). */
  setVersion(version: string): void {
    this.artifactVersion.reset();
    this.artifactVersion.set({ version }, 1);
  }

  /**
   * Serves `GET /metrics` on `port` (0 = an ephemeral port). Resolves with the bound port.
   */
  async listen(port: number, host: string): Promise<{ port: number; close: () => Promise<void> }> {
    const server = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('not found: try /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const bound = (server.address() as AddressInfo).port;
    return {
      port: bound,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }
}
