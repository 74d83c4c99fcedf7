import { ConfigError } from '@recsys/core';
import { DEFAULT_PORTS, DEFAULT_RESTART_POLICY, METRICS_PORT_OFFSET, PORT_VARIABLES, portsFromEnv, restartPolicyFromEnv } from '@recsys/local';

describe('portsFromEnv', () => {
  it('is the standard ports with nothing set (the derived metrics ports are the standard ones)', () => {
    expect(portsFromEnv({})).toEqual(DEFAULT_PORTS);
    for (const p of Object.values(DEFAULT_PORTS)) expect(p.grpc - METRICS_PORT_OFFSET).toBe(p.metrics);
  });

  it('moves a metrics port with its gRPC port, so a second mesh on other gRPC ports needs nothing else', () => {
    const ports = portsFromEnv({ GATEWAY_PORT: '60051', CANDIDATE_GENERATOR_PORT: '60052', FEATURE_STORE_PORT: '60053', RANKER_PORT: '60054' });
    expect(ports).toEqual({
      gateway: { grpc: 60051, metrics: 19091 },
      'candidate-generator': { grpc: 60052, metrics: 19092 },
      'feature-store': { grpc: 60053, metrics: 19093 },
      ranker: { grpc: 60054, metrics: 19094 },
    });
  });

  it('takes explicit metrics ports, and -1 for none', () => {
    const ports = portsFromEnv({ RANKER_PORT: '7000', RANKER_METRICS_PORT: '7001', GATEWAY_METRICS_PORT: '-1' });
    expect(ports.ranker).toEqual({ grpc: 7000, metrics: 7001 });
    expect(ports.gateway).toEqual({ grpc: 50051, metrics: -1 });
    expect(ports['feature-store']).toEqual(DEFAULT_PORTS['feature-store']);
  });

  it('ignores empty values', () => {
    expect(portsFromEnv({ GATEWAY_PORT: '', GATEWAY_METRICS_PORT: ' ' })).toEqual(DEFAULT_PORTS);
  });

  it.each([
    [{ GATEWAY_PORT: 'abc' }, 'GATEWAY_PORT', /^configuration: GATEWAY_PORT must be an integer, got "abc"$/],
    [{ RANKER_PORT: '70000' }, 'RANKER_PORT', /RANKER_PORT must be between 1 and 65535, got 70000/],
    [{ RANKER_PORT: '0' }, 'RANKER_PORT', /RANKER_PORT must be between 1 and 65535, got 0/],
    [{ FEATURE_STORE_METRICS_PORT: '9x' }, 'FEATURE_STORE_METRICS_PORT', /FEATURE_STORE_METRICS_PORT must be an integer/],
    [{ FEATURE_STORE_METRICS_PORT: '-2' }, 'FEATURE_STORE_METRICS_PORT', /between -1 and 65535/],
    [{ GATEWAY_METRICS_PORT: '0' }, 'GATEWAY_METRICS_PORT', /GATEWAY_METRICS_PORT must be a fixed port .* got 0/],
    [
      { CANDIDATE_GENERATOR_PORT: '8080' },
      'CANDIDATE_GENERATOR_METRICS_PORT',
      /CANDIDATE_GENERATOR_METRICS_PORT is not set and cannot be derived from CANDIDATE_GENERATOR_PORT=8080 .*set CANDIDATE_GENERATOR_METRICS_PORT/,
    ],
    [{ RANKER_METRICS_PORT: '50051' }, 'RANKER_METRICS_PORT', /RANKER_METRICS_PORT is 50051, the same port as GATEWAY_PORT \(its default\)/],
    [{ RANKER_PORT: '50052' }, 'RANKER_PORT', /RANKER_PORT is 50052, the same port as CANDIDATE_GENERATOR_PORT \(its default\)/],
    [{ RANKER_PORT: '50052' }, 'RANKER_METRICS_PORT', /RANKER_METRICS_PORT is 9092 \(derived from the gRPC port\), the same port as CANDIDATE_GENERATOR_METRICS_PORT \(derived/],
    [{ GATEWAY_METRICS_PORT: '9093' }, 'GATEWAY_METRICS_PORT', /GATEWAY_METRICS_PORT is 9093, the same port as FEATURE_STORE_METRICS_PORT \(derived from the gRPC port\)/],
    [{ GATEWAY_PORT: '60000', RANKER_PORT: '60000' }, 'GATEWAY_PORT', /GATEWAY_PORT is 60000, the same port as RANKER_PORT$/m],
  ])('rejects %j naming %s', (env, variable, message) => {
    let caught: unknown;
    try {
      portsFromEnv(env);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    // A moved gRPC port moves its derived metrics port, which may clash too: both are named.
    expect((caught as ConfigError).variable.split(', ')).toContain(variable);
    expect((caught as Error).message).toMatch(message);
  });

  it('reports every bad variable at once', () => {
    const env = { GATEWAY_PORT: 'x', RANKER_METRICS_PORT: 'y' };
    expect(() => portsFromEnv(env)).toThrow(/^configuration: GATEWAY_PORT must be an integer, got "x"$/m);
    expect(() => portsFromEnv(env)).toThrow(/^configuration: RANKER_METRICS_PORT must be an integer, got "y"$/m);
  });

  it('names a variable for every port of every service', () => {
    const names = Object.values(PORT_VARIABLES).flatMap((v) => [v.grpc, v.metrics]);
    expect(new Set(names).size).toBe(8);
  });
});

describe('restartPolicyFromEnv', () => {
  it('defaults to 0.5 s doubling to 10 s, five crashes in 60 s', () => {
    expect(restartPolicyFromEnv({})).toEqual(DEFAULT_RESTART_POLICY);
    expect(DEFAULT_RESTART_POLICY).toEqual({ backoffMs: 500, maxBackoffMs: 10_000, maxCrashes: 5, windowMs: 60_000 });
  });

  it('reads every variable', () => {
    expect(restartPolicyFromEnv({ RESTART_BACKOFF_MS: '100', RESTART_BACKOFF_MAX_MS: '400', RESTART_MAX_CRASHES: '3', RESTART_WINDOW_MS: '5000' })).toEqual({
      backoffMs: 100,
      maxBackoffMs: 400,
      maxCrashes: 3,
      windowMs: 5000,
    });
  });

  it.each([
    [{ RESTART_MAX_CRASHES: '0' }, /RESTART_MAX_CRASHES must be between 1 and 1000, got 0/],
    [{ RESTART_BACKOFF_MS: 'soon' }, /RESTART_BACKOFF_MS must be an integer/],
    [{ RESTART_WINDOW_MS: '10' }, /RESTART_WINDOW_MS must be between 1000/],
    [{ RESTART_BACKOFF_MS: '2000', RESTART_BACKOFF_MAX_MS: '1000' }, /RESTART_BACKOFF_MAX_MS must be at least RESTART_BACKOFF_MS \(2000\), got 1000/],
  ])('rejects %j naming the variable', (env, message) => {
    expect(() => restartPolicyFromEnv(env)).toThrow(message);
    expect(() => restartPolicyFromEnv(env)).toThrow(ConfigError);
  });
});
