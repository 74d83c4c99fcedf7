import * as path from 'node:path';
import { Cluster, Redis } from 'ioredis';
import * as prom from 'prom-client';
import type { Logger, ServiceMetrics } from '@recsys/grpc-kit';
import { RedisStreamSink, RequestLog, RotatingFileSink, type RecordSink, type StreamClient } from './request-log';

/** The gateway's metrics of experiments, the request log and shadow scoring. */
export interface RolloutMetrics {
  served: prom.Counter<'variant'>;
  logWritten: prom.Counter;
  logDropped: prom.Counter<'reason'>;
  shadow: prom.Counter<'variant' | 'outcome'>;
  shadowOverlap: prom.Histogram<'variant'>;
  shadowCorrelation: prom.Histogram<'variant'>;
}

export function rolloutMetrics(metrics: ServiceMetrics): RolloutMetrics {
  const registers = [metrics.registry];
  return {
    served: new prom.Counter({ name: 'recsys_recommend_variant_total', help: 'Recommend calls served, by the experiment variant that ranked them.', labelNames: ['variant'], registers }),
    logWritten: new prom.Counter({ name: 'recsys_request_log_written_total', help: 'Request log records written to the sink.', registers }),
    logDropped: new prom.Counter({
      name: 'recsys_request_log_dropped_total',
      help: 'Request log records dropped: buffer_full (the sink is slower than traffic) or sink_error (the sink failed).',
      labelNames: ['reason'],
      registers,
    }),
    shadow: new prom.Counter({
      name: 'recsys_shadow_total',
      help: 'Shadow scorings by outcome: scored, skipped_load (over SHADOW_MAX_IN_FLIGHT or SHADOW_SKIP_ABOVE_CALLS), failed.',
      labelNames: ['variant', 'outcome'],
      registers,
    }),
    shadowOverlap: new prom.Histogram({
      name: 'recsys_shadow_topk_overlap',
      help: 'Share of the served top-k the shadow variant would also have served.',
      labelNames: ['variant'],
      buckets: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99, 1],
      registers,
    }),
    shadowCorrelation: new prom.Histogram({
      name: 'recsys_shadow_rank_correlation',
      help: "Spearman rank correlation of the served items' order under the shadow variant.",
      labelNames: ['variant'],
      buckets: [-1, -0.5, 0, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1],
      registers,
    }),
  };
}

export interface RequestLogConfig {
  REQUEST_LOG_REDIS_URL: string;
  REQUEST_LOG_STREAM: string;
  REQUEST_LOG_MAXLEN: number;
  REQUEST_LOG_FILE: string;
  REQUEST_LOG_FILE_MAX_BYTES: number;
  REQUEST_LOG_FILE_KEEP: number;
  REQUEST_LOG_BUFFER: number;
}

/**
 * The request log's sink: a Redis Stream when REQUEST_LOG_REDIS_URL (or REDIS_URL) is set,
 * else the rotating file. The Redis client fails fast (no offline queue, 500 ms command
 * timeout) and reconnects by itself, so a Redis outage drops records instead of piling up.
 */
export function requestLogSink(config: RequestLogConfig, env: NodeJS.ProcessEnv = process.env): RecordSink {
  const url = config.REQUEST_LOG_REDIS_URL || env.REDIS_URL || '';
  if (!url) return new RotatingFileSink(path.resolve(config.REQUEST_LOG_FILE), config.REQUEST_LOG_FILE_MAX_BYTES, config.REQUEST_LOG_FILE_KEEP);
  const options = {
    commandTimeout: 500,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 1000,
    retryStrategy: (times: number) => Math.min(50 * 2 ** times, 2000),
  };
  let client: Redis | Cluster;
  if (env.REDIS_MODE === 'cluster' && !config.REQUEST_LOG_REDIS_URL) {
    const seeds = url.split(',').map((u) => {
      const p = new URL(u.trim());
      return { host: p.hostname, port: Number(p.port || 6379) };
    });
    client = new Cluster(seeds, { redisOptions: options, clusterRetryStrategy: options.retryStrategy });
  } else {
    client = new Redis(url, options);
  }
  // Errors surface as failed writes (counted); the client's own error events are not crashes.
  client.on('error', () => {});
  return new RedisStreamSink(client as unknown as StreamClient, config.REQUEST_LOG_STREAM, config.REQUEST_LOG_MAXLEN);
}

/** The request log over its sink, its drops counted in `metrics` and warned about in `log`. */
export function createRequestLog(sink: RecordSink, config: RequestLogConfig, m: RolloutMetrics, log: Logger): RequestLog {
  return new RequestLog(sink, {
    bufferSize: config.REQUEST_LOG_BUFFER,
    onDrop: (reason, count) => m.logDropped.inc({ reason }, count),
    onWritten: (count) => m.logWritten.inc(count),
    warn: (fields, message) => log.warn(fields, message),
  });
}
