/**
 * `npm run replay -- --from <log file | redis://host:port> (--target <gateway> | --artifacts DIR)`
 *
 * Re-sends the Recommend requests of a request log (README "Request log") and reports, per
 * request and in total, where today's answers differ from the logged ones: the items, their
 * order, their scores. `--target` calls a running gateway; `--artifacts` runs the gateway's
 * pipeline in this process over another artifact (the services' own handler modules, the
 * memory feature store; no mesh).
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadArtifacts, resolveArtifactDir, type IndexChoice } from '@recsys/core';
import { callUnary, createClient, loadConfig, type CallContext } from '@recsys/grpc-kit';
import { GatewayServiceClient, type FeatureBatch, type RecommendResponse } from '@recsys/proto';
import { candidateGeneratorConfig } from '@recsys/candidate-generator/config';
import { CANDIDATE_GENERATOR_PARTS, Retriever } from '@recsys/candidate-generator/retrieval';
import { candidateGeneratorHandlers } from '@recsys/candidate-generator/server';
import { featureStoreConfig } from '@recsys/feature-store/config';
import { MemoryBackend } from '@recsys/feature-store/memory-backend';
import { featureStoreHandlers } from '@recsys/feature-store/server';
import { gatewayConfig } from '@recsys/gateway/config';
import { recommend } from '@recsys/gateway/pipeline';
import { recordsFromFile, recordsFromStream, replay, type ReplayCall, type ReplayDiff, type SkippedRecord } from '@recsys/gateway/replay';
import type { StageCall, Stages } from '@recsys/gateway/stages';
import { validateRecommend } from '@recsys/gateway/validate';
import { rankerConfig } from '@recsys/ranker/config';
import { RankerModel } from '@recsys/ranker/model';
import { rankerHandlers } from '@recsys/ranker/server';

const USAGE = `Usage: npm run replay -- --from <log file | redis://host:port[/db]> (--target HOST:PORT | --artifacts DIR) [options]

Re-sends the Recommend requests of a request log and reports where the answers differ from
the logged ones (items, order, scores), per request and in total.

  --from SRC          a request log file (JSON lines) or a Redis URL (reads --stream)
  --stream KEY        Redis Stream of the log (default recsys:requests)
  --target ADDR       gateway to send the requests to (host:port)
  --artifacts DIR     instead of --target: the gateway's pipeline in this process over the
                      artifact DIR (a root with CURRENT, or a version), memory feature store
  --rate N            requests started per second at most (default 50)
  --concurrency N     requests in flight at most (default 4)
  --limit N           records replayed at most, oldest first (default 10000)
  --tolerance X       scores closer than X count as equal (default 1e-6)
  --deadline-ms N     deadline of each request (default 5000)
  --show N            differing requests printed (default 20; all of them go to --out)
  --out FILE          write every request's comparison as JSON lines
  --fail-on-diff      exit 1 when any answer differs or fails
  -h, --help          show this help
`;

class UsageError extends Error {}

function num(flag: string, raw: string, min: number, max: number, integer = true): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
    throw new UsageError(`--${flag} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}, got "${raw}"`);
  }
  return v;
}

/** The gateway's stages as direct calls of the services' handlers over one artifact. */
async function inProcessStages(artifacts: string): Promise<{ stages: Stages; close: () => Promise<void>; version: string }> {
  const dir = resolveArtifactDir(artifacts);
  const cg = loadConfig(candidateGeneratorConfig, {});
  const fsCfg = loadConfig(featureStoreConfig, {});
  const rk = loadConfig(rankerConfig, {});
  // The candidate generator's own load, with its default index choice (services/candidate-generator/src/main.ts).
  const retriever = await Retriever.create(loadArtifacts(dir, CANDIDATE_GENERATOR_PARTS), {
    choice: cg.RETRIEVAL_INDEX as IndexChoice,
    ...(cg.HNSW_EF_SEARCH > 0 ? { efSearch: cg.HNSW_EF_SEARCH } : {}),
  });
  const backend = new MemoryBackend(loadArtifacts(dir, ['itemFeatures', 'userFeatures', 'userHistory']));
  const model = await RankerModel.load(loadArtifacts(dir, ['ranker']), rk.ORT_INTRA_OP_THREADS);
  const candidates = candidateGeneratorHandlers(() => retriever, { defaultNumCandidates: cg.DEFAULT_NUM_CANDIDATES, maxNumCandidates: cg.MAX_NUM_CANDIDATES });
  const features = featureStoreHandlers(() => backend, { maxRecentItems: fsCfg.DEFAULT_MAX_RECENT_ITEMS });
  const ranker = rankerHandlers(() => model, { maxCandidates: rk.MAX_CANDIDATES });
  const silent = pino({ level: 'silent' });
  const ctx = (method: string, call: StageCall): CallContext => ({ method, deadline: call.deadline, signal: call.signal ?? new AbortController().signal, metadata: new grpc.Metadata(), log: silent });
  const stages: Stages = {
    userContext: async (userId, call) => features.getUserContext({ userId, maxRecentItems: 0 }, ctx('GetUserContext', call)),
    candidates: async (req, call) => candidates.generateCandidates(req, ctx('GenerateCandidates', call)),
    itemFeatures: async (itemIds, call): Promise<FeatureBatch> => {
      const res = await features.getOnlineFeatures({ featureView: 'item', entityIds: itemIds, featureNames: [], packedValues: true }, ctx('GetOnlineFeatures', call));
      if (!res.features) throw new Error('feature store returned no feature batch');
      return res.features;
    },
    rank: async (req, call) => ranker.rank(req, ctx('Rank', call)),
  };
  return {
    stages,
    version: model.version,
    close: async () => {
      await model.close();
      await retriever.release();
    },
  };
}

function describe(d: ReplayDiff): string {
  const who = `${d.request_id || '(no id)'} user ${d.user_id}`;
  if (d.kind === 'error') return `${who}: failed: ${d.error}`;
  const versions = d.logged_model_version !== d.replayed_model_version ? ` (model ${d.logged_model_version || '-'} → ${d.replayed_model_version || '-'})` : '';
  if (d.kind === 'items') return `${who}: items differ${versions}: overlap ${(d.overlap * 100).toFixed(0)} %, missing [${d.missing.join(', ')}], added [${d.added.join(', ')}]`;
  if (d.kind === 'order') return `${who}: same items, order differs${versions}: ${d.moved} positions hold another item`;
  return `${who}: same items and order, scores differ${versions}: max |Δscore| ${d.max_score_delta.toExponential(3)}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      from: { type: 'string' },
      stream: { type: 'string', default: 'recsys:requests' },
      target: { type: 'string' },
      artifacts: { type: 'string' },
      rate: { type: 'string', default: '50' },
      concurrency: { type: 'string', default: '4' },
      limit: { type: 'string', default: '10000' },
      tolerance: { type: 'string', default: '1e-6' },
      'deadline-ms': { type: 'string', default: '5000' },
      show: { type: 'string', default: '20' },
      out: { type: 'string' },
      'fail-on-diff': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values.from) throw new UsageError('--from <log file | redis://host:port> is required');
  if (!values.target === !values.artifacts) throw new UsageError('give exactly one of --target HOST:PORT and --artifacts DIR');
  const rate = num('rate', values.rate, 0.1, 100_000, false);
  const concurrency = num('concurrency', values.concurrency, 1, 1000);
  const limit = num('limit', values.limit, 1, 10_000_000);
  const tolerance = num('tolerance', values.tolerance, 0, 1e9, false);
  const deadlineMs = num('deadline-ms', values['deadline-ms'], 1, 600_000);
  const show = num('show', values.show, 0, 10_000_000);

  const skipped: SkippedRecord[] = [];
  const onSkip = (s: SkippedRecord): void => {
    skipped.push(s);
    if (skipped.length <= 5) process.stderr.write(`skipped ${s.where}: ${s.problem}\n`);
  };
  let redis: Redis | undefined;
  let records: AsyncIterable<import('@recsys/gateway/request-log').RequestLogRecord>;
  if (/^rediss?:\/\//.test(values.from)) {
    redis = new Redis(values.from, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null });
    try {
      await redis.connect();
    } catch (err) {
      throw new Error(`--from ${values.from}: cannot connect (${(err as Error).message})`);
    }
    const type = await redis.type(values.stream);
    if (type !== 'stream') throw new Error(`--stream ${values.stream}: ${type === 'none' ? 'no such key' : `is a ${type}, not a stream`} in ${values.from}`);
    records = recordsFromStream(redis, values.stream, limit, onSkip);
  } else {
    records = recordsFromFile(values.from, limit, onSkip);
  }

  let call: ReplayCall;
  let close: () => Promise<void>;
  let targetName: string;
  if (values.target) {
    const client = createClient(GatewayServiceClient, values.target);
    call = (rec) => callUnary(client.recommend.bind(client), { userId: rec.user_id, k: rec.k, excludeItemIds: rec.exclude_item_ids, debug: false }, { deadline: Date.now() + deadlineMs });
    close = async () => client.close();
    targetName = `gateway ${values.target}`;
  } else {
    const local = await inProcessStages(values.artifacts as string);
    const gw = loadConfig(gatewayConfig, {});
    const limits = { defaultK: gw.DEFAULT_K, maxK: gw.MAX_K, maxExcludeItems: gw.MAX_EXCLUDE_ITEMS };
    call = async (rec): Promise<RecommendResponse> => {
      const req = { userId: rec.user_id, k: rec.k, excludeItemIds: rec.exclude_item_ids, debug: false };
      const k = validateRecommend(req, limits);
      return recommend({ ...req, k, deadline: Date.now() + deadlineMs, numCandidates: gw.NUM_CANDIDATES }, local.stages);
    };
    close = local.close;
    targetName = `in-process pipeline on ${resolveArtifactDir(values.artifacts as string)} (model ${local.version})`;
  }
  process.stderr.write(`replaying ${values.from}${redis ? ` stream ${values.stream}` : ''} against ${targetName} (≤ ${rate}/s, ≤ ${concurrency} in flight, ≤ ${limit} records)\n`);

  const out = values.out ? fs.createWriteStream(values.out) : undefined;
  let shown = 0;
  let done = 0;
  const progress = setInterval(() => process.stderr.write(`  … ${done} replayed\n`), 2000);
  progress.unref();
  let summary;
  try {
    summary = await replay(
      records,
      call,
      {
        rate,
        concurrency,
        tolerance,
        onDiff: (d) => {
          done++;
          out?.write(`${JSON.stringify(d)}\n`);
          if (d.kind !== 'same' && shown < show) {
            shown++;
            process.stdout.write(`${describe(d)}\n`);
          }
        },
      },
      () => skipped.length,
    );
  } finally {
    clearInterval(progress);
    await close();
    redis?.disconnect();
    await new Promise<void>((r) => (out ? out.end(() => r()) : r()));
  }
  const differing = summary.items + summary.order + summary.scores;
  const pct = (n: number): string => (summary.requests === 0 ? '0' : ((100 * n) / summary.requests).toFixed(1));
  process.stdout.write(
    [
      '',
      `replayed ${summary.requests} requests in ${(summary.elapsed_ms / 1000).toFixed(1)} s${summary.skipped_records ? ` (${summary.skipped_records} unreadable records skipped)` : ''}`,
      `  identical       ${summary.same} (${pct(summary.same)} %)`,
      `  items differ    ${summary.items} (${pct(summary.items)} %)`,
      `  order differs   ${summary.order} (${pct(summary.order)} %)`,
      `  scores differ   ${summary.scores} (${pct(summary.scores)} %)   largest |Δscore| ${summary.max_score_delta.toExponential(3)}`,
      `  failed          ${summary.errors}`,
      `  mean top-k overlap ${(summary.mean_overlap * 100).toFixed(1)} %`,
      differing + summary.errors === 0 ? 'no differences' : `${differing} of ${summary.requests} answers differ${shown < differing + summary.errors ? ` (first ${shown} shown${values.out ? `, all in ${values.out}` : '; --out FILE writes all'})` : ''}`,
      '',
    ].join('\n'),
  );
  return values['fail-on-diff'] && differing + summary.errors > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`replay: ${(err as Error).message}\n`);
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`\n${USAGE}`);
      process.exit(2);
    }
    process.exit(1);
  },
);
