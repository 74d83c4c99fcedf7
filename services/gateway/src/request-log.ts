/**
 * The request log: one JSON record per served Recommend (README "Request log" documents the
 * format), written off the request path. {@link RequestLog.offer} only appends to a bounded
 * buffer; a flush loop serialises and hands batches to the sink (a Redis Stream with
 * `XADD … MAXLEN ~ N`, or JSON lines in a rotating file). A full buffer or a failing sink
 * drops records: every drop is counted, and a warning is logged at most once per interval.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Version of the record format; bumped on an incompatible change. */
export const REQUEST_LOG_FORMAT = 1;

/** Shadow scoring's outcome in a record. */
export interface ShadowRecord {
  variant: string;
  /** `scored`, or why not: `skipped_load` (too many in flight), `failed` (its call failed). */
  outcome: 'scored' | 'skipped_load' | 'failed';
  model_version?: string;
  /** |served top-k ∩ shadow top-k| / k after the same business rules (0–1). */
  topk_overlap?: number;
  /** Spearman ρ of the served items' order under the shadow model (−1–1; absent for fewer than 2 items). */
  rank_correlation?: number;
  /** The shadow's top-k after the business rules. */
  items?: string[];
  error?: string;
}

/** One served Recommend. */
export interface RequestLogRecord {
  format: typeof REQUEST_LOG_FORMAT;
  request_id: string;
  /** W3C trace id (32 hex) when the call was traced or its caller sent a traceparent, else ''. */
  trace_id: string;
  /** When the call arrived, ISO 8601 UTC. */
  time: string;
  user_id: string;
  /** k as served (0 in the request already replaced by the default). */
  k: number;
  exclude_item_ids: string[];
  items: { item_id: string; score: number; source: string }[];
  model_version: string;
  artifact_version: string;
  variant: string;
  degraded_stages: { stage: string; reason: string }[];
  /** Wall time per stage and in total, ms. */
  timings_ms: Record<string, number>;
  shadow?: ShadowRecord;
}

/** Where records go: one call per batch of serialised lines. */
export interface RecordSink {
  /** `redis stream recsys:requests` / `file request-log/requests.jsonl`, for logs. */
  readonly description: string;
  write(lines: string[]): Promise<void>;
  close(): Promise<void>;
}

export interface RequestLogOptions {
  /** Records waiting at most; one more is dropped. */
  bufferSize: number;
  /** Lines per sink write at most. */
  batchSize?: number;
  /** Time between flushes when the buffer is not full enough for a batch. */
  flushIntervalMs?: number;
  /** Time between two drop warnings. */
  dropLogIntervalMs?: number;
  /** Called with every drop (reason `buffer_full` or `sink_error`) and its count, for a metric. */
  onDrop: (reason: 'buffer_full' | 'sink_error', count: number) => void;
  /** Called with records written, for a metric. */
  onWritten?: (count: number) => void;
  /** The once-per-interval warning. */
  warn: (fields: Record<string, unknown>, message: string) => void;
}

/** The bounded buffer and its flush loop in front of a sink. */
export class RequestLog {
  private buffer: RequestLogRecord[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private dropsSinceWarn: Record<string, number> = {};
  private lastWarn = 0;
  private lastError = '';
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly dropLogIntervalMs: number;

  constructor(
    readonly sink: RecordSink,
    private readonly opts: RequestLogOptions,
  ) {
    this.batchSize = opts.batchSize ?? 256;
    this.flushIntervalMs = opts.flushIntervalMs ?? 100;
    this.dropLogIntervalMs = opts.dropLogIntervalMs ?? 10_000;
  }

  /** Records waiting for the sink. */
  get pending(): number {
    return this.buffer.length;
  }

  /** Queues one record; O(1), never waits. Dropped (and counted) when the buffer is full or the log closed. */
  offer(record: RequestLogRecord): void {
    if (this.closed || this.buffer.length >= this.opts.bufferSize) {
      this.drop('buffer_full', 1);
      return;
    }
    this.buffer.push(record);
    if (!this.flushing && this.timer === undefined) {
      this.timer = setTimeout(() => this.flushSoon(), this.buffer.length >= this.batchSize ? 0 : this.flushIntervalMs);
      this.timer.unref();
    }
  }

  private flushSoon(): void {
    this.timer = undefined;
    this.flushing ??= this.flushAll().finally(() => {
      this.flushing = undefined;
      if (this.buffer.length > 0 && !this.closed) this.offerTimer();
    });
  }

  private offerTimer(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.flushSoon(), this.flushIntervalMs);
    this.timer.unref();
  }

  private async flushAll(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.batchSize);
      const lines = batch.map((r) => JSON.stringify(r));
      try {
        await this.sink.write(lines);
        this.opts.onWritten?.(lines.length);
      } catch (err) {
        this.lastError = (err as Error)?.message ?? String(err);
        this.drop('sink_error', lines.length);
        // A sink that fails fails fast; don't spin on it: wait for the next interval.
        if (!this.closed) return;
      }
    }
  }

  private drop(reason: 'buffer_full' | 'sink_error', count: number): void {
    this.opts.onDrop(reason, count);
    this.dropsSinceWarn[reason] = (this.dropsSinceWarn[reason] ?? 0) + count;
    const now = Date.now();
    if (now - this.lastWarn >= this.dropLogIntervalMs) {
      this.lastWarn = now;
      this.opts.warn(
        { dropped: this.dropsSinceWarn, sink: this.sink.description, ...(this.lastError ? { lastError: this.lastError } : {}), intervalMs: this.dropLogIntervalMs },
        'request log records dropped (counted in recsys_request_log_dropped_total); next report in one interval',
      );
      this.dropsSinceWarn = {};
    }
  }

  /** Writes what is buffered (bounded by `timeoutMs`), then closes the sink. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const drain = (async () => {
      await this.flushing;
      await this.flushAll();
    })();
    this.closed = true;
    await Promise.race([drain, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    if (this.buffer.length > 0) this.drop('sink_error', this.buffer.splice(0).length);
    await this.sink.close();
  }
}

/**
 * JSON lines appended to `file`; once it reaches `maxBytes` it becomes `<file>.1` (`.1` →
 * `.2`, …, the oldest beyond `keep` deleted) and a new file is started.
 */
export class RotatingFileSink implements RecordSink {
  readonly description: string;
  private size: number;

  constructor(
    readonly file: string,
    private readonly maxBytes: number,
    private readonly keep: number,
  ) {
    this.description = `file ${file}`;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.size = fs.existsSync(file) ? fs.statSync(file).size : 0;
  }

  async write(lines: string[]): Promise<void> {
    const text = lines.join('\n') + '\n';
    const bytes = Buffer.byteLength(text);
    if (this.size > 0 && this.size + bytes > this.maxBytes) await this.rotate();
    await fs.promises.appendFile(this.file, text);
    this.size += bytes;
  }

  private async rotate(): Promise<void> {
    if (this.keep === 0) {
      await fs.promises.rm(this.file, { force: true });
    } else {
      await fs.promises.rm(`${this.file}.${this.keep}`, { force: true });
      for (let i = this.keep - 1; i >= 1; i--) {
        await fs.promises.rename(`${this.file}.${i}`, `${this.file}.${i + 1}`).catch(() => {});
      }
      await fs.promises.rename(this.file, `${this.file}.1`);
    }
    this.size = 0;
  }

  async close(): Promise<void> {}
}

/** The part of an ioredis client the stream sink uses. */
export interface StreamClient {
  xadd(...args: (string | number)[]): Promise<string | null>;
  pipeline(): { xadd(...args: (string | number)[]): unknown; exec(): Promise<[Error | null, unknown][] | null> };
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** Each record one entry (`record` = the JSON) of a Redis Stream capped by `XADD … MAXLEN ~ maxLen`. */
export class RedisStreamSink implements RecordSink {
  readonly description: string;

  constructor(
    private readonly redis: StreamClient,
    readonly stream: string,
    private readonly maxLen: number,
  ) {
    this.description = `redis stream ${stream}`;
  }

  async write(lines: string[]): Promise<void> {
    const p = this.redis.pipeline();
    for (const line of lines) p.xadd(this.stream, 'MAXLEN', '~', this.maxLen, '*', 'record', line);
    const results = await p.exec();
    const failed = (results ?? []).find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('redis pipeline returned nothing');
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.redis.quit(), new Promise((r) => setTimeout(r, 500).unref())]);
    } catch {
      // already gone
    }
    this.redis.disconnect();
  }
}

/** Parses one line of a request log; throws naming what is wrong. */
export function parseRecord(line: string): RequestLogRecord {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch (err) {
    throw new Error(`not JSON (${(err as Error).message})`);
  }
  if (!r || typeof r !== 'object') throw new Error('not a JSON object');
  const rec = r as Partial<RequestLogRecord>;
  if (rec.format !== REQUEST_LOG_FORMAT) throw new Error(`format must be ${REQUEST_LOG_FORMAT}, got ${JSON.stringify(rec.format)}`);
  if (typeof rec.user_id !== 'string' || rec.user_id === '') throw new Error('user_id: missing');
  if (typeof rec.k !== 'number') throw new Error('k: missing');
  if (!Array.isArray(rec.items)) throw new Error('items: missing');
  if (!Array.isArray(rec.exclude_item_ids)) throw new Error('exclude_item_ids: missing');
  return rec as RequestLogRecord;
}
