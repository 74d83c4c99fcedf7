/**
 * @recsys/core: pure recommender logic shared by the offline pipeline and the services.
 * No gRPC and no Redis in here.
 */
export * from './artifact-types';
export * from './artifacts';
export * from './candidate-features';
export * from './feature-spec';
export * from './metrics';
export * from './onnx-metadata';
export * from './vectors';
export * from './retrieval';
export * from './retrieval-index';
export * from './index-loader';
export * from './artifact-watcher';
export * from './errors';
export * from './ids';
export * from './little-endian';
