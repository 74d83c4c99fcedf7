import * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError, quotePrefix } from '@recsys/core';
import { health } from '@recsys/proto';
import { decodeStrict } from './strict-decode';

const { HealthCheckResponse_ServingStatus: ServingStatus } = health;
type ServingStatus = health.HealthCheckResponse_ServingStatus;

/**
 * `grpc.health.v1.Health` backed by a status map: the overall status (`""`) and one per
 * service. Everything starts NOT_SERVING; the service flips to SERVING once its model,
 * artifacts and stores are ready, and back to NOT_SERVING when it starts draining.
 */
export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<grpc.ServerWritableStream<health.HealthCheckRequest, health.HealthCheckResponse>>>();

  constructor(services: readonly string[] = []) {
    for (const s of ['', ...services]) this.statuses.set(s, ServingStatus.NOT_SERVING);
  }

  /** Adds a service, with the overall status as its status. */
  register(service: string): void {
    this.statuses.set(service, this.statuses.get('') ?? ServingStatus.NOT_SERVING);
  }

  /** Sets the overall status and that of every service. */
  setAll(serving: boolean): void {
    for (const s of this.statuses.keys()) this.set(s, serving);
  }

  /** Sets one service's status ('' is the overall status). */
  set(service: string, serving: boolean): void {
    const status = serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const w of this.watchers.get(service) ?? []) w.write({ status });
  }

  /** Current status of a service ('' = overall). */
  get(service = ''): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /**
   * Registers the health service on `server`. Requests are decoded here, not by grpc-js,
   * so bytes that do not decode are the caller's INVALID_ARGUMENT (grpc-js says INTERNAL).
   */
  addTo(server: grpc.Server): void {
    const decodeRequest = (bytes: unknown): health.HealthCheckRequest | grpc.ServiceError => {
      try {
        return decodeStrict(health.HealthService.check.requestDeserialize, bytes as Buffer);
      } catch (err) {
        const details = err instanceof InvalidArgumentError ? err.message : `request: not a valid HealthCheckRequest (${(err as Error).message})`;
        return Object.assign(new Error(details), { code: grpc.status.INVALID_ARGUMENT, details, metadata: new grpc.Metadata() });
      }
    };
    const isError = (r: health.HealthCheckRequest | grpc.ServiceError): r is grpc.ServiceError => r instanceof Error;
    const impl: health.HealthServer = {
      check: (call, callback) => {
        const req = decodeRequest(call.request);
        if (isError(req)) {
          callback(req);
          return;
        }
        const status = this.statuses.get(req.service);
        if (status === undefined) {
          callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${quotePrefix(req.service)}` });
          return;
        }
        callback(null, { status });
      },
      watch: (call) => {
        const req = decodeRequest(call.request);
        if (isError(req)) {
          call.emit('error', req);
          return;
        }
        const service = req.service;
        let set = this.watchers.get(service);
        if (!set) this.watchers.set(service, (set = new Set()));
        set.add(call);
        call.write({ status: this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN });
        call.on('cancelled', () => set.delete(call));
      },
      list: (_call, callback) => {
        const statuses: Record<string, health.HealthCheckResponse> = {};
        for (const [name, status] of this.statuses) statuses[name] = { status };
        callback(null, { statuses });
      },
    };
    const raw = Object.fromEntries(Object.entries(health.HealthService).map(([k, m]) => [k, { ...m, requestDeserialize: (b: Buffer) => b }]));
    server.addService(raw as unknown as grpc.ServiceDefinition, impl as unknown as grpc.UntypedServiceImplementation);
  }

  /** Ends every Watch stream (before shutdown, so the drain is not held up by them). */
  closeWatchers(): void {
    for (const set of this.watchers.values()) for (const w of set) w.end();
    this.watchers.clear();
  }
}
