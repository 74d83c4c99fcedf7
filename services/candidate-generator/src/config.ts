import { commonConfig, int, str } from '@recsys/grpc-kit';

/** Environment variables of the candidate generator. */
export const candidateGeneratorConfig = {
  ...commonConfig({ grpcPort: 50052, metricsPort: 9092 }),
  ARTIFACTS_DIR: str('artifacts', 'artifact root (with CURRENT) or one version directory'),
  ARTIFACTS_POLL_MS: int(1000, 'how often CURRENT is checked for a new artifact version to hot-reload (0 = never)', 0, 600_000),
  DEFAULT_NUM_CANDIDATES: int(300, 'candidates returned when a request asks for 0', 1, 10_000),
  MAX_NUM_CANDIDATES: int(1000, 'largest num_candidates a request may ask for', 1, 10_000),
};
