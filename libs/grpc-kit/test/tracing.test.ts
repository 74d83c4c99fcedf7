import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { initTracing, traceIdFromMetadata } from '../src/tracing';

const KIT = path.resolve(__dirname, '..', 'dist', 'index.js');

describe('initTracing', () => {
  it('is off when OTEL_TRACES_EXPORTER is unset or none, and then loads no SDK module', () => {
    expect(initTracing('x', {})).toBeUndefined();
    expect(initTracing('x', { OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
    // In a fresh Node process (the built kit, as the services load it): nothing of the SDK is required.
    const script = `
      const kit = require(${JSON.stringify(KIT)});
      if (kit.initTracing('x', {}) !== undefined) throw new Error('on');
      if (kit.tracer() !== undefined) throw new Error('tracer');
      const sdk = Object.keys(require.cache).filter((p) => /@opentelemetry[\\\\/](sdk-|exporter-|resources|otlp-)/.test(p));
      process.stdout.write(JSON.stringify(sdk));`;
    expect(JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }))).toEqual([]);
  });

  it.each([
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, 'OTEL_TRACES_EXPORTER must be otlp or none, got "zipkin"'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL must be one of http/json, http/protobuf'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'json' }, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL must be one of'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER must be one of'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }, 'OTEL_TRACES_SAMPLER_ARG must be a ratio'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }, 'OTEL_EXPORTER_OTLP_ENDPOINT must be a URL'],
  ])('refuses %j naming the variable', (env, message) => {
    expect(() => initTracing('x', env)).toThrow(message);
  });
});

describe('traceIdFromMetadata', () => {
  it('reads a W3C traceparent and refuses malformed or all-zero ids', () => {
    const md = (v?: string): grpc.Metadata => {
      const m = new grpc.Metadata();
      if (v !== undefined) m.set('traceparent', v);
      return m;
    };
    expect(traceIdFromMetadata(md('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'))).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(traceIdFromMetadata(md())).toBe('');
    expect(traceIdFromMetadata(md('00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01'))).toBe('');
    expect(traceIdFromMetadata(md('00-00000000000000000000000000000000-00f067aa0ba902b7-01'))).toBe('');
    expect(traceIdFromMetadata(md('garbage'))).toBe('');
  });
});
