/**
 * The gateway's HTTP/1.1 front door (fastify): the JSON API at the paths the .proto files
 * declare with google.api.http, /openapi.json, /docs (Swagger UI) and /console, all
 * served from this process with no CDN. Each API route decodes its JSON into the RPC's
 * request bytes and calls the same handler as the gRPC server.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { endRpcSpan, runInContext, startServerSpan, tracer, type CallContext, type Logger } from '@recsys/grpc-kit';
import { HttpRoute } from './routes';
import { HTTP_STATUS_OF, statusBody, toRpcFailure, type RpcFailure } from './status';
import { requestBytes, responseJson } from './transcode';

/** One RPC as bytes in, bytes out: what the gRPC server runs for the method, minus the transport. */
export type RpcHandler = (request: Uint8Array, ctx: CallContext) => Promise<Uint8Array>;

export interface HttpServerOptions {
  routes: readonly HttpRoute[];
  /** Handlers by full RPC name (`recsys.v1.GatewayService.Recommend`); every route needs one. */
  handlers: Readonly<Record<string, RpcHandler>>;
  log: Logger;
  maxBodyBytes: number;
  /** Time to receive a whole request. */
  readTimeoutMs: number;
  /** Deadline of a call whose request set no timeout header (the handler may cap it further). */
  defaultTimeoutMs: number;
  /** API calls handled at once; one more is answered 429 (0 = unbounded). */
  maxConcurrentCalls: number;
  /** The OpenAPI document served at /openapi.json. */
  openApi: unknown;
  /** False until the gateway is SERVING: API calls are answered 503. */
  isReady: () => boolean;
  /** Folder of the console's static files (services/gateway/web). */
  webDir: string;
  /** Folder of swagger-ui-dist. */
  swaggerUiDir: string;
  /** Observes every API call (for metrics). */
  onCall?: (rpc: string, code: grpc.status, seconds: number) => void;
}

/** Largest timeout a request header may ask for. */
export const MAX_HEADER_TIMEOUT_MS = 60_000;
const GRPC_TIMEOUT_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Thrown for a bad request outside any message field (a header, the body as a whole). */
class HttpInputError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}

/**
 * The request's timeout in ms from `X-Request-Timeout-Ms` (an integer) or `grpc-timeout`
 * (the gRPC wire form: up to 8 digits and a unit H, M, S, m, u, n); undefined when neither is set.
 */
export function headerTimeoutMs(headers: Record<string, string | string[] | undefined>): number | undefined {
  const ms = headers['x-request-timeout-ms'];
  if (ms !== undefined) {
    const v = Array.isArray(ms) ? ms[0] : ms;
    if (!v || !/^\d{1,9}$/.test(v) || Number(v) < 1 || Number(v) > MAX_HEADER_TIMEOUT_MS) {
      throw new HttpInputError(grpc.status.INVALID_ARGUMENT, `X-Request-Timeout-Ms: must be an integer between 1 and ${MAX_HEADER_TIMEOUT_MS}, got "${String(v).slice(0, 40)}"`);
    }
    return Number(v);
  }
  const gt = headers['grpc-timeout'];
  if (gt !== undefined) {
    const v = Array.isArray(gt) ? gt[0] : gt;
    const m = /^(\d{1,8})([HMSmun])$/.exec(v ?? '');
    if (!m) throw new HttpInputError(grpc.status.INVALID_ARGUMENT, `grpc-timeout: must be 1 to 8 digits and a unit (H, M, S, m, u, n), e.g. "500m", got "${String(v).slice(0, 40)}"`);
    const value = Number(m[1]) * (GRPC_TIMEOUT_UNITS[m[2] as string] as number);
    if (value <= 0) throw new HttpInputError(grpc.status.INVALID_ARGUMENT, `grpc-timeout: must be positive, got "${v}"`);
    return Math.min(value, MAX_HEADER_TIMEOUT_MS);
  }
  return undefined;
}

/** Content types of static files. */
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
};

/** The files of `dir` (one level) that may be served, read once: nothing else is reachable by any path. */
function staticFiles(dir: string, names?: readonly string[]): Map<string, { body: Buffer; type: string }> {
  const out = new Map<string, { body: Buffer; type: string }>();
  for (const name of names ?? fs.readdirSync(dir)) {
    const type = MIME[path.extname(name)];
    const file = path.join(dir, name);
    if (!type || !fs.statSync(file).isFile()) continue;
    out.set(name, { body: fs.readFileSync(file), type });
  }
  return out;
}

/** Headers of the pages: no inline script anywhere, nothing from another origin. */
const PAGE_SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * Builds the HTTP server (not listening yet): call `listen({ host, port })` on the result.
 * A route of `routes` without a handler is a start-up error.
 */
export function createHttpServer(opts: HttpServerOptions): FastifyInstance {
  for (const r of opts.routes) if (!opts.handlers[r.rpc]) throw new Error(`HTTP route ${r.verb} ${r.template}: no handler for ${r.rpc}`);
  const app = Fastify({
    logger: false,
    bodyLimit: opts.maxBodyBytes,
    // node checks the request timeout every connectionsCheckingInterval (30 s by default):
    // checked often enough, a client that trickles its request is answered 408 in time.
    serverFactory: (handler) =>
      http.createServer(
        {
          requestTimeout: opts.readTimeoutMs,
          headersTimeout: opts.readTimeoutMs,
          connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(opts.readTimeoutMs / 4))),
          keepAliveTimeout: 5000,
          maxHeaderSize: 16 * 1024,
        },
        handler,
      ),
    return503OnClosing: true,
    // Query strings: a repeated key gives an array; bounded by node's header limit (16 KiB).
    maxParamLength: 512,
    genReqId(req) {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });

  // Bodies: JSON only. curl's `-d` labels a body application/x-www-form-urlencoded, so that
  // label is accepted too when the body is JSON; every other type is answered 415.
  app.removeAllContentTypeParsers();
  const parseJson = (_req: FastifyRequest, body: string, done: (err: Error | null, value?: unknown) => void): void => {
    if (body.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body));
    } catch (err) {
      done(new HttpInputError(grpc.status.INVALID_ARGUMENT, `body: not valid JSON (${(err as Error).message.slice(0, 200)})`));
    }
  };
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJson);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, parseJson);

  const sendFailure = (req: FastifyRequest, reply: FastifyReply, failure: Pick<RpcFailure, 'code' | 'message'>, httpStatus?: number): FastifyReply =>
    reply
      .code(httpStatus ?? HTTP_STATUS_OF[failure.code] ?? 500)
      .header('content-type', 'application/json; charset=utf-8')
      .send(JSON.stringify(statusBody(failure, req.id)));

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  // Fastify's own errors (body too large, unsupported media type, timeouts, parse errors).
  app.setErrorHandler((err: Error & { statusCode?: number; code?: unknown }, req, reply) => {
    if (err instanceof HttpInputError) return sendFailure(req, reply, { code: err.code, message: err.message }, err.httpStatus);
    const status = err.statusCode ?? 500;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
      return sendFailure(req, reply, { code: grpc.status.RESOURCE_EXHAUSTED, message: `body: larger than the limit of ${opts.maxBodyBytes} bytes (HTTP_MAX_BODY_BYTES)` }, 413);
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) {
      return sendFailure(
        req,
        reply,
        { code: grpc.status.INVALID_ARGUMENT, message: `Content-Type: must be application/json, got "${String(req.headers['content-type']).slice(0, 80)}"` },
        415,
      );
    }
    if (status >= 400 && status < 500) return sendFailure(req, reply, { code: grpc.status.INVALID_ARGUMENT, message: err.message.slice(0, 300) }, status);
    opts.log.error({ err, requestId: req.id }, 'HTTP request failed');
    return sendFailure(req, reply, { code: grpc.status.INTERNAL, message: 'internal error' });
  });

  const templates = opts.routes.map((r) => ({ r, re: new RegExp(`^${r.template.replace(/\{[^}]*\}/g, '[^/]+')}/?$`) }));
  app.setNotFoundHandler((req, reply) => {
    const url = req.url.split('?')[0] ?? '';
    const allowed = [...new Set(templates.filter((t) => t.re.test(url)).map((t) => t.r.verb))];
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return sendFailure(req, reply, { code: grpc.status.UNIMPLEMENTED, message: `method ${req.method} is not allowed on ${url.slice(0, 200)}; use ${allowed.join(' or ')}` }, 405);
    }
    return sendFailure(req, reply, {
      code: grpc.status.NOT_FOUND,
      message: `no route ${req.method} ${url.slice(0, 200)}; the API is ${opts.routes.map((r) => `${r.verb} ${r.template}`).join(', ')} (see /openapi.json)`,
    });
  });

  let inFlight = 0;
  for (const route of opts.routes) {
    const handler = opts.handlers[route.rpc] as RpcHandler;
    app.route({
      method: route.verb,
      url: route.routerPath,
      handler: async (req, reply) => {
        const t0 = process.hrtime.bigint();
        const log = opts.log.child({ requestId: req.id, route: `${route.verb} ${route.template}` });
        const observe = (code: grpc.status): void => opts.onCall?.(route.rpc, code, Number(process.hrtime.bigint() - t0) / 1e9);
        if (!opts.isReady()) {
          observe(grpc.status.UNAVAILABLE);
          return sendFailure(req, reply, { code: grpc.status.UNAVAILABLE, message: 'gateway is starting and not ready yet' });
        }
        if (opts.maxConcurrentCalls > 0 && inFlight >= opts.maxConcurrentCalls) {
          observe(grpc.status.RESOURCE_EXHAUSTED);
          return sendFailure(req, reply, { code: grpc.status.RESOURCE_EXHAUSTED, message: `gateway is at its limit of ${opts.maxConcurrentCalls} concurrent HTTP calls; retry later` });
        }
        inFlight++;
        const abort = new AbortController();
        const onClose = (): void => {
          if (!reply.raw.writableFinished) abort.abort();
        };
        reply.raw.once('close', onClose);
        try {
          const timeout = headerTimeoutMs(req.headers) ?? opts.defaultTimeoutMs;
          const deadline = Date.now() + timeout;
          const timer = setTimeout(() => abort.abort(), timeout + 50);
          let out: Uint8Array;
          try {
            const bytes = requestBytes(route, {
              body: req.body,
              params: req.params as Record<string, string>,
              query: req.query as Record<string, string | string[] | undefined>,
            });
            const metadata = new grpc.Metadata();
            metadata.set('x-request-id', req.id);
            // A W3C trace context from the HTTP caller goes on as the gRPC one would (request log's trace id).
            const tp = req.headers.traceparent;
            if (typeof tp === 'string' && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(tp)) metadata.set('traceparent', tp);
            const method = `/${route.method.parent.typeName}/${route.method.name}`;
            // Tracing on: the call runs in a SERVER span continued from that traceparent, as over gRPC.
            const t = tracer();
            const traced = t ? startServerSpan(t, method, metadata) : undefined;
            const ctx = { method, deadline, signal: abort.signal, metadata, log, span: traced?.span };
            try {
              out = await (traced ? runInContext(traced.ctx, () => handler(bytes, ctx)) : handler(bytes, ctx));
              if (traced) endRpcSpan(traced.span, grpc.status.OK);
            } catch (err) {
              if (traced) endRpcSpan(traced.span, toRpcFailure(err).code, (err as Error)?.message);
              throw err;
            }
          } finally {
            clearTimeout(timer);
          }
          observe(grpc.status.OK);
          log.debug({ ms: Number(process.hrtime.bigint() - t0) / 1e6 }, 'HTTP call');
          return reply.header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(responseJson(route, out)));
        } catch (err) {
          const failure = err instanceof HttpInputError ? { code: err.code, message: err.message, internal: false } : toRpcFailure(err);
          observe(failure.code);
          if (failure.internal) log.error({ err }, 'unhandled error in HTTP handler');
          else if ((HTTP_STATUS_OF[failure.code] ?? 500) >= 500) log.warn({ code: grpc.status[failure.code], message: failure.message }, 'HTTP call failed');
          else log.debug({ code: grpc.status[failure.code], message: failure.message }, 'HTTP call failed');
          return sendFailure(req, reply, failure);
        } finally {
          inFlight--;
          reply.raw.off('close', onClose);
        }
      },
    });
  }

  const openApiBody = JSON.stringify(opts.openApi, null, 2);
  app.get('/openapi.json', (_req, reply) => reply.header('content-type', 'application/json; charset=utf-8').header('access-control-allow-origin', '*').send(openApiBody));

  const swagger = staticFiles(opts.swaggerUiDir, ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png']);
  const web = staticFiles(opts.webDir);
  const page = (files: Map<string, { body: Buffer; type: string }>, index: string) => (req: FastifyRequest<{ Params: { file?: string } }>, reply: FastifyReply) => {
    const name = req.params.file || index;
    const file = files.get(name) ?? web.get(name);
    if (!file) return sendFailure(req, reply, { code: grpc.status.NOT_FOUND, message: `no file ${name.slice(0, 100)}` });
    return reply.headers({ ...PAGE_SECURITY_HEADERS, 'content-type': file.type, 'cache-control': 'no-cache' }).send(file.body);
  };
  app.get('/docs', (_req, reply) => reply.redirect('/docs/', 302));
  app.get('/docs/:file', page(swagger, 'docs.html'));
  app.get('/docs/', page(swagger, 'docs.html'));
  app.get('/console', (_req, reply) => reply.redirect('/console/', 302));
  app.get('/console/', page(web, 'console.html'));
  app.get('/console/:file', page(web, 'console.html'));
  app.get('/', (_req, reply) => reply.redirect('/console/', 302));
  return app;
}
