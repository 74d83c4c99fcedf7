/**
 * The HTTP routes of the API, read from the `google.api.http` annotations of the
 * descriptor set that `buf build` writes: the .proto files stay the one source of the
 * contract (paths, verbs, body mapping), for this server and for the OpenAPI document.
 */
import * as fs from 'node:fs';
import { createFileRegistry, fromBinary, getOption, hasOption, type DescExtension, type DescField, type DescMethod, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

/** The `google.api.http` rule of one binding, as declared. */
export interface HttpBinding {
  verb: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** Path template as declared, e.g. `/v1/users/{user_id}/recommendations`. */
  template: string;
  /** `*` (the whole request is the body), a field name, or '' (no body: query parameters). */
  body: string;
}

/** One route: an RPC under one binding. */
export interface HttpRoute extends HttpBinding {
  method: DescMethod;
  /** Full RPC name, e.g. `recsys.v1.GatewayService.Recommend`. */
  rpc: string;
  /** Request fields bound by the path, in template order. */
  pathFields: DescField[];
  /** The template in the router's syntax, e.g. `/v1/users/:user_id/recommendations`. */
  routerPath: string;
}

/** Loads the descriptor set written by `buf build -o` into a registry. */
export function loadRegistry(descriptorSetPath: string): FileRegistry {
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, fs.readFileSync(descriptorSetPath)));
}

const VERBS = ['get', 'post', 'put', 'delete', 'patch'] as const;

/** The bindings of one rule (its own and its additional_bindings). */
function bindingsOf(rule: Record<string, unknown>): HttpBinding[] {
  const pattern = rule.pattern as { case?: string; value?: unknown } | undefined;
  const out: HttpBinding[] = [];
  if (pattern?.case && (VERBS as readonly string[]).includes(pattern.case) && typeof pattern.value === 'string') {
    out.push({ verb: pattern.case.toUpperCase() as HttpBinding['verb'], template: pattern.value, body: (rule.body as string) ?? '' });
  } else if (pattern?.case) {
    throw new Error(`google.api.http pattern "${pattern.case}" is not supported`);
  }
  for (const extra of (rule.additionalBindings as Record<string, unknown>[] | undefined) ?? []) out.push(...bindingsOf(extra));
  return out;
}

/**
 * Every route of every service in `registry` whose methods carry `google.api.http`,
 * sorted by path. Throws on a template this server cannot route (a variable that is
 * not a top-level scalar field, `{x=**}` patterns) so a bad annotation fails at start.
 */
export function httpRoutes(registry: FileRegistry): HttpRoute[] {
  const ext = registry.getExtension('google.api.http') as DescExtension | undefined;
  if (!ext) throw new Error('the descriptor set has no google.api.http extension (google/api/annotations.proto not imported)');
  const routes: HttpRoute[] = [];
  for (const file of registry.files) {
    for (const service of file.services) {
      for (const method of service.methods) {
        if (!hasOption(method, ext)) continue;
        const rule = getOption(method, ext) as unknown as Record<string, unknown>;
        for (const b of bindingsOf(rule)) {
          const pathFields: DescField[] = [];
          const routerPath = b.template.replace(/\{([^}]*)\}/g, (_m, name: string) => {
            const field = method.input.fields.find((f) => f.name === name);
            if (!field || field.fieldKind !== 'scalar') {
              throw new Error(`${method.parent.typeName}.${method.name}: path variable {${name}} must name a scalar field of ${method.input.typeName}`);
            }
            pathFields.push(field);
            return `:${name}`;
          });
          if (b.body !== '' && b.body !== '*') throw new Error(`${method.parent.typeName}.${method.name}: only body "*" or no body is supported, got "${b.body}"`);
          routes.push({ ...b, method, rpc: `${method.parent.typeName}.${method.name}`, pathFields, routerPath });
        }
      }
    }
  }
  return routes.sort((a, b) => a.template.localeCompare(b.template) || a.verb.localeCompare(b.verb));
}
