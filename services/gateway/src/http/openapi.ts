/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the descriptor set: one
 * operation per google.api.http binding, the proto comments as summaries and
 * descriptions, a schema per message and enum in the proto3 JSON mapping, and the
 * google.rpc.Status error body. `npm run generate` writes it (write-openapi.ts); the
 * gateway serves the committed file at /openapi.json.
 */
import { ScalarType, type DescEnum, type DescField, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { getComments } from '@bufbuild/protoplugin';
import { httpRoutes, type HttpRoute } from './routes';

type Schema = Record<string, unknown>;

/** The comment of a descriptor, as one paragraph per blank-line-separated block. */
function commentOf(desc: Parameters<typeof getComments>[0]): string {
  return (getComments(desc).leading ?? '')
    .split('\n')
    .map((l) => l.trim())
    .join('\n')
    .trim();
}

function firstSentence(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const m = /^(.*?[.!?])(\s|$)/.exec(flat);
  return m?.[1] ?? flat;
}

const SCALAR: Record<ScalarType, Schema> = {
  [ScalarType.DOUBLE]: { type: 'number', format: 'double' },
  [ScalarType.FLOAT]: { type: 'number', format: 'float' },
  [ScalarType.INT64]: { type: ['string', 'integer'], format: 'int64', description: 'a 64-bit integer: written as a decimal string, read from a string or a number' },
  [ScalarType.UINT64]: { type: ['string', 'integer'], format: 'uint64', description: 'a 64-bit unsigned integer: written as a decimal string, read from a string or a number' },
  [ScalarType.INT32]: { type: 'integer', format: 'int32' },
  [ScalarType.FIXED64]: { type: ['string', 'integer'], format: 'uint64' },
  [ScalarType.FIXED32]: { type: 'integer', format: 'uint32', minimum: 0, maximum: 4294967295 },
  [ScalarType.BOOL]: { type: 'boolean' },
  [ScalarType.STRING]: { type: 'string' },
  [ScalarType.BYTES]: { type: 'string', contentEncoding: 'base64' },
  [ScalarType.UINT32]: { type: 'integer', format: 'uint32', minimum: 0, maximum: 4294967295 },
  [ScalarType.SFIXED32]: { type: 'integer', format: 'int32' },
  [ScalarType.SFIXED64]: { type: ['string', 'integer'], format: 'int64' },
  [ScalarType.SINT32]: { type: 'integer', format: 'int32' },
  [ScalarType.SINT64]: { type: ['string', 'integer'], format: 'int64' },
};

/** Well-known types with their own JSON form. */
const WELL_KNOWN: Record<string, Schema> = {
  'google.protobuf.Duration': {
    type: 'string',
    pattern: '^-?[0-9]+(\\.[0-9]{1,9})?s$',
    description: 'A duration in seconds with up to nine fractional digits and the suffix "s", e.g. "0.001500s".',
    examples: ['0.001500s'],
  },
};

const ref = (typeName: string): Schema => ({ $ref: `#/components/schemas/${typeName}` });

class SchemaBuilder {
  readonly schemas: Record<string, Schema> = {};

  messageRef(desc: DescMessage): Schema {
    if (WELL_KNOWN[desc.typeName]) {
      this.schemas[desc.typeName] ??= WELL_KNOWN[desc.typeName] as Schema;
      return ref(desc.typeName);
    }
    if (!this.schemas[desc.typeName]) {
      const s: Schema = { type: 'object', additionalProperties: false, properties: {} };
      this.schemas[desc.typeName] = s;
      const description = commentOf(desc);
      if (description) s.description = description;
      const props = s.properties as Record<string, Schema>;
      for (const f of desc.fields) props[f.jsonName] = this.field(f);
    }
    return ref(desc.typeName);
  }

  enumRef(desc: DescEnum): Schema {
    if (!this.schemas[desc.typeName]) {
      const lines = desc.values.map((v) => `- \`${v.name}\` (${v.number}): ${commentOf(v).replace(/\s+/g, ' ')}`);
      this.schemas[desc.typeName] = {
        type: 'string',
        enum: desc.values.map((v) => v.name),
        description: `${commentOf(desc)}\n\n${lines.join('\n')}\n\nRead also as the number.`.trim(),
      };
    }
    return ref(desc.typeName);
  }

  value(f: DescField): Schema {
    switch (f.fieldKind) {
      case 'scalar':
        return { ...SCALAR[f.scalar] };
      case 'enum':
        return this.enumRef(f.enum);
      case 'message':
        return this.messageRef(f.message);
      case 'list':
        return f.listKind === 'scalar' ? { ...SCALAR[f.scalar] } : f.listKind === 'enum' ? this.enumRef(f.enum) : this.messageRef(f.message);
      case 'map':
        return { type: 'object', additionalProperties: f.mapKind === 'scalar' ? { ...SCALAR[f.scalar] } : f.mapKind === 'enum' ? this.enumRef(f.enum) : this.messageRef(f.message) };
    }
  }

  field(f: DescField): Schema {
    const v = this.value(f);
    const schema: Schema = f.fieldKind === 'list' ? { type: 'array', items: v } : v;
    const own = commentOf(f);
    const note = f.jsonName !== f.name ? ` (also read as \`${f.name}\`)` : '';
    const description = [own, typeof v.description === 'string' && !v.$ref ? v.description : ''].filter(Boolean).join(' ') + note;
    if (description) {
      // A $ref's siblings are allowed in 3.1; descriptions of the field go beside it.
      if (schema.$ref) return { ...schema, description };
      return { ...schema, description };
    }
    return schema;
  }
}

/** google.rpc.Status as the API writes it. */
const STATUS_SCHEMA: Schema = {
  type: 'object',
  description:
    'The error of a failed call (google.rpc.Status): `code` is the gRPC status code (3 INVALID_ARGUMENT, 5 NOT_FOUND, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, …), ' +
    '`message` names the bad field first (`k: must be …`); `details` carry a google.rpc.BadRequest with the field violation for INVALID_ARGUMENT, and a google.rpc.RequestInfo with the request id.',
  required: ['code', 'message'],
  properties: {
    code: { type: 'integer', format: 'int32', description: 'gRPC status code.' },
    message: { type: 'string', description: 'What went wrong, starting with the field when one is at fault.' },
    details: {
      type: 'array',
      items: {
        type: 'object',
        required: ['@type'],
        properties: {
          '@type': { type: 'string', examples: ['type.googleapis.com/google.rpc.BadRequest'] },
          fieldViolations: {
            type: 'array',
            items: { type: 'object', properties: { field: { type: 'string' }, description: { type: 'string' } } },
          },
          requestId: { type: 'string' },
        },
      },
    },
  },
};

const ERROR_RESPONSES: Record<string, string> = {
  '400': 'INVALID_ARGUMENT (or FAILED_PRECONDITION): a field, the body, a header or the content type is wrong; the message names it.',
  '404': 'NOT_FOUND.',
  '413': 'The body is larger than the gateway accepts (HTTP_MAX_BODY_BYTES).',
  '415': 'The body is not labelled application/json.',
  '429': 'RESOURCE_EXHAUSTED: too many calls at once, or a limit of the mesh; retry later.',
  '500': 'INTERNAL.',
  '503': 'UNAVAILABLE: the gateway is starting, or no useful answer could be made (a required service is down).',
  '504': 'DEADLINE_EXCEEDED: the request deadline passed.',
};

function operationId(route: HttpRoute, index: number): string {
  return `${route.method.parent.name}_${route.method.name}${index > 0 ? `_${index + 1}` : ''}`;
}

/** The OpenAPI 3.1 document of every google.api.http route in `registry`. */
export function buildOpenApi(registry: FileRegistry, info: { version: string }): Record<string, unknown> {
  const routes = httpRoutes(registry);
  const b = new SchemaBuilder();
  const paths: Record<string, Record<string, unknown>> = {};
  const seen = new Map<string, number>();
  const tags = new Map<string, string>();
  for (const route of routes) {
    const index = seen.get(route.rpc) ?? 0;
    seen.set(route.rpc, index + 1);
    const service = route.method.parent;
    tags.set(service.name, commentOf(service));
    const description = commentOf(route.method);
    const parameters: Schema[] = route.pathFields.map((f) => ({
      name: f.name,
      in: 'path',
      required: true,
      description: commentOf(f),
      schema: b.value(f),
    }));
    if (route.body === '') {
      for (const f of route.method.input.fields) {
        if (route.pathFields.includes(f) || f.fieldKind === 'message' || f.fieldKind === 'map' || (f.fieldKind === 'list' && f.listKind === 'message')) continue;
        const schema = f.fieldKind === 'list' ? { type: 'array', items: b.value(f) } : b.value(f);
        parameters.push({
          name: f.jsonName,
          in: 'query',
          required: false,
          description: `${commentOf(f)}${f.jsonName !== f.name ? ` (also read as \`${f.name}\`)` : ''}`,
          schema,
          ...(f.fieldKind === 'list' ? { style: 'form', explode: true } : {}),
        });
      }
    }
    parameters.push({ $ref: '#/components/parameters/RequestTimeout' }, { $ref: '#/components/parameters/GrpcTimeout' }, { $ref: '#/components/parameters/RequestId' });
    const op: Record<string, unknown> = {
      operationId: operationId(route, index),
      summary: firstSentence(description),
      description: `${description}\n\ngRPC: \`${service.typeName}/${route.method.name}\`.`,
      tags: [service.name],
      parameters,
      responses: {
        '200': {
          description: commentOf(route.method.output) || 'OK',
          headers: { 'X-Request-Id': { $ref: '#/components/headers/RequestId' } },
          content: { 'application/json': { schema: b.messageRef(route.method.output) } },
        },
        ...Object.fromEntries(
          Object.entries(ERROR_RESPONSES).map(([code, d]) => [
            code,
            { description: d, headers: { 'X-Request-Id': { $ref: '#/components/headers/RequestId' } }, content: { 'application/json': { schema: { $ref: '#/components/schemas/google.rpc.Status' } } } },
          ]),
        ),
      },
    };
    if (route.body === '*') {
      op.requestBody = {
        required: true,
        description: commentOf(route.method.input),
        content: { 'application/json': { schema: b.messageRef(route.method.input) } },
      };
    }
    const openApiPath = route.template;
    paths[openApiPath] ??= {};
    (paths[openApiPath] as Record<string, unknown>)[route.verb.toLowerCase()] = op;
  }
  b.schemas['google.rpc.Status'] = STATUS_SCHEMA;
  const sortedSchemas = Object.fromEntries(Object.entries(b.schemas).sort(([a], [c]) => a.localeCompare(c)));
  return {
    openapi: '3.1.0',
    info: {
      title: 'recsys mesh HTTP API',
      version: info.version,
      description:
        'JSON over HTTP/1.1 on the gateway, transcoded from the gRPC API by the google.api.http annotations of proto/recsys/v1/*.proto ' +
        '(the one source of this document: `npm run generate` writes it). Bodies follow the proto3 JSON mapping: lowerCamelCase names on output, ' +
        'lowerCamelCase or the proto field names (user_id) on input; unknown fields are rejected. Errors are google.rpc.Status objects under the HTTP ' +
        'status their gRPC code maps to.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/', description: 'this gateway' }],
    tags: [...tags].map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas: sortedSchemas,
      parameters: {
        RequestTimeout: {
          name: 'X-Request-Timeout-Ms',
          in: 'header',
          required: false,
          description: 'Deadline of the call in milliseconds (1 to 60000); the gateway caps it by its own budget (REQUEST_TIMEOUT_MS for Recommend).',
          schema: { type: 'integer', minimum: 1, maximum: 60000 },
        },
        GrpcTimeout: {
          name: 'grpc-timeout',
          in: 'header',
          required: false,
          description: 'The deadline in the gRPC wire form (1 to 8 digits and a unit H, M, S, m, u, n: "500m" is 500 ms), used when X-Request-Timeout-Ms is absent.',
          schema: { type: 'string', pattern: '^[0-9]{1,8}[HMSmun]$' },
        },
        RequestId: {
          name: 'X-Request-Id',
          in: 'header',
          required: false,
          description: 'Request id ([A-Za-z0-9._:-], 1 to 128 characters) echoed in the response and written in the gateway logs; a new one is made when absent or malformed.',
          schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
        },
      },
      headers: {
        RequestId: { description: 'The request id (the one sent, or one the gateway made).', schema: { type: 'string' } },
      },
    },
  };
}
