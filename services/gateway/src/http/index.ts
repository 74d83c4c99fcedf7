/**
 * Wires the HTTP front door into the gateway process: the routes of the descriptor set,
 * a handler per RPC (Recommend runs the gateway's own handler, the feature store's RPCs
 * are forwarded to it), metrics, and the listener's life.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as prom from 'prom-client';
import { callUnary, type AsyncHandlers, type CallContext, type Logger, type ServiceMetrics } from '@recsys/grpc-kit';
import { DESCRIPTOR_SET_PATH, FeatureStoreServiceService, GatewayServiceService, OPENAPI_PATH } from '@recsys/proto';
import type { GrpcStages } from '../grpc-stages';
import { httpRoutes, loadRegistry } from './routes';
import { createHttpServer, type RpcHandler } from './server';

/** Folder of the console's static files. */
export const WEB_DIR = path.join(__dirname, '..', '..', 'web');

type Def = { requestDeserialize: (b: Buffer) => unknown; responseSerialize: (v: never) => Buffer };

/** A typed handler as bytes in, bytes out, with the generated codec of its method. */
function bytesHandler<D extends Def>(def: D, run: (req: ReturnType<D['requestDeserialize']>, ctx: CallContext) => Promise<Parameters<D['responseSerialize']>[0]>): RpcHandler {
  return async (bytes, ctx) => {
    const req = def.requestDeserialize(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as ReturnType<D['requestDeserialize']>;
    return def.responseSerialize((await run(req, ctx)) as never);
  };
}

export interface GatewayHttpOptions {
  gateway: AsyncHandlers<typeof GatewayServiceService>;
  stages: GrpcStages;
  log: Logger;
  metrics: ServiceMetrics;
  maxBodyBytes: number;
  readTimeoutMs: number;
  /** Deadline of a forwarded feature store call without a timeout header. */
  forwardTimeoutMs: number;
  maxConcurrentCalls: number;
  isReady: () => boolean;
}

/** The gateway's HTTP server, not listening yet. */
export function gatewayHttpServer(opts: GatewayHttpOptions): ReturnType<typeof createHttpServer> {
  const fsClient = opts.stages.featureStore;
  const fsDef = FeatureStoreServiceService;
  // Forwarded with the request's deadline, cancellation and request id.
  const call = (ctx: CallContext) => ({ deadline: ctx.deadline, signal: ctx.signal, metadata: ctx.metadata });
  const handlers: Record<string, RpcHandler> = {
    'recsys.v1.GatewayService.Recommend': bytesHandler(GatewayServiceService.recommend, async (req, ctx) => opts.gateway.recommend(req, ctx)),
    'recsys.v1.FeatureStoreService.IngestEvents': bytesHandler(fsDef.ingestEvents, (req, ctx) => callUnary(fsClient.ingestEvents.bind(fsClient), req, call(ctx))),
    'recsys.v1.FeatureStoreService.ListFeatureViews': bytesHandler(fsDef.listFeatureViews, (req, ctx) =>
      callUnary(fsClient.listFeatureViews.bind(fsClient), req, call(ctx)),
    ),
    'recsys.v1.FeatureStoreService.GetUserContext': bytesHandler(fsDef.getUserContext, (req, ctx) => callUnary(fsClient.getUserContext.bind(fsClient), req, call(ctx))),
  };
  const handled = new prom.Counter({
    name: 'http_server_handled_total',
    help: 'HTTP API calls answered, by RPC and gRPC status code',
    labelNames: ['rpc', 'code'],
    registers: [opts.metrics.registry],
  });
  const latency = new prom.Histogram({
    name: 'http_server_handling_seconds',
    help: 'time from receiving a whole HTTP API request to its answer, by RPC',
    labelNames: ['rpc'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [opts.metrics.registry],
  });
  const codeNames = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
  return createHttpServer({
    routes: httpRoutes(loadRegistry(DESCRIPTOR_SET_PATH)),
    handlers,
    log: opts.log,
    maxBodyBytes: opts.maxBodyBytes,
    readTimeoutMs: opts.readTimeoutMs,
    defaultTimeoutMs: opts.forwardTimeoutMs,
    maxConcurrentCalls: opts.maxConcurrentCalls,
    openApi: JSON.parse(fs.readFileSync(OPENAPI_PATH, 'utf8')),
    isReady: opts.isReady,
    webDir: WEB_DIR,
    swaggerUiDir: path.dirname(require.resolve('swagger-ui-dist/package.json')),
    onCall: (rpc, code, seconds) => {
      handled.inc({ rpc, code: codeNames[code] ?? String(code) });
      latency.observe({ rpc }, seconds);
    },
  });
}
