import { artifactsConfig, commonConfig, int, str } from '@recsys/grpc-kit';

/** Environment variables of the candidate generator. */
export const candidateGeneratorConfig = {
  ...commonConfig({ grpcPort: 50052, metricsPort: 9092 }),
  ...artifactsConfig(),
  DEFAULT_NUM_CANDIDATES: int(0, "candidates returned when a request asks for 0 (0 = the artifact manifest's serving.num_candidates)", 0, 10_000),
  MAX_NUM_CANDIDATES: int(1000, 'largest num_candidates a request may ask for', 1, 10_000),
  RETRIEVAL_INDEX: str('auto', "embedding search: auto (the artifact's HNSW index when it has one, else exact), exact (ONNX MatMul+TopK), hnsw (fails to load an artifact without one)", ['auto', 'exact', 'hnsw']),
  HNSW_EF_SEARCH: int(0, "HNSW ef_search instead of the artifact manifest's (0 = the manifest's)", 0, 100_000),
};
