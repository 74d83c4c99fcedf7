import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '@recsys/local';

/**
 * Builds one synthetic artifact for the whole integration run with the real CLI (the
 * same command a user runs), into a temporary folder removed by global-teardown.ts.
 */
export default function globalSetup(): void {
  for (const svc of ['gateway', 'ranker', 'feature-store', 'candidate-generator']) {
    const entry = path.join(REPO_ROOT, 'services', svc, 'dist', 'main.js');
    if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` before the integration tests (npm test does)`);
  }
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-it-artifacts-'));
  try {
    execFileSync(process.execPath, [path.join(REPO_ROOT, 'cli/dist/artifacts.js'), '--dataset', 'synthetic', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as Error & { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`building the test artifact failed: ${e.message}\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
  }
  process.env.RECSYS_TEST_ARTIFACTS = out;
}
