import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT as root } from '@recsys/local';
const buf = path.join(root, 'node_modules', '.bin', 'buf');

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

// The generated TypeScript and the descriptor set are committed; `npm run generate`
// rewrites them. These tests fail when a .proto changed without regenerating.
describe('committed generated code', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-gen-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('matches what buf generate writes from proto/ (the module the project owns; google/api comes from google-proto-files)', () => {
    execFileSync(buf, ['generate', 'proto', '--output', tmp], { cwd: root });
    const fresh = path.join(tmp, 'libs/proto/src/gen');
    const committed = path.join(root, 'libs/proto/src/gen');
    expect(listFiles(committed)).toEqual(listFiles(fresh));
    for (const f of listFiles(fresh)) {
      expect({ file: f, text: fs.readFileSync(path.join(committed, f), 'utf8') }).toEqual({ file: f, text: fs.readFileSync(path.join(fresh, f), 'utf8') });
    }
  });

  it('has a descriptor set identical to buf build', () => {
    const out = path.join(tmp, 'set.binpb');
    execFileSync(buf, ['build', 'proto', '-o', out], { cwd: root });
    expect(Buffer.compare(fs.readFileSync(out), fs.readFileSync(path.join(root, 'libs/proto/descriptors/recsys.binpb')))).toBe(0);
  });
});
