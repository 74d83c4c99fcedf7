import { artifactsConfig, commonConfig, int, optionalStr } from '@recsys/grpc-kit';

/** Environment variables of the ranker. */
export const rankerConfig = {
  ...commonConfig({ grpcPort: 50054, metricsPort: 9094 }),
  ...artifactsConfig(),
  ORT_INTRA_OP_THREADS: int(1, 'onnxruntime intra-op threads (1 suits a small box; no spinning)', 1, 64),
  MAX_CANDIDATES: int(1000, 'largest candidate list a Rank request may carry', 1, 100_000),
  EXPERIMENT_FILE: optionalStr('experiment config (JSON: variants with artifacts and weights, optional shadow), re-read every EXPERIMENT_POLL_MS'),
  EXPERIMENT: optionalStr('experiment config as inline JSON (instead of EXPERIMENT_FILE; changing it needs a restart)'),
  EXPERIMENT_POLL_MS: int(1000, 'how often EXPERIMENT_FILE is re-read; a changed file applies without restart (0 = never)', 0, 600_000),
  MAX_MODELS: int(4, 'ranking models held side by side (the live one and every pinned variant); a config needing more is refused', 1, 64),
};
