/** Pure parts of the benchmark harness: percentiles, the reference comparison, the chart, the user sequence. */
import { latencyThroughputSvg } from '../../src/chart';
import { runClosedLoop, userSequence } from '../../src/closed-loop';
import { compareWithReference } from '../../src/reference';
import { percentile, summarize } from '../../src/stats';
import { gcBetween, handlingBetween, parseHandlingTotals } from '../../src/server-metrics';

describe('bench statistics', () => {
  it('uses nearest-rank percentiles on the sorted latencies', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarizes unsorted latencies into rps over the window and ordered percentiles', () => {
    const lat = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(summarize(lat, 2000)).toEqual({ rps: 5, p50_ms: 5, p90_ms: 9, p99_ms: 10, max_ms: 10 });
  });
});

describe('bench reference check', () => {
  const reference = { '7': { candidates_top5: [1, 2, 3, 4, 5], items: [10, 11], scores: [0.9, 0.8] } };
  const good = { candidates: ['1', '2', '3', '4', '5', '6'], items: [{ itemId: '10', score: 0.90000004 }, { itemId: '11', score: 0.7999996 }] };

  it('accepts answers equal to 6 decimals', () => {
    expect(compareWithReference(reference, { '7': good })).toEqual([]);
  });

  it('names the user and position of every difference', () => {
    const bad = { candidates: ['1', '2', '9', '4', '5'], items: [{ itemId: '10', score: 0.9 }, { itemId: '11', score: 0.81 }] };
    expect(compareWithReference(reference, { '7': bad })).toEqual([
      'user 7: retrieval candidate #3 is 9, reference 3',
      'user 7: final item #2 (11) has score 0.810000, reference 0.8',
    ]);
    expect(compareWithReference(reference, {})).toEqual(['user 7: no answer']);
    expect(compareWithReference(reference, { '7': { ...good, degraded: ['user context unavailable, seen items not excluded, default user features: deadline'] } })).toEqual([
      'user 7: answer degraded (user context unavailable, seen items not excluded, default user features: deadline), so not comparable with the reference',
    ]);
    expect(compareWithReference(reference, { '7': { ...good, degraded: [] } })).toEqual([]);
    expect(compareWithReference(reference, { '7': { ...good, items: good.items.slice(0, 1) } })).toEqual(['user 7: final item #2 missing, reference 11 (score 0.8)']);
  });
});

describe('bench load generator', () => {
  it('draws the same uniform users for the same seed', () => {
    const a = userSequence(3, 5000);
    const b = userSequence(3, 5000);
    const drawn = Array.from({ length: 5000 }, () => a());
    expect(Array.from({ length: 5000 }, () => b())).toEqual(drawn);
    const counts = new Map<string, number>();
    for (const u of drawn) counts.set(u, (counts.get(u) ?? 0) + 1);
    expect(drawn.every((u) => Number(u) >= 0 && Number(u) < 5000 && Number.isInteger(Number(u)))).toBe(true);
    expect(counts.size).toBeGreaterThan(2500); // uniform over 5000 users: ~3160 distinct in 5000 draws
  });
});

describe('bench chart', () => {
  it('draws one p50 and one p99 line per variant with a label per level', () => {
    const stats = (rps: number, p50: number, p99: number) => ({ rps, p50_ms: p50, p90_ms: p50, p99_ms: p99, max_ms: p99 });
    const svg = latencyThroughputSvg(
      [
        { name: 'mesh', color: '#00f', points: [{ label: 'c=1', stats: stats(100, 2, 5) }, { label: 'c=16', stats: stats(900, 15, 35) }] },
        { name: 'in-process', color: '#f00', points: [{ label: 'c=16', stats: stats(2000, 7, 12) }] },
      ],
      'test <chart>',
    );
    expect(svg.match(/<polyline/g)).toHaveLength(4);
    expect(svg).toContain('test &lt;chart&gt;');
    expect(svg.match(/>c=16</g)).toHaveLength(2);
  });
});

describe('bench server-side handler times', () => {
  it('takes the mean handler time per method between two /metrics scrapes', () => {
    const scrape = (sum: number, count: number): string =>
      [
        '# TYPE grpc_server_handling_seconds histogram',
        `grpc_server_handling_seconds_bucket{le="0.001",method="/recsys.v1.RankerService/Rank"} ${count}`,
        `grpc_server_handling_seconds_sum{method="/recsys.v1.RankerService/Rank"} ${sum}`,
        `grpc_server_handling_seconds_count{method="/recsys.v1.RankerService/Rank"} ${count}`,
      ].join('\n');
    const before = parseHandlingTotals(scrape(1.5, 100));
    const after = parseHandlingTotals(scrape(2.5, 600));
    expect(handlingBetween(before, after)).toEqual({ '/recsys.v1.RankerService/Rank': { calls: 500, mean_ms: 2 } });
    expect(handlingBetween(after, after)).toEqual({});
  });

  it('reads garbage collections of every kind (prom-client nodejs_gc_duration_seconds) and counts them per request between two scrapes', () => {
    const scrape = (minor: number, major: number, secs: number) =>
      [
        '# TYPE nodejs_gc_duration_seconds histogram',
        'nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor",service="ranker"} 3',
        `nodejs_gc_duration_seconds_sum{kind="minor",service="ranker"} ${secs}`,
        `nodejs_gc_duration_seconds_count{kind="minor",service="ranker"} ${minor}`,
        `nodejs_gc_duration_seconds_sum{kind="major",service="ranker"} 0.5`,
        `nodejs_gc_duration_seconds_count{kind="major",service="ranker"} ${major}`,
        'grpc_server_handling_seconds_count{method="/recsys.v1.RankerService/Rank",service="ranker"} 10',
      ].join('\n');
    const before = parseHandlingTotals(scrape(10, 1, 0.1));
    const after = parseHandlingTotals(scrape(60, 3, 0.3));
    expect(Object.keys(after).sort()).toEqual(['/recsys.v1.RankerService/Rank', 'gc major', 'gc minor']);
    expect(gcBetween(before, after, 1000)).toEqual({ collections: 52, per_request: 0.052, ms_per_request: 0.2 });
    expect(handlingBetween(before, after)).toEqual({});
    expect(gcBetween({}, parseHandlingTotals('grpc_server_handling_seconds_count{method="m"} 1'), 10)).toBeUndefined();
  });
});

describe('bench closed loop', () => {
  const answer = { items: [], modelVersion: '', artifactVersion: '', degradedStages: [], timings: [], traceId: '', variant: '', requestId: '' };

  it('keeps the window open until min-requests completed, counts errors apart, and signals the window once each way', async () => {
    let n = 0;
    const users = new Set<string>();
    const call = async (userId: string) => {
      users.add(userId);
      await new Promise((r) => setTimeout(r, 2));
      if (++n % 5 === 0) throw new Error('boom');
      return answer;
    };
    const events: string[] = [];
    const r = await runClosedLoop(call, { concurrency: 3, warmupMs: 5, durationMs: 1, minRequests: 40, users: 100, debugEvery: 0, seed: 1 }, () => events.push('open'), () => events.push('close'));
    expect(events).toEqual(['open', 'close']);
    expect(r.latenciesMs.length + r.errors).toBeGreaterThanOrEqual(40);
    expect(r.errors).toBeGreaterThan(0);
    expect(r.errorSamples[0]).toBe('boom');
    expect(r.wallMs).toBeGreaterThanOrEqual(1);
    expect(users.size).toBeGreaterThan(1);
  });
});
