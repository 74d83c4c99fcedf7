import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadArtifacts } from '@recsys/core';
import { DescriptorIndex, ServiceHost, ServiceMetrics, callUnary, createClient, createLogger } from '@recsys/grpc-kit';
import { CandidateGeneratorServiceClient, CandidateGeneratorServiceService, DESCRIPTOR_SET_PATH, GenerateCandidatesRequest, RetrievalSource } from '@recsys/proto';
import { Retriever } from '@recsys/candidate-generator/retrieval';
import { candidateGeneratorHandlers } from '@recsys/candidate-generator/server';
import { fixtureFiles, writeVersionDir } from '../../../test/support/artifact-fixture';

// The handlers on a real in-process gRPC server on port 0, called through a grpc-js client.
let root: string;
let host: ServiceHost;
let client: CandidateGeneratorServiceClient;
let retriever: Retriever | undefined;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-cg-server-'));
  writeVersionDir(path.join(root, 'v1'), fixtureFiles());
  host = new ServiceHost({
    name: 'candidate-generator',
    host: '127.0.0.1',
    port: 0,
    reflection: false,
    descriptors: DescriptorIndex.fromFile(DESCRIPTOR_SET_PATH),
    drainTimeoutMs: 1000,
    shutdownDelayMs: 0,
    log: createLogger('candidate-generator', 'silent'),
    metrics: new ServiceMetrics('candidate-generator'),
  });
  host.addService(
    CandidateGeneratorServiceService,
    'recsys.v1.CandidateGeneratorService',
    candidateGeneratorHandlers(() => retriever, { defaultNumCandidates: 2, maxNumCandidates: 3 }),
  );
  const port = await host.start();
  host.markReady();
  client = createClient(CandidateGeneratorServiceClient, `127.0.0.1:${port}`);
});

afterAll(async () => {
  client?.close();
  await host?.shutdown('test end');
  fs.rmSync(root, { recursive: true, force: true });
});

const generate = (req: Partial<GenerateCandidatesRequest>) =>
  callUnary(client.generateCandidates.bind(client), { userId: 'u1', numCandidates: 0, excludeItemIds: [], recentItemIds: [], packedFeatures: false, ...req }, { deadline: Date.now() + 5000 });

describe('GenerateCandidates', () => {
  it('answers UNAVAILABLE until an artifact is loaded', async () => {
    retriever = undefined;
    await expect(generate({})).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'no artifact loaded' });
  });

  it('returns the candidates with wire source enums, every source score and the artifact version', async () => {
    retriever = await Retriever.create(loadArtifacts(path.join(root, 'v1'), ['itemEmbeddings', 'userEmbeddings', 'itemPopularity']));
    const res = await generate({ numCandidates: 3 });
    expect(res.candidates?.itemIds).toEqual(['20', '30', '10']);
    expect(res.candidates?.sources).toEqual([1, 1, 1].map(() => RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING));
    expect(res.candidates?.scores).toHaveLength(3);
    const bySource = new Map(res.candidates?.sourceScores.map((s) => [s.source, s.scores]));
    expect(bySource.get(RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING)).toEqual([2, 1.5, 1]);
    expect(bySource.get(RetrievalSource.RETRIEVAL_SOURCE_POPULARITY)).toEqual([3, 1, 5]);
    expect(res.userKnown).toBe(true);
    expect(res.artifactVersion).toBe('v1');
  });

  it('uses the default count for num_candidates 0 and tags cold-start answers popularity', async () => {
    const res = await generate({ userId: 'nobody' });
    expect(res.candidates?.itemIds).toEqual(['10', '20']);
    expect(res.candidates?.sources).toEqual([RetrievalSource.RETRIEVAL_SOURCE_POPULARITY, RetrievalSource.RETRIEVAL_SOURCE_POPULARITY]);
    expect(res.userKnown).toBe(false);
  });

  it.each([
    [{ userId: '' }, /^user_id: must not be empty$/],
    [{ userId: 'u'.repeat(129) }, /^user_id: must be at most 128 bytes, got 129$/],
    [{ numCandidates: 4 }, /^num_candidates: must be between 0 and 3, got 4$/],
    [{ numCandidates: -1 }, /^num_candidates: must be between 0 and 3, got -1$/],
    [{ excludeItemIds: ['10', ''] }, /^exclude_item_ids\[1\]: must not be empty$/],
    [{ recentItemIds: Array.from({ length: 1001 }, (_, i) => String(i)) }, /^recent_item_ids: at most 1000 entries allowed, got 1001$/],
  ])('rejects %o with INVALID_ARGUMENT naming the field', async (req, details) => {
    const err = (await generate(req).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(details);
  });
});
