import * as fs from 'node:fs';
import { validate } from '@readme/openapi-parser';
import { DESCRIPTOR_SET_PATH, OPENAPI_PATH } from '@recsys/proto';
import { httpRoutes, loadRegistry } from '@recsys/gateway/http/routes';
import { openApiText } from '@recsys/gateway/http/write-openapi';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const committed = (): Json => JSON.parse(fs.readFileSync(OPENAPI_PATH, 'utf8')) as Json;

describe('the OpenAPI document generated from the descriptor set', () => {
  it('is committed up to date (run `npm run generate` after changing a .proto)', () => {
    expect(fs.readFileSync(OPENAPI_PATH, 'utf8')).toBe(openApiText());
  });

  it('passes a real OpenAPI 3.1 validator, which does reject a broken one', async () => {
    const res = await validate(committed() as never);
    expect(res).toMatchObject({ valid: true, specification: 'OpenAPI' });
    const broken = committed();
    broken.paths['/v1/recommendations'].post.responses['200'].content['application/json'].schema = { $ref: '#/components/schemas/NoSuchThing' };
    expect((await validate(broken as never)).valid).toBe(false);
    const noInfo = committed();
    delete noInfo.info;
    expect((await validate(noInfo as never)).valid).toBe(false);
  });

  it('has every google.api.http route, with the proto comments as summaries and descriptions', () => {
    const doc = committed();
    const routes = httpRoutes(loadRegistry(DESCRIPTOR_SET_PATH));
    expect(routes.map((r) => `${r.verb} ${r.template}`).sort()).toEqual([
      'GET /v1/feature-views',
      'GET /v1/users/{user_id}/context',
      'GET /v1/users/{user_id}/recommendations',
      'POST /v1/events',
      'POST /v1/recommendations',
    ]);
    const ops = Object.entries(doc.paths as Json).flatMap(([p, byVerb]) => Object.entries(byVerb as Json).map(([v, op]) => ({ key: `${v.toUpperCase()} ${p}`, op: op as Json })));
    expect(ops.map((o) => o.key).sort()).toEqual(routes.map((r) => `${r.verb} ${r.template}`).sort());
    for (const { op } of ops) {
      expect(op.summary.length).toBeGreaterThan(10);
      expect(op.responses['200'].content['application/json'].schema.$ref).toMatch(/^#\/components\/schemas\/recsys\.v1\./);
      expect(op.responses['400'].content['application/json'].schema.$ref).toBe('#/components/schemas/google.rpc.Status');
    }
    const post = doc.paths['/v1/recommendations'].post;
    expect(post.summary).toBe('Recommend returns the k best items for a user.');
    expect(post.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/recsys.v1.RecommendRequest');
    const req = doc.components.schemas['recsys.v1.RecommendRequest'];
    expect(req.properties.userId.description).toContain('Opaque user id, 1 to 128 bytes');
    expect(req.properties.userId.description).toContain('also read as `user_id`');
    expect(req.properties.k).toMatchObject({ type: 'integer', format: 'int32' });
    expect(req.properties.excludeItemIds).toMatchObject({ type: 'array', items: { type: 'string' } });
    expect(doc.components.schemas['recsys.v1.Stage'].enum).toContain('STAGE_RANKING');
    expect(doc.components.schemas['google.protobuf.Duration'].type).toBe('string');
    const get = doc.paths['/v1/users/{user_id}/recommendations'].get;
    expect(get.parameters.filter((p: Json) => p.in).map((p: Json) => `${p.in}:${p.name}`)).toEqual(['path:user_id', 'query:k', 'query:excludeItemIds', 'query:debug']);
  });
});
