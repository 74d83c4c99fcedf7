import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeConfig } from '@recsys/grpc-kit';
import { REPO_ROOT } from '@recsys/local';
import { SERVICE_CONFIGS } from '../support/service-configs';

/** The README's configuration table, generated from the specs. */
function configTable(): string {
  const rows = new Map<string, { services: string[]; kind: string; defaults: Set<string>; byService: string[]; help: string }>();
  for (const [service, spec] of Object.entries(SERVICE_CONFIGS)) {
    for (const r of describeConfig(spec)) {
      const row = rows.get(r.name) ?? { services: [], kind: r.kind, defaults: new Set<string>(), byService: [], help: r.help };
      row.services.push(service);
      row.defaults.add(r.default);
      row.byService.push(`${service} ${r.default}`);
      rows.set(r.name, row);
    }
  }
  const all = Object.keys(SERVICE_CONFIGS).length;
  const lines = ['| variable | services | type | default | meaning |', '|---|---|---|---|---|'];
  for (const [name, r] of rows) {
    const services = r.services.length === all ? 'all' : r.services.join(', ');
    const defaults = r.defaults.size === 1 ? [...r.defaults][0] : r.kind === 'port' || name === 'METRICS_PORT' ? 'per service (see the ports table)' : r.byService.join(', ');
    lines.push(`| \`${name}\` | ${services} | ${r.kind.replace(/\|/g, " \\| ")} | ${defaults} | ${r.help} |`);
  }
  return lines.join('\n');
}

const START = '<!-- config-table:start (generated from services/*/src/config.ts; UPDATE_DOCS=1 npx jest test/unit/config-docs rewrites it) -->';
const END = '<!-- config-table:end -->';

describe('README configuration table', () => {
  it('lists exactly the variables the services read, with their defaults', () => {
    const readmePath = path.join(REPO_ROOT, 'README.md');
    const readme = fs.readFileSync(readmePath, 'utf8');
    const start = readme.indexOf(START);
    const end = readme.indexOf(END);
    expect(start).toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    const expected = `${START}\n${configTable()}\n${END}`;
    if (process.env.UPDATE_DOCS === '1') {
      fs.writeFileSync(readmePath, readme.slice(0, start) + expected + readme.slice(end + END.length));
      return;
    }
    expect(readme.slice(start, end + END.length)).toBe(expected);
  });
});
