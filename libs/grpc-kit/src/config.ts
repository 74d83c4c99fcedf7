/**
 * Configuration from environment variables, declared once, validated at start.
 *
 * ```ts
 * const spec = { GRPC_PORT: port(50051, 'port the gRPC server listens on') };
 * const config = loadConfig(spec);            // throws ConfigError naming the variable
 * config.GRPC_PORT;                           // number
 * ```
 * A spec is also the documentation: {@link describeConfig} lists names, defaults and help,
 * and the deploy tests compare it with the variables the manifests set.
 */

import { ConfigError } from '@recsys/core';

/** One variable's parser, default and help text. */
export interface Setting<T> {
  readonly kind: string;
  readonly help: string;
  readonly default: T | undefined;
  /** Turns the raw string into a value or throws an Error whose message says what is wrong. */
  parse(raw: string): T;
  /** How the default is shown in the docs. */
  readonly shownDefault: string;
}

export type ConfigSpec = Record<string, Setting<unknown>>;
export type ConfigOf<S extends ConfigSpec> = { readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

function setting<T>(kind: string, def: T | undefined, help: string, parse: (raw: string) => T): Setting<T> {
  return { kind, help, default: def, parse, shownDefault: def === undefined ? '(required)' : String(def) };
}

/** An integer within [min, max]. */
export function int(def: number | undefined, help: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Setting<number> {
  return setting('integer', def, help, (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error(`must be an integer, got "${raw}"`);
    const v = Number(raw);
    if (v < min || v > max) throw new Error(`must be between ${min} and ${max}, got ${v}`);
    return v;
  });
}

/** A number within [0, 1] (a sampling rate). */
export function ratio(def: number, help: string): Setting<number> {
  return setting('number 0–1', def, help, (raw) => {
    const v = Number(raw.trim());
    if (raw.trim() === '' || !Number.isFinite(v) || v < 0 || v > 1) throw new Error(`must be a number between 0 and 1, got "${raw}"`);
    return v;
  });
}

/** A TCP port; 0 means "let the OS choose" where the variable's help says so. */
export function port(def: number, help: string): Setting<number> {
  return { ...int(def, help, 0, 65535), kind: 'port' };
}

/** A non-empty string, optionally one of `choices`. */
export function str(def: string | undefined, help: string, choices?: readonly string[]): Setting<string> {
  return setting(choices ? choices.join('|') : 'string', def, help, (raw) => {
    const v = raw.trim();
    if (v === '') throw new Error('must not be empty');
    if (choices && !choices.includes(v)) throw new Error(`must be one of ${choices.join(', ')}, got "${v}"`);
    return v;
  });
}

/** An optional string: unset or empty yields ''. */
export function optionalStr(help: string): Setting<string> {
  return { ...setting('string', '', help, (raw) => raw.trim()), shownDefault: '(unset)' };
}

/** `true`/`false` (also 1/0, yes/no). */
export function bool(def: boolean, help: string): Setting<boolean> {
  return setting('boolean', def, help, (raw) => {
    const v = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
    throw new Error(`must be true or false, got "${raw}"`);
  });
}

/** A `host:port` gRPC target (or a comma-separated list of them, or a `dns:` name). */
export function address(def: string, help: string): Setting<string> {
  return setting('address', def, help, (raw) => {
    const v = raw.trim();
    for (const part of v.split(',')) {
      const p = part.trim();
      if (!/^(dns:|ipv4:|ipv6:|unix:)?.+:\d{1,5}$/.test(p) && !p.startsWith('unix:')) {
        throw new Error(`must be host:port (or a comma-separated list of them), got "${raw}"`);
      }
    }
    return v;
  });
}

/** Reads and validates every variable of `spec` from `env`; collects all problems at once. */
export function loadConfig<S extends ConfigSpec>(spec: S, env: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  const problems: ConfigError[] = [];
  for (const [name, s] of Object.entries(spec)) {
    const raw = env[name];
    if (raw === undefined || (raw === '' && s.default !== undefined)) {
      if (s.default === undefined) problems.push(new ConfigError(name, 'is required but not set'));
      out[name] = s.default;
      continue;
    }
    try {
      out[name] = s.parse(raw);
    } catch (e) {
      problems.push(new ConfigError(name, (e as Error).message));
    }
  }
  const err = combineConfigErrors(problems);
  if (err) throw err;
  return out as ConfigOf<S>;
}

/** One error for all `problems` (undefined for none): the only one, or one naming every variable, one line each. */
export function combineConfigErrors(problems: readonly ConfigError[]): ConfigError | undefined {
  if (problems.length <= 1) return problems[0];
  const err = new ConfigError(problems.map((p) => p.variable).join(', '), 'are invalid');
  err.message = problems.map((p) => p.message).join('\n');
  return err;
}

/** Rows of name, kind, default and help, for README tables and `--help`. */
export function describeConfig(spec: ConfigSpec): { name: string; kind: string; default: string; help: string }[] {
  return Object.entries(spec).map(([name, s]) => ({ name, kind: s.kind, default: s.shownDefault, help: s.help }));
}
