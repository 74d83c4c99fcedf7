/**
 * `npm run generate` (last step): writes the OpenAPI document of the HTTP API from the
 * descriptor set, beside it (libs/proto/descriptors/recsys.openapi.json).
 */
import * as fs from 'node:fs';
import { DESCRIPTOR_SET_PATH, OPENAPI_PATH } from '@recsys/proto';
import { buildOpenApi } from './openapi';
import { loadRegistry } from './routes';

/** The document as committed: what the generator makes, two-space JSON and a final newline. */
export function openApiText(): string {
  const pkg = JSON.parse(fs.readFileSync(require.resolve('../../package.json'), 'utf8')) as { version: string };
  return `${JSON.stringify(buildOpenApi(loadRegistry(DESCRIPTOR_SET_PATH), { version: pkg.version }), null, 2)}\n`;
}

if (require.main === module) {
  fs.writeFileSync(OPENAPI_PATH, openApiText());
  process.stdout.write(`wrote ${OPENAPI_PATH}\n`);
}
