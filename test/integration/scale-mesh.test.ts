/**
 * The short form of `npm run scale:mesh`: two synthetic versions built with the real CLI
 * and `--index hnsw`, the mesh with RETRIEVAL_INDEX=hnsw, one Recommend through
 * tools/grpc_probe.py (gRPC's C core), and a hot reload to the second version under
 * closed-loop load that must not fail a request. The long form runs it at 1,000,000 items.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runScaleMesh } from '@recsys/bench/scale-mesh';

jest.setTimeout(420_000);

describe('scale:mesh (tiny catalogue)', () => {
  it('serves Recommend from HNSW retrieval through grpc_probe and hot-reloads a second version without a failed request', async () => {
    const lines: string[] = [];
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-scale-mesh-test-'));
    const opts = { items: 3000, users: 300, interactions: 20_000, seconds: 120, out };
    let r;
    try {
      r = await runScaleMesh({ ...opts, log: (l) => lines.push(l) });
      // Again with --reuse: both versions come from the first run, nothing is built.
      const again: string[] = [];
      const r2 = await runScaleMesh({ ...opts, reuse: true, log: (l) => again.push(l) });
      expect(again.filter((l) => l.startsWith('reusing '))).toHaveLength(2);
      expect(again.join('\n')).not.toContain('cli/dist/artifacts.js');
      expect(r2.versions).toEqual(r.versions);
      expect(r2.failures).toEqual([]);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
    expect(r.failures).toEqual([]);
    expect(r.probe_items).toBe(10);
    expect(r.versions[0]).not.toBe(r.versions[1]);
    expect(r.switch_s).toBeGreaterThanOrEqual(0);
    expect(r.requests).toBeGreaterThan(20);
    expect(lines.join('\n')).toContain('--index hnsw');
    expect(r.candidate_generator_rss_mb.peak).toBeGreaterThanOrEqual(r.candidate_generator_rss_mb.before);
    // The load went on after the switch, all of it answered by the new version.
    expect(r.after_switch.requests).toBeGreaterThan(0);
    expect(r.before_switch.requests + r.after_switch.requests).toBeLessThanOrEqual(r.requests);
  });
});
