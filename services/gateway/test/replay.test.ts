import { diffAnswer, recordsFromStream, replay, type StreamReader } from '@recsys/gateway/replay';
import type { RequestLogRecord } from '@recsys/gateway/request-log';
import { RetrievalSource, type RecommendResponse } from '@recsys/proto';

const rec = (items: [string, number][], extra: Partial<RequestLogRecord> = {}): RequestLogRecord => ({
  format: 1,
  request_id: 'r',
  trace_id: '',
  time: '',
  user_id: 'u',
  k: items.length,
  exclude_item_ids: [],
  items: items.map(([item_id, score]) => ({ item_id, score, source: 'embedding' })),
  model_version: 'm1',
  artifact_version: 'a',
  variant: '',
  degraded_stages: [],
  timings_ms: {},
  ...extra,
});
const res = (items: [string, number][], modelVersion = 'm1'): RecommendResponse => ({
  items: items.map(([itemId, score]) => ({ itemId, score, source: RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING })),
  modelVersion,
  artifactVersion: 'a',
  degradedStages: [],
  timings: [],
  traceId: '',
  variant: '',
  requestId: '',
});

describe('diffAnswer', () => {
  it('classifies items, then order, then scores', () => {
    expect(diffAnswer(rec([['a', 2], ['b', 1]]), res([['a', 2], ['b', 1]]), 1e-6)).toMatchObject({ kind: 'same', overlap: 1, moved: 0 });
    expect(diffAnswer(rec([['a', 2], ['b', 1]]), res([['a', 2], ['c', 1]]), 1e-6)).toMatchObject({ kind: 'items', missing: ['b'], added: ['c'], overlap: 0.5, moved: 1 });
    expect(diffAnswer(rec([['a', 2], ['b', 1]]), res([['b', 2], ['a', 1]]), 1e-6)).toMatchObject({ kind: 'order', moved: 2, max_score_delta: 1 });
    const s = diffAnswer(rec([['a', 2], ['b', 1]]), res([['a', 2.001], ['b', 1]], 'm2'), 1e-6);
    expect(s).toMatchObject({ kind: 'scores', logged_model_version: 'm1', replayed_model_version: 'm2' });
    expect(s.max_score_delta).toBeCloseTo(0.001, 6);
    expect(diffAnswer(rec([['a', 2]]), res([['a', 2.0000001]]), 1e-6).kind).toBe('same');
    expect(diffAnswer(rec([]), res([]), 0).overlap).toBe(1);
  });
});

describe('recordsFromStream', () => {
  it('pages through the stream oldest first, up to the limit, skipping (and reporting) bad entries', async () => {
    const entries: [string, string[]][] = Array.from({ length: 1203 }, (_, i) => [`${i + 1}-0`, ['record', JSON.stringify(rec([['a', 1]], { request_id: `r${i}` }))]]);
    entries[10] = ['11-0', ['other', 'x']];
    const reader: StreamReader = {
      xrange: async (_k, start, _end, _c, n) => {
        const from = start === '-' ? 0 : entries.findIndex(([id]) => id === start);
        return entries.slice(from, from + n);
      },
    };
    const skipped: string[] = [];
    const got: string[] = [];
    for await (const r of recordsFromStream(reader, 's', 5000, (s) => skipped.push(s.where))) got.push(r.request_id);
    expect(got).toHaveLength(1202);
    expect(got[0]).toBe('r0');
    expect(got[10]).toBe('r11');
    expect(new Set(got).size).toBe(1202);
    expect(skipped).toEqual(['s 11-0']);
    const limited: string[] = [];
    for await (const r of recordsFromStream(reader, 's', 700, () => {})) limited.push(r.request_id);
    expect(limited).toHaveLength(700);
  });
});

describe('replay', () => {
  async function* records(n: number): AsyncGenerator<RequestLogRecord> {
    for (let i = 0; i < n; i++) yield rec([['a', 1]], { request_id: `r${i}` });
  }

  it('keeps to the rate and the concurrency bound, and counts failures', async () => {
    let inFlight = 0;
    let peak = 0;
    const t0 = Date.now();
    const summary = await replay(
      records(11),
      async (r) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((x) => setTimeout(x, 30));
        inFlight--;
        if (r.request_id === 'r3') throw new Error('boom');
        return res([['a', 1]]);
      },
      { rate: 100, concurrency: 2, tolerance: 0 },
      () => 0,
    );
    // 11 starts at ≤ 100/s are at least 100 ms apart from first to last.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect(peak).toBeLessThanOrEqual(2);
    expect(summary).toMatchObject({ requests: 11, same: 10, errors: 1 });
  });
});
