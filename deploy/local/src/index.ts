/** Process helpers shared by the local launcher (cli/src/start.ts), the benchmark and the integration tests. */
export * from './processes';
export * from './mesh';
export * from './redis';
export * from './launch-config';
export * from './supervisor';
