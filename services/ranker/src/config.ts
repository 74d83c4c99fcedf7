import { artifactsConfig, commonConfig, int } from '@recsys/grpc-kit';

/** Environment variables of the ranker. */
export const rankerConfig = {
  ...commonConfig({ grpcPort: 50054, metricsPort: 9094 }),
  ...artifactsConfig(),
  ORT_INTRA_OP_THREADS: int(1, 'onnxruntime intra-op threads (1 suits a small box; no spinning)', 1, 64),
  MAX_CANDIDATES: int(1000, 'largest candidate list a Rank request may carry', 1, 100_000),
};
