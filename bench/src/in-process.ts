/**
 * The gateway's pipeline composed in one process: the same handler modules the services
 * run (retrieval, the Redis feature store backend, the ONNX ranker), called directly
 * instead of over gRPC. The ratio mesh / in-process is the cost of the mesh.
 */
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { loadArtifacts, resolveArtifactDir } from '@recsys/core';
import type { CallContext } from '@recsys/grpc-kit';
import { FeatureBatch } from '@recsys/proto';
import { Retriever } from '@recsys/candidate-generator/retrieval';
import { candidateGeneratorHandlers } from '@recsys/candidate-generator/server';
import { RedisBackend } from '@recsys/feature-store/redis-backend';
import { createRedisClient } from '@recsys/feature-store/redis-client';
import { RedisKeys } from '@recsys/feature-store/redis-keys';
import { featureStoreHandlers } from '@recsys/feature-store/server';
import { recommend } from '@recsys/gateway/pipeline';
import type { Stages, StageCall } from '@recsys/gateway/stages';
import { RankerModel } from '@recsys/ranker/model';
import { rankerHandlers } from '@recsys/ranker/server';
import type { RecommendCall } from './closed-loop';

/** Defaults of the services' configuration that the handlers take (see services/*\/src/config.ts). */
const LIMITS = { defaultNumCandidates: 300, maxNumCandidates: 1000, maxRecentItems: 20, maxCandidates: 1000, numCandidates: 300, requestTimeoutMs: 500 };

const silent = pino({ level: 'silent' });
const noMetadata = new grpc.Metadata();

function context(method: string, call: StageCall): CallContext {
  return { method, deadline: call.deadline, signal: call.signal ?? new AbortController().signal, metadata: noMetadata, log: silent };
}

/** The four stages as direct handler calls. */
export class InProcessStages implements Stages {
  private constructor(
    private readonly cg: ReturnType<typeof candidateGeneratorHandlers>,
    private readonly fs: ReturnType<typeof featureStoreHandlers>,
    private readonly rk: ReturnType<typeof rankerHandlers>,
    private readonly closers: (() => Promise<void>)[],
  ) {}

  /** Loads the artifact (embeddings, model) and connects to the materialized Redis store. */
  static async create(artifactsDir: string, redisUrl: string, ortThreads = 1): Promise<InProcessStages> {
    const dir = resolveArtifactDir(artifactsDir);
    const retriever = await Retriever.create(loadArtifacts(dir, ['itemEmbeddings', 'userEmbeddings', 'itemPopularity']));
    const model = await RankerModel.load(loadArtifacts(dir, ['ranker']), ortThreads);
    const redis = createRedisClient(redisUrl, 500);
    await redis.connect();
    const backend = new RedisBackend(redis, new RedisKeys('recsys'));
    await backend.refresh();
    return new InProcessStages(
      candidateGeneratorHandlers(() => retriever, LIMITS),
      featureStoreHandlers(() => backend, { maxRecentItems: LIMITS.maxRecentItems }),
      rankerHandlers(() => model, { maxCandidates: LIMITS.maxCandidates }),
      [() => backend.close(), () => model.close()],
    );
  }

  userContext: Stages['userContext'] = async (userId, call) =>
    this.fs.getUserContext({ userId, maxRecentItems: 0 }, context('GetUserContext', call));

  candidates: Stages['candidates'] = async (req, call) => this.cg.generateCandidates(req, context('GenerateCandidates', call));

  itemFeatures: Stages['itemFeatures'] = async (itemIds, call): Promise<FeatureBatch> => {
    const res = await this.fs.getOnlineFeatures({ featureView: 'item', entityIds: itemIds, featureNames: [], packedValues: true }, context('GetOnlineFeatures', call));
    if (!res.features) throw new Error('feature store returned no feature batch');
    return res.features;
  };

  rank: Stages['rank'] = async (req, call) => this.rk.rank(req, context('Rank', call));

  /** One Recommend through the gateway's own pipeline over these stages. */
  recommendCall(k: number): RecommendCall {
    return (userId, debug) =>
      recommend({ userId, k, excludeItemIds: [], debug, deadline: Date.now() + LIMITS.requestTimeoutMs, numCandidates: LIMITS.numCandidates }, this);
  }

  async close(): Promise<void> {
    for (const c of this.closers) await c();
  }
}
