/**
 * @recsys/offline: datasets, training (ALS, ranker), ONNX export, evaluation and the
 * artifact writer. Entry points: {@link buildArtifacts}, {@link ensureArtifacts}, and the
 * CLI `npm run artifacts`.
 */
export * from './als';
export * from './artifact-writer';
export * from './build';
export * from './datasets';
export * from './features';
export * from './gbdt';
export * from './mlp';
export * from './onnx-export';
export * from './progress-bar';
export * from './random';
export * from './ranker-train';
export * from './synthetic';
export * from './movielens';
export * from './item-knn';
export * from './evaluation';
