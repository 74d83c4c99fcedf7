/** Pure parts of `npm run bench -- --compare`: the figures read from both sides, their ratios and targets, the entry by layout. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { benchEntryOf, compareFigures, FIGURES } from '../../src/compare';

const level = (rps: number, p50: number, p99: number, cpu: Record<string, number>) => ({
  stats: { rps, p50_ms: p50, p90_ms: p99, p99_ms: p99, max_ms: p99 },
  cpu_ms_per_request: cpu,
});
const details = (scale: number) => ({
  mesh: {
    c1: level(100 * scale, 5 / scale, 10 / scale, { 'total (without load-gen)': 6 / scale }),
    c16: level(400 * scale, 40, 60, { gateway: 1 / scale, 'candidate-generator': 0.8, 'feature-store': 0.8, ranker: 0.6, redis: 0.2, 'load-gen': 0.2, 'total (without load-gen)': 3.4 / scale }),
  },
  inprocess: { c16: level(700, 20, 30, { 'in-process': 1.3 / scale, redis: 0.2, 'total (without load-gen)': 1.5 / scale }) },
});

describe('compareFigures', () => {
  it('puts every figure side by side with current / baseline and checks the targets on the ratio', () => {
    const f = compareFigures([details(1)], [details(2)]);
    expect(Object.keys(f)).toEqual(FIGURES.map((x) => x.name));
    expect(f['mesh c=16 throughput']).toMatchObject({ baseline: 400, current: 800, ratio: 2, target: '≥ 2×', met: true });
    expect(f['mesh c=1 p50']).toMatchObject({ baseline: 5, current: 2.5, ratio: 0.5, met: true });
    expect(f['mesh c=16 CPU-ms per request (gateway + candidate generator + feature store + ranker + Redis)']).toMatchObject({ baseline: 3.4, current: 1.7, ratio: 0.5, met: true });
    expect(f['in-process c=16 CPU-ms per request (pipeline + Redis)']).toMatchObject({ ratio: 0.5, met: true });
    expect(f['mesh c=16 CPU-ms per request: gateway']).toMatchObject({ baseline: 1, current: 0.5, ratio: 0.5 });
    expect(f['mesh c=16 CPU-ms per request: gateway']!.target).toBeUndefined();
    const worse = compareFigures([details(1)], [details(1.5)]);
    expect(worse['mesh c=16 throughput']).toMatchObject({ ratio: 1.5, met: false });
    expect(worse['mesh c=1 p99']).toMatchObject({ met: false });
  });

  it('takes the median over rounds and keeps every round; a missing figure is null, never a made-up ratio', () => {
    const f = compareFigures([details(1), details(1), details(3)], [details(2), { mesh: {}, inprocess: {} }, details(2)]);
    expect(f['mesh c=16 throughput']).toMatchObject({ baseline: 400, current: 800, baseline_rounds: [400, 400, 1200], current_rounds: [800, null, 800] });
    const none = compareFigures([{ mesh: {} }], [details(1)]);
    expect(none['in-process c=16 throughput']).toMatchObject({ baseline: null, ratio: null });
    expect(none['in-process c=16 throughput']!.met).toBeUndefined();
    expect(none['mesh c=16 throughput']).toMatchObject({ baseline: null, ratio: null, met: false });
  });
});

describe('benchEntryOf', () => {
  it('finds the bench entry of each layout by the files present, newest first', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-entry-'));
    try {
      expect(benchEntryOf(dir)).toBeUndefined();
      fs.mkdirSync(path.join(dir, 'bench/dist/src'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'bench/dist/src/cli.js'), '');
      expect(benchEntryOf(dir)?.entry).toBe('bench/dist/src/cli.js');
      fs.mkdirSync(path.join(dir, 'cli/dist'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'cli/dist/bench.js'), '');
      expect(benchEntryOf(dir)?.entry).toBe('cli/dist/bench.js');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
