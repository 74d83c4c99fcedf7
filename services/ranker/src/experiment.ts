/**
 * Traffic splits: an experiment config names variants, each a ranking model (the live one the
 * ranker hot-reloads, or a pinned artifact version) with a weight, and optionally a shadow
 * variant. Users are assigned by a stable hash of (experiment name, user id), so a user keeps
 * its variant across requests, restarts and replicas; a weight change moves only the users
 * whose bucket changes side.
 *
 * ```json
 * { "name": "ranker-v2", "variants": [
 *     { "name": "control",   "artifacts": "current",              "weight": 90 },
 *     { "name": "treatment", "artifacts": "artifacts/20261202-b", "weight": 10 } ],
 *   "shadow": { "variant": "treatment", "sample": 0.5 } }
 * ```
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { ConfigError } from '@recsys/core';

/** `artifacts` value meaning "the model the ranker serves from ARTIFACTS_DIR (hot-reloaded)". */
export const LIVE_MODEL = 'current';

export interface VariantConfig {
  name: string;
  /** `current`, or an artifact directory (a version, or a root whose CURRENT is read once at load). */
  artifacts: string;
  /** Relative share of users (≥ 0; a weight-0 variant gets no traffic but can be shadowed or forced). */
  weight: number;
}

export interface ExperimentConfig {
  name: string;
  variants: VariantConfig[];
  shadow?: { variant: string; sample: number };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Largest experiment file read (bytes). */
export const MAX_EXPERIMENT_BYTES = 64 * 1024;

/**
 * Parses and checks an experiment config (JSON text). `{}` or no variants means no experiment
 * (undefined). Throws a ConfigError naming `source` and the bad field.
 */
export function parseExperiment(text: string, source: string, baseDir = process.cwd()): ExperimentConfig | undefined {
  const bad = (field: string, problem: string): never => {
    throw new ConfigError(source, `${field}: ${problem}`);
  };
  if (Buffer.byteLength(text) > MAX_EXPERIMENT_BYTES) bad('(file)', `larger than ${MAX_EXPERIMENT_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return bad('(file)', `not JSON: ${(err as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return bad('(file)', 'must be a JSON object');
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) if (!['name', 'variants', 'shadow'].includes(key)) bad(key, 'unknown field (expected name, variants, shadow)');
  if (obj.variants === undefined || (Array.isArray(obj.variants) && obj.variants.length === 0)) {
    if (obj.shadow !== undefined) bad('shadow', 'needs variants');
    return undefined;
  }
  if (typeof obj.name !== 'string' || !NAME.test(obj.name)) bad('name', `must be 1–64 characters [A-Za-z0-9._-], got ${JSON.stringify(obj.name)}`);
  if (!Array.isArray(obj.variants)) return bad('variants', 'must be an array');
  if (obj.variants.length > 16) bad('variants', `at most 16, got ${obj.variants.length}`);
  const names = new Set<string>();
  const variants = obj.variants.map((v: unknown, i): VariantConfig => {
    const at = `variants[${i}]`;
    if (!v || typeof v !== 'object') return bad(at, 'must be an object');
    const o = v as Record<string, unknown>;
    for (const key of Object.keys(o)) if (!['name', 'artifacts', 'weight'].includes(key)) bad(`${at}.${key}`, 'unknown field (expected name, artifacts, weight)');
    if (typeof o.name !== 'string' || !NAME.test(o.name)) bad(`${at}.name`, `must be 1–64 characters [A-Za-z0-9._-], got ${JSON.stringify(o.name)}`);
    if (names.has(o.name as string)) bad(`${at}.name`, `"${o.name}" appears twice`);
    names.add(o.name as string);
    if (typeof o.artifacts !== 'string' || o.artifacts.trim() === '') bad(`${at}.artifacts`, `must be "${LIVE_MODEL}" or an artifact directory`);
    if (typeof o.weight !== 'number' || !Number.isFinite(o.weight) || o.weight < 0 || o.weight > 1_000_000) bad(`${at}.weight`, `must be a number between 0 and 1000000, got ${JSON.stringify(o.weight)}`);
    const artifacts = (o.artifacts as string).trim();
    return { name: o.name as string, artifacts: artifacts === LIVE_MODEL ? LIVE_MODEL : path.resolve(baseDir, artifacts), weight: o.weight as number };
  });
  if (variants.reduce((s, v) => s + v.weight, 0) <= 0) bad('variants', 'weights must not all be 0');
  let shadow: ExperimentConfig['shadow'];
  if (obj.shadow !== undefined) {
    const s = obj.shadow as Record<string, unknown>;
    if (!s || typeof s !== 'object') return bad('shadow', 'must be an object');
    for (const key of Object.keys(s)) if (!['variant', 'sample'].includes(key)) bad(`shadow.${key}`, 'unknown field (expected variant, sample)');
    if (typeof s.variant !== 'string' || !names.has(s.variant)) bad('shadow.variant', `must name one of the variants (${[...names].join(', ')}), got ${JSON.stringify(s.variant)}`);
    const sample = s.sample === undefined ? 1 : s.sample;
    if (typeof sample !== 'number' || !(sample >= 0 && sample <= 1)) bad('shadow.sample', `must be a number between 0 and 1, got ${JSON.stringify(s.sample)}`);
    shadow = { variant: s.variant as string, sample: sample as number };
  }
  return { name: obj.name as string, variants, ...(shadow ? { shadow } : {}) };
}

/** A user's position in [0, 1) for `experiment`: the first 48 bits of sha256(experiment \0 user). */
export function bucketOf(experiment: string, userId: string): number {
  const h = createHash('sha256').update(experiment).update('\0').update(userId).digest();
  return h.readUIntBE(0, 6) / 2 ** 48;
}

/** The variant of `userId`: the one whose cumulative-weight interval holds the user's bucket. */
export function assignVariant(exp: ExperimentConfig, userId: string): VariantConfig {
  const total = exp.variants.reduce((s, v) => s + v.weight, 0);
  const x = bucketOf(exp.name, userId) * total;
  let acc = 0;
  for (const v of exp.variants) {
    acc += v.weight;
    if (v.weight > 0 && x < acc) return v;
  }
  // Float rounding at the top end: the last variant with weight.
  return [...exp.variants].reverse().find((v) => v.weight > 0) as VariantConfig;
}
