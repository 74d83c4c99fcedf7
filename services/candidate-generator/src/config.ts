import { artifactsConfig, commonConfig, int } from '@recsys/grpc-kit';

/** Environment variables of the candidate generator. */
export const candidateGeneratorConfig = {
  ...commonConfig({ grpcPort: 50052, metricsPort: 9092 }),
  ...artifactsConfig(),
  DEFAULT_NUM_CANDIDATES: int(0, "candidates returned when a request asks for 0 (0 = the artifact manifest's serving.num_candidates)", 0, 10_000),
  MAX_NUM_CANDIDATES: int(1000, 'largest num_candidates a request may ask for', 1, 10_000),
};
