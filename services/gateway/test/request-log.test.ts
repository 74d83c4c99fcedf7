import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RequestLog, RotatingFileSink, parseRecord, type RecordSink, type RequestLogRecord } from '@recsys/gateway/request-log';

const record = (i: number): RequestLogRecord => ({
  format: 1,
  request_id: `r${i}`,
  trace_id: '',
  time: new Date(0).toISOString(),
  user_id: `u${i}`,
  k: 2,
  exclude_item_ids: [],
  items: [{ item_id: 'a', score: 1.5, source: 'embedding' }],
  model_version: 'm',
  artifact_version: 'a',
  variant: '',
  degraded_stages: [],
  timings_ms: { total: 1 },
});

function harness(sink: RecordSink, bufferSize: number) {
  const drops: Record<string, number> = {};
  const warnings: unknown[] = [];
  let written = 0;
  const log = new RequestLog(sink, {
    bufferSize,
    flushIntervalMs: 5,
    dropLogIntervalMs: 60_000,
    onDrop: (reason, n) => (drops[reason] = (drops[reason] ?? 0) + n),
    onWritten: (n) => (written += n),
    warn: (fields) => warnings.push(fields),
  });
  return { log, drops, warnings, written: () => written };
}

const until = async (pred: () => boolean, ms = 2000): Promise<void> => {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
};

describe('RequestLog', () => {
  it('writes every record in order through the sink, in batches, off the offer call', async () => {
    const lines: string[] = [];
    const h = harness({ description: 'mem', write: async (l) => void lines.push(...l), close: async () => {} }, 100);
    for (let i = 0; i < 50; i++) h.log.offer(record(i));
    expect(lines).toHaveLength(0); // nothing written inside offer()
    await until(() => lines.length === 50);
    expect(lines.map((l) => parseRecord(l).request_id)).toEqual(Array.from({ length: 50 }, (_, i) => `r${i}`));
    expect(h.written()).toBe(50);
    expect(h.drops).toEqual({});
  });

  it('a stuck sink: the buffer stays bounded, the excess is dropped and counted, one warning per interval', async () => {
    const h = harness({ description: 'stuck', write: () => new Promise(() => {}), close: async () => {} }, 10);
    for (let i = 0; i < 100; i++) h.log.offer(record(i));
    await new Promise((r) => setTimeout(r, 30));
    for (let i = 0; i < 100; i++) h.log.offer(record(i));
    expect(h.log.pending).toBeLessThanOrEqual(10);
    expect(h.drops.buffer_full).toBeGreaterThanOrEqual(180);
    expect(h.warnings).toHaveLength(1);
  });

  it('a failing sink: records of the failed batches are counted as sink_error', async () => {
    const h = harness({ description: 'down', write: () => Promise.reject(new Error('ECONNREFUSED')), close: async () => {} }, 1000);
    for (let i = 0; i < 20; i++) h.log.offer(record(i));
    await until(() => (h.drops.sink_error ?? 0) === 20);
    expect(h.drops.sink_error).toBe(20);
    expect(h.warnings[0]).toMatchObject({ lastError: 'ECONNREFUSED', sink: 'down' });
  });

  it('close() writes what is buffered', async () => {
    const lines: string[] = [];
    const h = harness({ description: 'mem', write: async (l) => void lines.push(...l), close: async () => {} }, 100);
    for (let i = 0; i < 7; i++) h.log.offer(record(i));
    await h.log.close();
    expect(lines).toHaveLength(7);
    h.log.offer(record(8));
    expect(h.drops.buffer_full).toBe(1);
  });
});

describe('RotatingFileSink', () => {
  it('rotates at the size bound and keeps the configured number of old files', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reqlog-'));
    const file = path.join(dir, 'sub', 'requests.jsonl');
    const sink = new RotatingFileSink(file, 4096, 2);
    const line = JSON.stringify(record(0));
    for (let i = 0; i < 100; i++) await sink.write([line, line]);
    const files = fs.readdirSync(path.dirname(file)).sort();
    expect(files).toEqual(['requests.jsonl', 'requests.jsonl.1', 'requests.jsonl.2']);
    for (const f of files) {
      const text = fs.readFileSync(path.join(path.dirname(file), f), 'utf8');
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
      for (const l of text.trim().split('\n')) expect(parseRecord(l).user_id).toBe('u0');
    }
  });
});

describe('parseRecord', () => {
  it.each([
    ['not json', 'not JSON'],
    ['[]', 'format must be 1'],
    ['{"format":2}', 'format must be 1'],
    ['{"format":1,"k":1,"items":[],"exclude_item_ids":[]}', 'user_id: missing'],
  ])('refuses %s', (line, message) => expect(() => parseRecord(line)).toThrow(message));
});
