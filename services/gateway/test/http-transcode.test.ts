import { status as GrpcStatus } from '@grpc/grpc-js';
import { InvalidArgumentError, UnavailableError } from '@recsys/core';
import { DESCRIPTOR_SET_PATH, IngestEventsRequest, RecommendRequest } from '@recsys/proto';
import { httpRoutes, loadRegistry, type HttpRoute } from '@recsys/gateway/http/routes';
import { headerTimeoutMs } from '@recsys/gateway/http/server';
import { HTTP_STATUS_OF, statusBody, toRpcFailure } from '@recsys/gateway/http/status';
import { requestBytes } from '@recsys/gateway/http/transcode';

const routes = httpRoutes(loadRegistry(DESCRIPTOR_SET_PATH));
const route = (verb: string, template: string): HttpRoute => routes.find((r) => r.verb === verb && r.template === template) as HttpRoute;
const post = route('POST', '/v1/recommendations');
const get = route('GET', '/v1/users/{user_id}/recommendations');

/** The field an InvalidArgumentError thrown by `run` names. */
function badField(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as InvalidArgumentError).field;
  }
  throw new Error('no error thrown');
}

describe('requestBytes: HTTP input → the RPC request the generated code decodes', () => {
  it('maps a JSON body by either name, and path and query fields', () => {
    const a = RecommendRequest.decode(requestBytes(post, { body: { user_id: 'u1', k: 5, excludeItemIds: ['a'], debug: true }, params: {}, query: {} }));
    expect(a).toEqual({ userId: 'u1', k: 5, excludeItemIds: ['a'], debug: true });
    const b = RecommendRequest.decode(requestBytes(get, { body: undefined, params: { user_id: 'u1' }, query: { k: '5', exclude_item_ids: ['a', 'b'], debug: 'true' } }));
    expect(b).toEqual({ userId: 'u1', k: 5, excludeItemIds: ['a', 'b'], debug: true });
    const events = IngestEventsRequest.decode(
      requestBytes(route('POST', '/v1/events'), { body: { events: [{ event_id: 'e', userId: 'u', itemId: 'i', eventType: 'view', eventTimeUnixMs: '17' }] }, params: {}, query: {} }),
    );
    expect(events.events[0]).toEqual({ eventId: 'e', userId: 'u', itemId: 'i', eventType: 'view', eventTimeUnixMs: 17 });
  });

  it('names the bad field for every kind of bad input', () => {
    const body = (b: unknown) => () => requestBytes(post, { body: b, params: {}, query: {} });
    expect(badField(body({ k: 'x' }))).toBe('k');
    expect(badField(body({ k: 1.5 }))).toBe('k');
    expect(badField(body({ k: 2 ** 40 }))).toBe('k');
    expect(badField(body({ nope: 1 }))).toBe('nope');
    expect(badField(body({ userId: 'a', user_id: 'a' }))).toBe('user_id');
    expect(badField(body({ excludeItemIds: [1] }))).toBe('exclude_item_ids');
    expect(badField(body([]))).toBe('body');
    expect(badField(body('text'))).toBe('body');
    const query = (q: Record<string, string | string[]>) => () => requestBytes(get, { body: undefined, params: { user_id: 'u' }, query: q });
    expect(badField(query({ debug: 'perhaps' }))).toBe('debug');
    expect(badField(query({ k: ['1', '2'] }))).toBe('k');
    expect(badField(query({ userId: 'v' }))).toBe('userId');
    expect(badField(query({ other: '1' }))).toBe('other');
    expect(badField(() => requestBytes(get, { body: {}, params: { user_id: 'u' }, query: {} }))).toBe('body');
  });
});

describe('deadline headers', () => {
  it('reads X-Request-Timeout-Ms first, then grpc-timeout in its wire units, capped at 60 s', () => {
    expect(headerTimeoutMs({})).toBeUndefined();
    expect(headerTimeoutMs({ 'x-request-timeout-ms': '250', 'grpc-timeout': '1S' })).toBe(250);
    expect(headerTimeoutMs({ 'grpc-timeout': '1S' })).toBe(1000);
    expect(headerTimeoutMs({ 'grpc-timeout': '500m' })).toBe(500);
    expect(headerTimeoutMs({ 'grpc-timeout': '2500000u' })).toBe(2500);
    expect(headerTimeoutMs({ 'grpc-timeout': '1H' })).toBe(60_000);
    for (const bad of [{ 'x-request-timeout-ms': '0' }, { 'x-request-timeout-ms': '60001' }, { 'x-request-timeout-ms': '1e3' }, { 'grpc-timeout': '5s ' }, { 'grpc-timeout': '123456789S' }, { 'grpc-timeout': '0m' }]) {
      expect(() => headerTimeoutMs(bad)).toThrow(/^(X-Request-Timeout-Ms|grpc-timeout): /);
    }
  });
});

describe('errors', () => {
  it('keeps a domain or downstream gRPC code and maps it to HTTP; hides anything else', () => {
    expect(toRpcFailure(new InvalidArgumentError('k', 'bad'))).toEqual({ code: GrpcStatus.INVALID_ARGUMENT, message: 'k: bad', internal: false });
    expect(toRpcFailure(new UnavailableError('down'))).toMatchObject({ code: GrpcStatus.UNAVAILABLE });
    expect(toRpcFailure(Object.assign(new Error('x'), { code: GrpcStatus.RESOURCE_EXHAUSTED, details: 'full' }))).toEqual({ code: GrpcStatus.RESOURCE_EXHAUSTED, message: 'full', internal: false });
    expect(toRpcFailure(new TypeError('secret internals'))).toEqual({ code: GrpcStatus.INTERNAL, message: 'internal error', internal: true });
    expect([GrpcStatus.INVALID_ARGUMENT, GrpcStatus.RESOURCE_EXHAUSTED, GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.NOT_FOUND].map((c) => HTTP_STATUS_OF[c])).toEqual([400, 429, 503, 504, 404]);
    expect(statusBody({ code: GrpcStatus.INVALID_ARGUMENT, message: 'events[3].event_type: must match' }, 'r1')).toEqual({
      code: 3,
      message: 'events[3].event_type: must match',
      details: [
        { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'events[3].event_type', description: 'must match' }] },
        { '@type': 'type.googleapis.com/google.rpc.RequestInfo', requestId: 'r1' },
      ],
    });
  });
});
