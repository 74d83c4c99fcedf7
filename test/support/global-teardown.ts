import * as fs from 'node:fs';

export default function globalTeardown(): void {
  const dir = process.env.RECSYS_TEST_ARTIFACTS;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}
