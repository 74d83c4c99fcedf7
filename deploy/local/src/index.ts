/** Process helpers shared by the local launcher, the CLIs and the integration tests. */
export * from './processes';
export * from './mesh';
