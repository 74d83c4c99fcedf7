import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clusteredCatalogue, runRetrievalBenchCommand } from '@recsys/bench/retrieval';

/**
 * `npm run bench:retrieval` on a tiny catalogue: the real command (exact ONNX index
 * against the HNSW graphs, retrieval.json written), checking the approximate search's
 * recall against the exact one. No timing is asserted: speed is what the bench measures.
 */
describe('npm run bench:retrieval (tiny catalogue)', () => {
  let out: string;
  beforeAll(() => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-bench-retrieval-'));
  });
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('writes retrieval.json with the documented fields and an ANN recall@300 close to exact', async () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await runRetrievalBenchCommand(['--items', '5000', '--dim', '16', '--queries', '40', '--ef-search', '64,16', '--threads', '1', '--out', out]);
    } finally {
      write.mockRestore();
      err.mockRestore();
    }
    const r = JSON.parse(fs.readFileSync(path.join(out, 'retrieval.json'), 'utf8'));
    expect(r.items).toBe(5000);
    expect(r.dim).toBe(16);
    for (const key of ['p50_ms', 'p99_ms']) expect(typeof r.exact[key]).toBe('number');
    for (const key of ['recall_at_300', 'p50_ms', 'p99_ms', 'build_s', 'load_s', 'index_bytes']) expect(typeof r.ann[key]).toBe('number');
    expect(r.ann.index_bytes).toBeGreaterThan(5000 * 16 * 4);
    expect(r.ann.recall_at_300).toBeGreaterThanOrEqual(0.95);
    expect(r.sweep.map((s: { expansion_search: number }) => s.expansion_search)).toEqual([64, 16]);
    // The index files are removed after the measurement; only the result stays.
    expect(fs.readdirSync(out)).toEqual(['retrieval.json']);
  }, 120_000);

  it('--keep-index keeps the graphs and reuses them for the same catalogue and build; another build setting builds again', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-bench-keep-'));
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    const run = (...extra: string[]) => runRetrievalBenchCommand(['--items', '2000', '--dim', '8', '--queries', '10', '--threads', '1', '--out', dir, '--keep-index', ...extra]);
    try {
      const first = await run();
      expect(first.build_reused).toBeUndefined();
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.usearch'))).toHaveLength(4);
      lines.length = 0;
      const second = await run();
      expect(second.build_reused?.built_at).toEqual(expect.any(String));
      expect(second.ann.build_s).toBe(first.ann.build_s);
      expect(second.ann.recall_at_300).toBe(first.ann.recall_at_300);
      expect(lines.join('')).toMatch(/hnsw: reusing the graphs built/);
      lines.length = 0;
      const other = await run('--m', '8');
      expect(other.build_reused).toBeUndefined();
      expect(lines.join('')).toMatch(/of another catalogue or build/);
    } finally {
      write.mockRestore();
      err.mockRestore();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('is deterministic and clustered: the same seed gives the same catalogue', () => {
    const a = clusteredCatalogue(1000, 8, 5, 7);
    const b = clusteredCatalogue(1000, 8, 5, 7);
    expect(Buffer.from(a.vectors.buffer).equals(Buffer.from(b.vectors.buffer))).toBe(true);
    expect(Buffer.from(a.queries.buffer).equals(Buffer.from(b.queries.buffer))).toBe(true);
    expect(Buffer.from(clusteredCatalogue(1000, 8, 5, 8).vectors.buffer).equals(Buffer.from(a.vectors.buffer))).toBe(false);
  });

  it('names a bad flag', async () => {
    await expect(runRetrievalBenchCommand(['--items', 'many'])).rejects.toThrow('--items must be an integer between 10 and 50000000, got "many"');
    await expect(runRetrievalBenchCommand(['--items', '100', '--k', '300'])).rejects.toThrow('--k (300) must not exceed --items (100)');
    await expect(runRetrievalBenchCommand(['--bogus', '1'])).rejects.toThrow(/bogus/);
  });
});
