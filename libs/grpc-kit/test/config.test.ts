import { ConfigError } from '@recsys/core';
import { address, bool, describeConfig, int, loadConfig, optionalStr, port, str } from '@recsys/grpc-kit';

const spec = {
  PORT: port(50051, 'listen port'),
  WORKERS: int(2, 'workers', 1, 8),
  MODE: str('memory', 'backend', ['memory', 'redis']),
  DEBUG: bool(false, 'debug'),
  TARGET: address('127.0.0.1:1', 'target'),
  URL: optionalStr('optional url'),
};

describe('loadConfig', () => {
  it('applies defaults when variables are unset', () => {
    expect(loadConfig(spec, {})).toEqual({ PORT: 50051, WORKERS: 2, MODE: 'memory', DEBUG: false, TARGET: '127.0.0.1:1', URL: '' });
  });

  it('parses set values', () => {
    const c = loadConfig(spec, { PORT: '6000', WORKERS: '8', MODE: 'redis', DEBUG: 'yes', TARGET: 'a:1,b:2', URL: 'redis://x' });
    expect(c).toEqual({ PORT: 6000, WORKERS: 8, MODE: 'redis', DEBUG: true, TARGET: 'a:1,b:2', URL: 'redis://x' });
  });

  it.each([
    ['PORT', '70000', /PORT must be between 0 and 65535/],
    ['PORT', 'abc', /PORT must be an integer/],
    ['WORKERS', '0', /WORKERS must be between 1 and 8/],
    ['MODE', 'mongo', /MODE must be one of memory, redis/],
    ['DEBUG', 'maybe', /DEBUG must be true or false/],
    ['TARGET', 'nohost', /TARGET must be host:port/],
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    expect(() => loadConfig(spec, { [name]: value })).toThrow(message);
    try {
      loadConfig(spec, { [name]: value });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe(name);
    }
  });

  it('reports every bad variable at once', () => {
    expect(() => loadConfig(spec, { PORT: '-1', MODE: 'x' })).toThrow(/PORT[\s\S]*MODE/);
  });

  it('requires variables without a default', () => {
    expect(() => loadConfig({ NEEDED: str(undefined, 'must be given') }, {})).toThrow(/NEEDED is required/);
  });

  it('describes the spec for docs', () => {
    expect(describeConfig(spec).map((r) => r.name)).toEqual(['PORT', 'WORKERS', 'MODE', 'DEBUG', 'TARGET', 'URL']);
  });
});
