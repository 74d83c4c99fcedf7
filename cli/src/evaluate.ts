/**
 * `npm run evaluate -- --artifacts <dir> [--online <gateway address>] [--concurrency N]`
 *
 * Measures an evaluation artifact (built with `--history train`, so it holds the test
 * part in holdout.json) with the protocol of docs/EVALUATION.md: popularity, each
 * retrieval source alone, the merged retrieval and the two-stage result (merged
 * retrieval + the artifact's ONNX ranker), printed as a table and written to
 * `<version dir>/evaluation.json`.
 *
 * With `--online`, every holdout user is also sent through the running mesh's
 * `GatewayService/Recommend` (k = 10), the two-stage metrics are computed from the answers,
 * and the command fails (exit 1) unless they agree with the offline ones to 4 decimals and
 * every user's top-10 list is identical.
 * Offline and online run the same code: `@recsys/core` MergedRetriever (the candidate
 * generator) and assembleRankerInput (the ranker).
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { INDEX_CHOICES, loadArtifacts, type IndexChoice, type LoadedArtifacts } from '@recsys/core';
import { callUnary, createClient } from '@recsys/grpc-kit';
import { GatewayServiceClient } from '@recsys/proto';
import {
  evaluateArtifact,
  evaluateOnline,
  formatEvaluation,
  readHoldout,
  type EvaluationReport,
  type MethodMetrics,
  type OnlineAnswer,
  type RowScorer,
} from '@recsys/offline';
import { rankerSessionOptions } from '@recsys/ranker/model';

const USAGE = `Usage: npm run evaluate -- --artifacts DIR [--online HOST:PORT] [--concurrency N] [--index auto|exact|hnsw] [--ef-search N]

  --artifacts DIR    artifact root (with CURRENT) or version directory, built with --history train
  --online ADDR      also evaluate through the running gateway at ADDR and compare (4 decimals)
  --concurrency N    parallel Recommend calls with --online (default 8)
  --index KIND       embedding search, as the candidate generator's RETRIEVAL_INDEX: auto (the
                     artifact's HNSW index when it has one, else exact; default), exact, hnsw
  --ef-search N      HNSW ef_search instead of the manifest's, as HNSW_EF_SEARCH`;

/** An onnxruntime scorer with the ranker service's session options, so scores match bit for bit. */
async function onnxScorer(a: LoadedArtifacts): Promise<{ score: RowScorer; close: () => Promise<void> }> {
  const session = await ort.InferenceSession.create(a.rankerModel!, rankerSessionOptions(1));
  const { input, output } = a.manifest.ranker;
  return {
    score: async (x, rows, width) => {
      const out = await session.run({ [input]: new ort.Tensor('float32', x, [rows, width]) });
      return out[output]!.data as Float32Array;
    },
    close: () => session.release(),
  };
}

function progress(label: string): (f: number) => void {
  return (f) => process.stderr.write(`\r${label} ${(100 * f).toFixed(0).padStart(3)}%${f >= 1 ? '\n' : ''}`);
}

/** GatewayService/Recommend (k = 10) at `address`, as evaluateOnline asks for it. */
function gatewayRecommender(address: string): { recommend: (userId: string) => Promise<OnlineAnswer>; close: () => void } {
  const client = createClient(GatewayServiceClient, address);
  return {
    recommend: async (userId) => {
      const res = await callUnary(client.recommend.bind(client), { userId, k: 10, excludeItemIds: [], debug: false }, { deadline: Date.now() + 30_000 });
      return { itemIds: res.items.map((it) => it.itemId), version: `${res.artifactVersion}/${res.modelVersion}`, degraded: res.degradedStages.map((d) => d.reason) };
    },
    close: () => client.close(),
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      artifacts: { type: 'string' },
      online: { type: 'string' },
      concurrency: { type: 'string', default: '8' },
      index: { type: 'string', default: 'auto' },
      'ef-search': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.artifacts) {
    process.stderr.write(`evaluate: --artifacts DIR is required\n\n${USAGE}\n`);
    return 2;
  }
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    process.stderr.write(`evaluate: --concurrency must be an integer in 1..256, got "${values.concurrency}"\n`);
    return 2;
  }
  if (!INDEX_CHOICES.includes(values.index as IndexChoice)) {
    process.stderr.write(`evaluate: --index must be one of ${INDEX_CHOICES.join(', ')}, got "${values.index}"\n`);
    return 2;
  }
  const efSearch = values['ef-search'] === undefined ? undefined : Number(values['ef-search']);
  if (efSearch !== undefined && (!Number.isInteger(efSearch) || efSearch < 1 || efSearch > 100_000)) {
    process.stderr.write(`evaluate: --ef-search must be an integer in 1..100000, got "${values['ef-search']}"\n`);
    return 2;
  }
  const t0 = Date.now();
  const a = loadArtifacts(values.artifacts);
  const holdout = readHoldout(a);
  process.stderr.write(`artifact ${a.manifest.version} (${a.dir})\n`);
  for (const [p, f] of Object.entries(holdout.split)) process.stderr.write(`split ${p.padEnd(4)} ${f.count} ${f.md5}\n`);
  const scorer = await onnxScorer(a);
  let report: EvaluationReport;
  const offlineLists = new Map<string, string[]>();
  try {
    report = await evaluateArtifact(a, holdout, scorer.score, progress('offline: evaluating users'), (u, top) => offlineLists.set(u, top), {
      choice: values.index as IndexChoice,
      ...(efSearch === undefined ? {} : { efSearch }),
    });
  } finally {
    await scorer.close();
  }
  process.stdout.write(`\noffline, ${report.users} users, catalogue ${report.catalogue} items (test split of the protocol):\n`);
  process.stdout.write(`${formatEvaluation(report.results)}\n`);
  process.stdout.write(`offline evaluation took ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  const out: EvaluationReport & {
    online?: { address: string; versions: string[]; users_with_different_top10: number; two_stage: Partial<MethodMetrics>; agrees: boolean };
  } = report;

  let code = 0;
  if (values.online) {
    const gateway = gatewayRecommender(values.online);
    let online: Awaited<ReturnType<typeof evaluateOnline>>;
    try {
      online = await evaluateOnline(a, holdout, gateway.recommend, concurrency, progress('online: Recommend for every user'));
    } finally {
      gateway.close();
    }
    const offline = report.results.two_stage!;
    const expected = `${a.manifest.version}/${a.manifest.version}`;
    if ([...online.versions].some((v) => v !== expected)) {
      process.stdout.write(`note: the mesh served ${[...online.versions].join(', ')} (artifact/model), not ${a.manifest.version}: point it at this artifact to compare\n`);
    }
    // Recommend returns at most 100 items, so Recall@300 cannot be measured through it.
    const keys = ['recall@10', 'ndcg@10', 'coverage@10'] as const;
    // Stronger than equal averages: the same ten items in the same order for every user.
    const differing = [...offlineLists].filter(([u, top]) => (online.lists.get(u) ?? []).join(',') !== top.join(',')).map(([u]) => u);
    const agrees = keys.every((k) => offline[k].toFixed(4) === online.metrics[k].toFixed(4));
    const rows: Record<string, MethodMetrics> = {
      'two_stage (offline)': offline,
      'two_stage (online)': { ...online.metrics, 'recall@300': NaN },
    };
    process.stdout.write(`\nonline through ${values.online} (served by ${[...online.versions].join(', ')}):\n${formatEvaluation(rows)}\n`);
    process.stdout.write(agrees ? 'online and offline agree to 4 decimals\n' : 'online and offline DISAGREE\n');
    process.stdout.write(
      differing.length === 0
        ? `identical top-10 lists for all ${offlineLists.size} users\n`
        : `top-10 lists differ for ${differing.length} of ${offlineLists.size} users (first: ${differing.slice(0, 5).join(', ')})\n`,
    );
    out.online = {
      address: values.online,
      versions: [...online.versions],
      users_with_different_top10: differing.length,
      two_stage: { 'recall@10': online.metrics['recall@10'], 'ndcg@10': online.metrics['ndcg@10'], 'coverage@10': online.metrics['coverage@10'] },
      agrees,
    };
    if (!agrees || differing.length > 0) code = 1;
  }
  const file = path.join(a.dir, 'evaluation.json');
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`wrote ${file}\n`);
  return code;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as Error & { details?: string };
    process.stderr.write(`evaluate: ${e.details ?? e.message}\n`);
    process.exitCode = 1;
  },
);
