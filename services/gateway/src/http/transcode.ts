/**
 * HTTP ⇄ protobuf for one route, by the proto3 JSON mapping of @bufbuild/protobuf over the
 * descriptor set (both `user_id` and `userId` accepted, unknown keys and ill-typed values
 * rejected naming the field). The bytes in between are what the gRPC handler gets, so an
 * HTTP request is decoded by the same generated code as a gRPC one.
 */
import { ScalarType, fromBinary, fromJson, toBinary, toJson, type DescField, type DescMessage, type JsonValue } from '@bufbuild/protobuf';
import { InvalidArgumentError } from '@recsys/core';
import type { HttpRoute } from './routes';

/** What an HTTP request carries for its route. */
export interface HttpInput {
  /** Parsed JSON body (undefined when the request had none). */
  body: unknown;
  /** Path variables by field name. */
  params: Record<string, string>;
  /** Query parameters (a repeated key gives an array). */
  query: Record<string, string | string[] | undefined>;
}

function fieldByName(desc: DescMessage, key: string): DescField | undefined {
  return desc.fields.find((f) => f.name === key || f.jsonName === key);
}

/** A query parameter's strings as the JSON value of `field` (numbers stay strings: proto3 JSON accepts them). */
function queryValue(field: DescField, key: string, raw: string | string[]): JsonValue {
  const values = Array.isArray(raw) ? raw : [raw];
  const one = (v: string): JsonValue => {
    const scalar = field.fieldKind === 'scalar' ? field.scalar : field.fieldKind === 'list' && field.listKind === 'scalar' ? field.scalar : undefined;
    if (scalar === ScalarType.BOOL) {
      if (v === 'true' || v === '1') return true;
      if (v === 'false' || v === '0') return false;
      throw new InvalidArgumentError(key, `must be true or false, got "${v.slice(0, 40)}"`);
    }
    return v;
  };
  if (field.fieldKind === 'list') {
    if (field.listKind === 'message') throw new InvalidArgumentError(key, 'cannot be given as a query parameter; use POST with a JSON body');
    return values.map(one);
  }
  if (field.fieldKind === 'map' || field.fieldKind === 'message') throw new InvalidArgumentError(key, 'cannot be given as a query parameter; use POST with a JSON body');
  if (values.length > 1) throw new InvalidArgumentError(key, `is not repeated but was given ${values.length} times`);
  return one(values[0] as string);
}

/** The field a @bufbuild/protobuf JSON error is about, and the problem, as `field: problem`. */
function describeJsonError(desc: DescMessage, err: Error): InvalidArgumentError {
  const msg = err.message;
  const unknownKey = /key "([^"]*)" is unknown/.exec(msg);
  if (unknownKey) return new InvalidArgumentError(unknownKey[1] ?? '', `unknown field of ${desc.typeName}`);
  const field = /field ([\w.]+) from JSON: (.*)$/s.exec(msg);
  if (field) {
    const fqName = field[1] ?? '';
    const name = fqName.startsWith(`${desc.typeName}.`) ? fqName.slice(desc.typeName.length + 1) : fqName.split('.').pop() ?? fqName;
    const problem = field[2] ?? '';
    if (problem === 'set multiple times') return new InvalidArgumentError(name, `given twice (as ${name} and as its lowerCamelCase JSON name); give it once`);
    return new InvalidArgumentError(name, /^expected /.test(problem) ? problem.slice(0, 200) : `invalid value ${problem.slice(0, 200)}`);
  }
  return new InvalidArgumentError('body', msg.slice(0, 300));
}

/**
 * The request message of `route` built from the body, path and query, as protobuf bytes.
 * @throws InvalidArgumentError naming the bad field (or `body`)
 */
export function requestBytes(route: HttpRoute, input: HttpInput): Uint8Array {
  const desc = route.method.input;
  let json: Record<string, JsonValue>;
  if (route.body === '*') {
    if (input.body === undefined || input.body === null) json = {};
    else if (typeof input.body !== 'object' || Array.isArray(input.body)) {
      throw new InvalidArgumentError('body', `must be a JSON object (${desc.typeName}), got ${Array.isArray(input.body) ? 'an array' : typeof input.body}`);
    } else json = { ...(input.body as Record<string, JsonValue>) };
  } else {
    if (input.body !== undefined) throw new InvalidArgumentError('body', `${route.verb} ${route.template} takes no body; give the fields as query parameters`);
    json = {};
    for (const [key, raw] of Object.entries(input.query)) {
      if (raw === undefined) continue;
      const field = fieldByName(desc, key);
      if (!field) throw new InvalidArgumentError(key, `unknown query parameter; ${desc.typeName} has ${desc.fields.map((f) => f.name).join(', ')}`);
      if (route.pathFields.includes(field)) throw new InvalidArgumentError(key, 'is given by the path');
      json[field.name] = queryValue(field, key, raw);
    }
  }
  for (const field of route.pathFields) {
    const value = input.params[field.name] ?? '';
    const inBody = [field.name, field.jsonName].find((k) => k in json);
    if (inBody !== undefined && json[inBody] !== value) throw new InvalidArgumentError(field.name, `is "${value}" in the path but ${JSON.stringify(json[inBody])} in the body`);
    if (inBody !== undefined) delete json[inBody];
    json[field.name] = value;
  }
  let message;
  try {
    message = fromJson(desc, json, { ignoreUnknownFields: false });
  } catch (err) {
    throw describeJsonError(desc, err as Error);
  }
  return toBinary(desc, message);
}

/** The response bytes of `route` as proto3 JSON (lowerCamelCase names, defaults included). */
export function responseJson(route: HttpRoute, bytes: Uint8Array): JsonValue {
  return toJson(route.method.output, fromBinary(route.method.output, bytes), { alwaysEmitImplicit: true });
}
