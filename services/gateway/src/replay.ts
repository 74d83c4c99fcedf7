/**
 * Replay of the request log: read logged Recommend records (a JSON-lines file or a Redis
 * Stream), send each request again (rate-limited, a bounded number in flight), and compare
 * the new answer with the logged one: the items, their order, their scores.
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { retrievalSourceName, type RecommendResponse } from '@recsys/proto';
import { parseRecord, type RequestLogRecord } from './request-log';

/** The part of an ioredis client a stream source uses. */
export interface StreamReader {
  xrange(key: string, start: string, end: string, count: 'COUNT', n: number): Promise<[string, string[]][]>;
}

/** A record that could not be read, with where it was. */
export interface SkippedRecord {
  where: string;
  problem: string;
}

/**
 * Up to `limit` records of a JSON-lines request log file, oldest first; lines that do not
 * parse go to `onSkip` (named by line number), never silently dropped.
 */
export async function* recordsFromFile(file: string, limit: number, onSkip: (s: SkippedRecord) => void): AsyncGenerator<RequestLogRecord> {
  if (!fs.existsSync(file)) throw new Error(`--from ${file}: no such file`);
  const rl = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  let line = 0;
  for await (const text of rl) {
    line++;
    if (text.trim() === '') continue;
    if (n >= limit) break;
    try {
      yield parseRecord(text);
      n++;
    } catch (err) {
      onSkip({ where: `${file}:${line}`, problem: (err as Error).message });
    }
  }
  rl.close();
}

/** Up to `limit` records of a Redis Stream (field `record`), oldest first, read in pages of 500. */
export async function* recordsFromStream(redis: StreamReader, stream: string, limit: number, onSkip: (s: SkippedRecord) => void): AsyncGenerator<RequestLogRecord> {
  let start = '-';
  let n = 0;
  while (n < limit) {
    const page = await redis.xrange(stream, start, '+', 'COUNT', Math.min(500, limit - n + 1));
    const entries = start === '-' ? page : page.slice(1); // an exclusive start is the previous page's last id
    if (entries.length === 0) return;
    for (const [id, fields] of entries) {
      if (n >= limit) return;
      const at = fields.indexOf('record');
      try {
        if (at < 0 || at + 1 >= fields.length) throw new Error('entry has no "record" field');
        yield parseRecord(fields[at + 1] as string);
        n++;
      } catch (err) {
        onSkip({ where: `${stream} ${id}`, problem: (err as Error).message });
      }
    }
    start = (entries[entries.length - 1] as [string, string[]])[0];
  }
}

/** How one replayed answer differs from the logged one. */
export interface ReplayDiff {
  request_id: string;
  user_id: string;
  /** `same`, or the first kind of difference: item set, then order, then scores. */
  kind: 'same' | 'items' | 'order' | 'scores' | 'error';
  /** Items logged but not returned now, and returned now but not logged. */
  missing: string[];
  added: string[];
  /** |logged ∩ replayed| / |logged| (1 when both are empty). */
  overlap: number;
  /** Positions (0-based) where the same place holds another item. */
  moved: number;
  /** Largest |Δscore| over the items in both answers. */
  max_score_delta: number;
  logged_model_version: string;
  replayed_model_version: string;
  error?: string;
}

/** Compares a logged record with the answer the same request gets now (scores equal within `tolerance`). */
export function diffAnswer(rec: RequestLogRecord, res: RecommendResponse, tolerance: number): ReplayDiff {
  const logged = rec.items.map((i) => i.item_id);
  const now = res.items.map((i) => i.itemId);
  const nowSet = new Set(now);
  const loggedSet = new Set(logged);
  const missing = logged.filter((id) => !nowSet.has(id));
  const added = now.filter((id) => !loggedSet.has(id));
  let moved = 0;
  for (let i = 0; i < Math.max(logged.length, now.length); i++) if (logged[i] !== now[i]) moved++;
  const scoreNow = new Map(res.items.map((i) => [i.itemId, i.score]));
  let maxDelta = 0;
  for (const i of rec.items) {
    const s = scoreNow.get(i.item_id);
    if (s !== undefined) maxDelta = Math.max(maxDelta, Math.abs(s - i.score));
  }
  const sourcesDiffer = rec.items.some((i, p) => res.items[p] && res.items[p].itemId === i.item_id && (retrievalSourceName(res.items[p].source) ?? String(res.items[p].source)) !== i.source);
  const kind: ReplayDiff['kind'] = missing.length > 0 || added.length > 0 ? 'items' : moved > 0 ? 'order' : maxDelta > tolerance || sourcesDiffer ? 'scores' : 'same';
  return {
    request_id: rec.request_id,
    user_id: rec.user_id,
    kind,
    missing,
    added,
    overlap: logged.length === 0 ? (now.length === 0 ? 1 : 0) : (logged.length - missing.length) / logged.length,
    moved,
    max_score_delta: maxDelta,
    logged_model_version: rec.model_version,
    replayed_model_version: res.modelVersion,
  };
}

/** Totals of a replay. */
export interface ReplaySummary {
  requests: number;
  same: number;
  items: number;
  order: number;
  scores: number;
  errors: number;
  skipped_records: number;
  mean_overlap: number;
  max_score_delta: number;
  elapsed_ms: number;
}

export interface ReplayOptions {
  /** Requests started per second at most. */
  rate: number;
  /** Requests in flight at most. */
  concurrency: number;
  tolerance: number;
  /** Called with every diff as it completes (in completion order). */
  onDiff?: (d: ReplayDiff) => void;
}

/** The replayed call: the logged request (user, k, exclusions) against the target. */
export type ReplayCall = (rec: RequestLogRecord) => Promise<RecommendResponse>;

/**
 * Replays `records` through `call` at most `rate` per second and `concurrency` at once, and
 * sums up the differences. A failed call is counted as an error with its message.
 */
export async function replay(records: AsyncIterable<RequestLogRecord>, call: ReplayCall, opts: ReplayOptions, skipped: () => number): Promise<ReplaySummary> {
  const t0 = Date.now();
  const sum: ReplaySummary = { requests: 0, same: 0, items: 0, order: 0, scores: 0, errors: 0, skipped_records: 0, mean_overlap: 0, max_score_delta: 0, elapsed_ms: 0 };
  let overlapSum = 0;
  let compared = 0;
  const running = new Set<Promise<void>>();
  const interval = 1000 / opts.rate;
  let next = Date.now();
  for await (const rec of records) {
    while (running.size >= opts.concurrency) await Promise.race(running);
    const wait = next - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    next = Math.max(next + interval, Date.now());
    sum.requests++;
    const p = call(rec).then(
      (res) => {
        const d = diffAnswer(rec, res, opts.tolerance);
        sum[d.kind === 'error' ? 'errors' : d.kind]++;
        overlapSum += d.overlap;
        compared++;
        sum.max_score_delta = Math.max(sum.max_score_delta, d.max_score_delta);
        opts.onDiff?.(d);
      },
      (err: unknown) => {
        sum.errors++;
        const message = (err as { details?: string })?.details || (err as Error)?.message || String(err);
        opts.onDiff?.({
          request_id: rec.request_id,
          user_id: rec.user_id,
          kind: 'error',
          missing: [],
          added: [],
          overlap: 0,
          moved: 0,
          max_score_delta: 0,
          logged_model_version: rec.model_version,
          replayed_model_version: '',
          error: message,
        });
      },
    );
    const tracked: Promise<void> = p.finally(() => running.delete(tracked));
    running.add(tracked);
  }
  await Promise.all(running);
  sum.skipped_records = skipped();
  sum.mean_overlap = compared === 0 ? 0 : overlapSum / compared;
  sum.elapsed_ms = Date.now() - t0;
  return sum;
}
