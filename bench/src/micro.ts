/**
 * Per-stage micro-benchmarks, each next to its floor: retrieval top-300 of 20,000 × 32
 * (our JavaScript loop against an ONNX MatMul+TopK graph), the feature read of 301
 * vectors (ioredis MGET and the Redis backend against redis-benchmark's MGET), ONNX
 * scoring of 300 × 34 (the ranker module against a raw InferenceSession.run) and one
 * empty gRPC round trip (health Check on a reused channel).
 */
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { ExactIndex, assembleRankerInput, eligibleItems, loadArtifacts, resolveArtifactDir } from '@recsys/core';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { FeatureBatch, decodeFeatureBatch, encodeFeatureBatch, health } from '@recsys/proto';
import { callUnary, createClient, UnaryChannel } from '@recsys/grpc-kit';
import { RedisBackend } from '@recsys/feature-store/redis-backend';
import { createRedisClient } from '@recsys/feature-store/redis-client';
import { RedisKeys } from '@recsys/feature-store/redis-keys';
import { DEFAULT_BUCKETS } from '@recsys/feature-store/materialize';
import { RankerModel } from '@recsys/ranker/model';
import { percentile } from './stats';

const execFileP = promisify(execFile);

/** One micro-benchmark line. */
export interface MicroResult {
  name: string;
  /** Median and p99 time of one operation, µs. */
  median_us: number;
  p99_us: number;
  iterations: number;
  note?: string;
  /** The name of the floor this line is measured against, and median(this) / median(floor). */
  floor?: string;
  over_floor?: number;
}

/** Sets `over_floor` of `ours` against `floor` (the rule: every stage within 2× of its floor). */
export function againstFloor(ours: MicroResult, floor: MicroResult): MicroResult {
  const ratio = floor.median_us > 0 && Number.isFinite(ours.median_us) ? Math.round((ours.median_us / floor.median_us) * 100) / 100 : undefined;
  return { ...ours, floor: floor.name, ...(ratio !== undefined ? { over_floor: ratio } : {}) };
}

/**
 * Times `op` sequentially for about `budgetMs` (at least `minIters` runs) after a warm-up of
 * a quarter of the budget (at least `minIters / 4` runs): long enough for V8 to optimize
 * the JavaScript side of an op, so code of ours is not timed in the interpreter against a
 * floor that is all native code.
 */
export async function timeOp(name: string, op: (i: number) => unknown, budgetMs: number, minIters = 20, note?: string): Promise<MicroResult> {
  const warmUntil = performance.now() + budgetMs / 4;
  for (let i = 0; i < Math.max(3, minIters / 4) || performance.now() < warmUntil; i++) await op(i);
  const times: number[] = [];
  const until = performance.now() + budgetMs;
  for (let i = 0; times.length < minIters || performance.now() < until; i++) {
    const t0 = performance.now();
    await op(i);
    times.push((performance.now() - t0) * 1000);
    if (times.length > 200_000) break;
  }
  times.sort((a, b) => a - b);
  const r = (v: number): number => Math.round(v * 10) / 10;
  return { name, median_us: r(percentile(times, 50)), p99_us: r(percentile(times, 99)), iterations: times.length, note };
}

/** An ONNX graph: scores = query[1,dim] · itemsᵀ, then TopK(k) — exact retrieval in onnxruntime. */
export function retrievalGraph(items: Float32Array, dim: number, k: number): Uint8Array {
  const rows = items.length / dim;
  const t = Buffer.alloc(items.length * 4);
  // Stored transposed (dim × rows) so MatMul needs no Transpose node.
  for (let r = 0; r < rows; r++) for (let d = 0; d < dim; d++) t.writeFloatLE(items[r * dim + d]!, (d * rows + r) * 4);
  const kBuf = Buffer.alloc(8);
  kBuf.writeBigInt64LE(BigInt(k));
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'recsys-bench',
    graph: {
      name: 'retrieval_topk',
      node: [
        { name: 'scores', opType: 'MatMul', input: ['query', 'items_t'], output: ['scores'] },
        {
          name: 'topk',
          opType: 'TopK',
          input: ['scores', 'k'],
          output: ['values', 'indices'],
          attribute: [
            { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 },
            { name: 'largest', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
            { name: 'sorted', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
          ],
        },
      ],
      initializer: [
        { name: 'items_t', dims: [dim, rows], dataType: FLOAT, rawData: t },
        { name: 'k', dims: [1], dataType: onnx.TensorProto.DataType.INT64, rawData: kBuf },
      ],
      input: [{ name: 'query', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: dim }] } } } }],
      output: [
        { name: 'values', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: k }] } } } },
        { name: 'indices', type: { tensorType: { elemType: onnx.TensorProto.DataType.INT64, shape: { dim: [{ dimValue: 1 }, { dimValue: k }] } } } },
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The session options the ranker uses on a small box: one thread, no spinning. */
export const SMALL_BOX_SESSION: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
};

/** Where the micro-benchmarks run. */
export interface MicroTargets {
  artifactsDir: string;
  redisUrl: string;
  redisPort: number;
  /** Address of a running service for the empty round trip. */
  grpcAddress: string;
  /** Time budget per benchmark. */
  budgetMs: number;
  log: (line: string) => void;
}

/** Runs every micro-benchmark, printing progress through `log`. */
export async function runMicroBenchmarks(t: MicroTargets): Promise<MicroResult[]> {
  const results: MicroResult[] = [];
  const add = (r: MicroResult): void => {
    results.push(r);
    t.log(`  ${r.name}: median ${r.median_us} µs, p99 ${r.p99_us} µs (${r.iterations} runs)`);
  };
  const dir = resolveArtifactDir(t.artifactsDir);
  const art = loadArtifacts(dir, ['itemEmbeddings', 'userEmbeddings', 'itemPopularity', 'ranker']);
  const dim = art.manifest.embedding_dim;
  const users = art.userIds.length;
  const query = (i: number): Float32Array => art.userEmbeddings.subarray(((i * 7919) % users) * dim, ((i * 7919) % users) * dim + dim);

  // 1. Retrieval top-300.
  // Ours: the candidate generator's embedding search (ExactIndex: the same graph plus the eligibility bias).
  const exact = await ExactIndex.create(art.itemEmbeddings, dim, { eligible: eligibleItems(art.itemPopularity) });
  const retrOurs = await timeOp('retrieval top-300 of 20,000×32: ExactIndex.search (ours)', (i) => exact.search(query(i), 300), t.budgetMs, 50);
  await exact.release();
  const retr = await ort.InferenceSession.create(retrievalGraph(art.itemEmbeddings, dim, 300), SMALL_BOX_SESSION);
  const retrFloor = await timeOp(
    'retrieval top-300 of 20,000×32: ONNX MatMul+TopK, 1 thread (floor)',
    (i) => retr.run({ query: new ort.Tensor('float32', query(i), [1, dim]) }),
    t.budgetMs,
    50,
  );
  await retr.release();
  add(againstFloor(retrOurs, retrFloor));
  add(retrFloor);

  // 2. Feature read of 301 vectors (1 user + 300 items).
  const redis = createRedisClient(t.redisUrl, 5000);
  await redis.connect();
  const keys = new RedisKeys('recsys');
  const backend = new RedisBackend(redis, keys);
  await backend.refresh();
  const version = backend.version();
  const itemIdsAt = (i: number): string[] => Array.from({ length: 300 }, (_, j) => String((i * 300 + j * 61) % art.itemIds.length));
  // The bench materializes with the default bucket count.
  const keysAt = (i: number): string[] => [keys.entity(version, 'user', String(i % users), DEFAULT_BUCKETS), ...itemIdsAt(i).map((id) => keys.entity(version, 'item', id, DEFAULT_BUCKETS))];
  const itemKeysAt = (i: number): string[] => itemIdsAt(i).map((id) => keys.entity(version, 'item', id, DEFAULT_BUCKETS));
  add(await timeOp('feature read 301 vectors: ioredis MGET (raw)', (i) => redis.mgetBuffer(...keysAt(i)), t.budgetMs, 50));
  const rawItems = await timeOp('feature read 300 items: ioredis MGET of their keys (raw, floor)', (i) => redis.mgetBuffer(...itemKeysAt(i)), t.budgetMs, 50);
  const itemFeatures = backend.registry().resolve('item', []).features;
  add(againstFloor(await timeOp('feature read 300 items: RedisBackend.read (ours, + columns)', (i) => backend.read('item', itemIdsAt(i), itemFeatures), t.budgetMs, 50), rawItems));
  add(rawItems);
  add(await redisBenchmarkMget(t.redisPort, keysAt(0), t.budgetMs));
  await backend.close();

  // 3. Scoring 300 × 34.
  const model = await RankerModel.load(art, 1);
  const n = 300;
  const width = model.spec.length;
  const userMap = new Map(model.defaults.user);
  const itemMap = new Map<string, Float32Array>();
  for (const name of model.defaults.item.keys()) itemMap.set(name, Float32Array.from({ length: n }, (_, j) => ((j * 37) % 100) / 100));
  const candidateScores = Float32Array.from({ length: n }, (_, j) => 1 - j / n);
  const scoreInput = { n, candidateScores, sourceScores: {}, user: userMap, item: itemMap };
  const scoreOurs = await timeOp('scoring 300×34: RankerModel.score (ours, assemble + run)', () => model.score(scoreInput), t.budgetMs, 50);
  await model.close();
  const raw = await ort.InferenceSession.create(art.rankerModel!, SMALL_BOX_SESSION);
  // The floor runs the model on the very matrix `score` builds from that input (built once
  // here): a tree ensemble's time depends on the values, so other values would measure
  // other paths through the trees, not our overhead.
  const x = new ort.Tensor('float32', assembleRankerInput(model.spec, scoreInput), [n, width]);
  const scoreFloor = await timeOp('scoring 300×34: raw InferenceSession.run (floor)', () => raw.run({ [raw.inputNames[0]!]: x }), t.budgetMs, 50);
  await raw.release();
  add(againstFloor(scoreOurs, scoreFloor));
  add(scoreFloor);

  // 4. The wire format of one item feature batch (16 features × 300 items), encode + decode.
  const wireFloor = await wireBytesBlock('wire: the same 19,200 bytes as one float32 bytes block, encode+decode (floor)', t.budgetMs);
  add(againstFloor(await wireFeatureBatch('wire: item feature batch 16×300 as 16 packed float columns, encode+decode (repeated floats)', t.budgetMs), wireFloor));
  add(againstFloor(await wirePackedBatch('wire: item feature batch 16×300, packed_values (ours)', t.budgetMs), wireFloor));
  add(wireFloor);

  // 5. One empty gRPC round trip on a reused channel.
  const client = new health.HealthClient(t.grpcAddress, grpc.credentials.createInsecure());
  const check = (): Promise<void> =>
    new Promise((resolve, reject) => client.check({ service: '' }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err) => (err ? reject(err) : resolve())));
  add(await timeOp('empty gRPC round trip: health Check, grpc-js both ends (floor of every stage call)', check, t.budgetMs, 100));
  client.close();
  // The gateway's stage calls use UnaryChannel; everything else the grpc-js client.
  add(await rpcCpu(t.budgetMs));
  add(await rpcCpu(t.budgetMs, 'unary-channel'));
  return results;
}

/** `redis-benchmark` running the same 301-key MGET on one connection: the floor of a feature read. */
async function redisBenchmarkMget(port: number, keys: string[], budgetMs: number): Promise<MicroResult> {
  const name = 'feature read 301 vectors: redis-benchmark MGET, 1 connection (floor)';
  const requests = Math.max(200, Math.round(budgetMs * 5));
  try {
    const { stdout } = await execFileP('redis-benchmark', ['-p', String(port), '-c', '1', '-n', String(requests), '--csv', 'MGET', ...keys], { maxBuffer: 1 << 24 });
    // CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    const lines = stdout.trim().split('\n');
    const header = (lines[0] ?? '').split(',').map((s) => s.replace(/"/g, ''));
    const row = (lines[lines.length - 1] ?? '').split(',').map((s) => s.replace(/"/g, ''));
    const col = (c: string): number => Number(row[header.indexOf(c)]);
    const p50 = header.includes('p50_latency_ms') ? col('p50_latency_ms') * 1000 : 1e6 / col('rps');
    const p99 = header.includes('p99_latency_ms') ? col('p99_latency_ms') * 1000 : NaN;
    return { name, median_us: Math.round(p50 * 10) / 10, p99_us: Math.round(p99 * 10) / 10, iterations: requests, note: 'redis-benchmark reports latency at 1 µs–1 ms resolution' };
  } catch (err) {
    return { name, median_us: NaN, p99_us: NaN, iterations: 0, note: `redis-benchmark failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** Encode + decode of a FeatureBatch as repeated floats per column (what grpcurl readers get; services ask for packed_values). */
async function wireFeatureBatch(name: string, budgetMs: number): Promise<MicroResult> {
  const n = 300;
  const batch: FeatureBatch = {
    featureView: 'item',
    entityCount: n,
    columns: Array.from({ length: 16 }, (_, f) => ({ name: `f${f}`, values: Array.from({ length: n }, (_, e) => (e * 31 + f) / 997), missingIndices: [] })),
    unknownEntityIndices: [],
    packedValues: Buffer.alloc(0),
  };
  return timeOp(name, () => FeatureBatch.decode(FeatureBatch.encode(batch).finish()), budgetMs, 50);
}

/** Encode + decode of the same batch as the feature store sends it (packed_values) and the ranker reads it. */
async function wirePackedBatch(name: string, budgetMs: number): Promise<MicroResult> {
  const n = 300;
  const block = Float32Array.from({ length: 16 * n }, (_, i) => i / 997);
  const columns = Array.from({ length: 16 }, (_, f) => ({ name: `f${f}`, values: block.subarray(f * n, (f + 1) * n), missing: [] }));
  return timeOp(name, () => decodeFeatureBatch(FeatureBatch.decode(FeatureBatch.encode(encodeFeatureBatch('item', n, columns, [], true)).finish()), 'item_features', n), budgetMs, 50);
}

/**
 * CPU of one empty unary call, client and server together: both ends in this process, the
 * mesh's client settings (createClient, callUnary) or the gateway's UnaryChannel against the
 * same grpc-js server, 16 calls in flight, CPU time of the process (process.cpuUsage) over a
 * fixed number of calls. The floor every stage call pays in CPU.
 */
export async function rpcCpu(budgetMs: number, client: 'grpc-js' | 'unary-channel' = 'grpc-js'): Promise<MicroResult> {
  const name =
    client === 'grpc-js'
      ? 'CPU of one empty unary call, client + server (grpc-js, mesh client settings, 16 in flight; µs CPU, not wall)'
      : 'CPU of one empty unary call, client + server (UnaryChannel client, grpc-js server, 16 in flight; µs CPU, not wall)';
  const server = new grpc.Server({ 'grpc.enable_channelz': 0 });
  server.addService(health.HealthService, { check: (_call: unknown, cb: grpc.sendUnaryData<health.HealthCheckResponse>) => cb(null, { status: health.HealthCheckResponse_ServingStatus.SERVING }) } as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const grpcClient = client === 'grpc-js' ? createClient(health.HealthClient, `127.0.0.1:${port}`) : undefined;
  const channel = client === 'unary-channel' ? new UnaryChannel(`127.0.0.1:${port}`) : undefined;
  const call = (): Promise<unknown> =>
    grpcClient
      ? callUnary(grpcClient.check.bind(grpcClient), { service: '' }, { deadline: Date.now() + 5000 })
      : (channel as UnaryChannel).call(health.HealthService.check, { service: '' }, { deadline: Date.now() + 5000 });
  // Fixed numbers of calls (not time windows: idle wake-ups of a half-busy loop would count).
  const runCalls = async (n: number): Promise<number> => {
    let started = 0;
    const c0 = process.cpuUsage();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (started++ < n) await call();
      }),
    );
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / n;
  };
  const n = Math.max(200, Math.min(2000, Math.round(budgetMs)));
  try {
    await runCalls(n);
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) samples.push(await runCalls(n));
    samples.sort((a, b) => a - b);
    const r1 = (v: number): number => Math.round(v * 10) / 10;
    return { name, median_us: r1(percentile(samples, 50)), p99_us: r1(samples[samples.length - 1] ?? NaN), iterations: 3 * n, note: `median and max of 3 runs of ${n} calls after ${n} to warm up` };
  } finally {
    grpcClient?.close();
    channel?.close();
    server.forceShutdown();
  }
}

/** The same values as one length-delimited float32 block: what a `bytes` field would cost. */
async function wireBytesBlock(name: string, budgetMs: number): Promise<MicroResult> {
  const values = Float32Array.from({ length: 16 * 300 }, (_, i) => i / 997);
  const block = new Uint8Array(values.buffer);
  return timeOp(
    name,
    () => {
      const bytes = new BinaryWriter().uint32(10).bytes(block).finish();
      const r = new BinaryReader(bytes);
      r.uint32();
      const b = r.bytes();
      // A copy into an aligned Float32Array, as a reader would make.
      return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    },
    budgetMs,
    50,
  );
}
