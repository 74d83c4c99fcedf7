/**
 * The server kit shared by every recsys mesh service: config from the environment,
 * JSON logs, Prometheus metrics, health, reflection from real descriptors, the error
 * boundary, graceful drain, and a client factory that always sets deadlines.
 */
export * from './config';
export * from './errors';
export * from './logger';
export * from './metrics';
export * from './health';
export * from './reflection';
export * from './server';
export * from './client';
export * from './unary-channel';
export * from './common-config';
export * from './bootstrap';
export * from './tls';
export * from './parent-watch';
export * from './tracing';
export * from './strict-decode';
