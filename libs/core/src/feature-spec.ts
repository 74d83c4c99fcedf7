/**
 * Ranker feature specs: validation against feature views, comparison, and assembly of the
 * model input matrix. The offline trainer and the online ranker both build model inputs
 * with {@link assembleRankerInput}, so training and serving cannot disagree on how a
 * column is computed.
 */
import type { FeatureDefinition, FeatureViewSpec, RankerFeature } from './artifact-types';
import { CANDIDATE_FEATURE_INDEX, CANDIDATE_FEATURES } from './candidate-features';
import { RETRIEVAL_SOURCES, type RetrievalSource } from './retrieval';

/** Key of the ONNX `metadata_props` entry holding `JSON.stringify(RankerFeature[])`. */
export const FEATURE_SPEC_METADATA_KEY = 'recsys.feature_spec';

/** Feature and view names: `[a-z][a-z0-9_]*`. */
export const FEATURE_NAME_PATTERN = /^[a-z][a-z0-9_]*$/;

/** A ranker feature spec or its input does not fit; `feature` names the culprit. */
export class FeatureSpecError extends Error {
  override readonly name = 'FeatureSpecError';
  constructor(
    message: string,
    /** Name of the ranker feature (or view feature) at fault, when there is one. */
    readonly feature?: string,
  ) {
    super(message);
  }
}

/**
 * Everything the ranker knows about one request, for {@link assembleRankerInput}.
 * Columns are aligned with the candidate list (length `n`).
 */
export interface RankerInput {
  /** Number of candidates (rows of the model input). */
  n: number;
  /** Merged retrieval score of each candidate. */
  candidateScores: Float32Array | number[];
  /**
   * Per-source retrieval scores. NaN at a position means that source did not find that
   * candidate; an absent source means it found none of them. Both become the feature's
   * `default`.
   */
  sourceScores: Partial<Record<RetrievalSource, ArrayLike<number>>>;
  /** User view feature name → value. Must hold every user feature the spec uses. */
  user: ReadonlyMap<string, number>;
  /** Item view feature name → column over the candidates. Must hold every item feature the spec uses. */
  item: ReadonlyMap<string, ArrayLike<number>>;
  /**
   * Candidate feature name → column over the candidates (see candidate-features.ts), as the
   * candidate generator sends them. An absent column takes the spec's `default` (e.g. the
   * gateway's cached popular list carries none); NaN values too.
   */
  candidateFeatures?: ReadonlyMap<string, ArrayLike<number>>;
}

const KIND_FIELDS: Record<RankerFeature['kind'], readonly string[]> = {
  user: ['feature'],
  item: ['feature'],
  retrieval_score: [],
  retrieval_rank: [],
  source_score: ['source', 'default'],
  dot: ['user', 'item'],
  diff: ['user', 'item', 'scale'],
  candidate: ['feature', 'default'],
};

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isStringArray(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((s) => typeof s === 'string');
}

/**
 * Checks that `value` is a well-formed `RankerFeature[]` (known kinds, required fields
 * with the right types, no unknown fields, unique names) and returns it typed.
 * Does not look at feature views; {@link validateRankerSpec} does.
 *
 * @throws FeatureSpecError naming the offending feature
 */
export function parseRankerSpec(value: unknown): RankerFeature[] {
  const spec = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  if (!Array.isArray(spec) || spec.length === 0) {
    throw new FeatureSpecError('ranker feature spec must be a non-empty array of features');
  }
  const names = new Set<string>();
  spec.forEach((f: unknown, i) => {
    if (!isRecord(f)) throw new FeatureSpecError(`ranker feature #${i} is not an object`);
    const name = f['name'];
    if (typeof name !== 'string' || !FEATURE_NAME_PATTERN.test(name)) {
      throw new FeatureSpecError(`ranker feature #${i} has an invalid name ${JSON.stringify(name)} (want [a-z][a-z0-9_]*)`);
    }
    const where = `ranker feature "${name}"`;
    if (names.has(name)) throw new FeatureSpecError(`${where} appears twice`, name);
    names.add(name);
    const kind = f['kind'];
    if (typeof kind !== 'string' || !Object.prototype.hasOwnProperty.call(KIND_FIELDS, kind)) {
      throw new FeatureSpecError(`${where} has unknown kind ${JSON.stringify(kind)}`, name);
    }
    const allowed = new Set(['name', 'kind', ...KIND_FIELDS[kind as RankerFeature['kind']]]);
    for (const key of Object.keys(f)) {
      if (!allowed.has(key)) throw new FeatureSpecError(`${where} (kind ${kind}) has unexpected field "${key}"`, name);
    }
    const requireString = (key: string): void => {
      if (typeof f[key] !== 'string' || f[key] === '') throw new FeatureSpecError(`${where}: "${key}" must be a non-empty string`, name);
    };
    const requireFinite = (key: string): void => {
      if (typeof f[key] !== 'number' || !Number.isFinite(f[key])) throw new FeatureSpecError(`${where}: "${key}" must be a finite number`, name);
    };
    switch (kind) {
      case 'user':
      case 'item':
        requireString('feature');
        break;
      case 'source_score':
        if (!RETRIEVAL_SOURCES.includes(f['source'] as RetrievalSource)) {
          throw new FeatureSpecError(`${where}: "source" must be one of ${RETRIEVAL_SOURCES.join(', ')}, got ${JSON.stringify(f['source'])}`, name);
        }
        requireFinite('default');
        break;
      case 'candidate':
        if (!CANDIDATE_FEATURE_INDEX.has(f['feature'] as string)) {
          throw new FeatureSpecError(`${where}: "feature" must be one of ${CANDIDATE_FEATURES.map((c) => c.name).join(', ')}, got ${JSON.stringify(f['feature'])}`, name);
        }
        requireFinite('default');
        break;
      case 'dot': {
        const u = f['user'];
        const it = f['item'];
        if (!isStringArray(u) || !isStringArray(it) || u.length === 0 || u.length !== it.length) {
          throw new FeatureSpecError(`${where}: "user" and "item" must be non-empty string lists of equal length`, name);
        }
        break;
      }
      case 'diff':
        requireString('user');
        requireString('item');
        requireFinite('scale');
        break;
      default:
        break;
    }
  });
  return spec as RankerFeature[];
}

/** The view features a ranker feature reads, as [view, feature name] pairs. */
function referencedViewFeatures(f: RankerFeature): Array<['user' | 'item', string]> {
  switch (f.kind) {
    case 'user':
      return [['user', f.feature]];
    case 'item':
      return [['item', f.feature]];
    case 'dot':
      return [...f.user.map((u): ['user', string] => ['user', u]), ...f.item.map((i): ['item', string] => ['item', i])];
    case 'diff':
      return [
        ['user', f.user],
        ['item', f.item],
      ];
    default:
      return [];
  }
}

/**
 * Checks a ranker feature spec against the feature views it will be fed from: the spec
 * must be well-formed ({@link parseRankerSpec}) and every user/item feature it reads must
 * exist in `views.user` / `views.item`.
 *
 * @throws FeatureSpecError whose message names the offending ranker feature and the
 *   missing view feature
 */
export function validateRankerSpec(spec: readonly RankerFeature[], views: { user: FeatureViewSpec; item: FeatureViewSpec }): void {
  parseRankerSpec(spec);
  const names = {
    user: new Set(views.user.features.map((f) => f.name)),
    item: new Set(views.item.features.map((f) => f.name)),
  };
  for (const f of spec) {
    for (const [view, feature] of referencedViewFeatures(f)) {
      if (!names[view].has(feature)) {
        throw new FeatureSpecError(
          `ranker feature "${f.name}" (kind ${f.kind}) refers to ${view} feature "${feature}", which the ${view} feature view does not have`,
          f.name,
        );
      }
    }
  }
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = canonical(value[key]);
    return out;
  }
  return value;
}

/** Canonical JSON of a spec (object keys sorted), for hashing or comparing specs. */
function canonicalSpecJson(spec: readonly RankerFeature[]): string {
  return JSON.stringify(canonical(spec));
}

/**
 * True when two ranker feature specs describe the same model input: same features, same
 * order, same parameters. Object key order does not matter.
 */
export function specsEqual(a: readonly RankerFeature[], b: readonly RankerFeature[]): boolean {
  return canonicalSpecJson(a) === canonicalSpecJson(b);
}

/** Feature name → default value of a view, e.g. to fill in what an entity lacks. */
export function viewDefaults(view: FeatureViewSpec): Map<string, number> {
  return new Map(view.features.map((f: FeatureDefinition) => [f.name, f.default]));
}

/**
 * Builds the ranking model's input: a float32 matrix of `input.n` rows (candidates) ×
 * `spec.length` columns, row-major, column `c` computed as `spec[c]` documents
 * (see {@link RankerFeature}).
 *
 * The caller supplies complete inputs: every user/item feature the spec reads must be in
 * `input.user` / `input.item` (fill missing entities with the view defaults first), and
 * every column must have exactly `n` values. Missing data is an error, never a silent 0.
 *
 * Every cell is written, so `into` (a matrix of exactly `n` × `spec.length` values) may be
 * a reused buffer holding anything; without it a new matrix is made.
 *
 * @throws FeatureSpecError naming the ranker feature whose input is missing or malformed
 */
export function assembleRankerInput(spec: readonly RankerFeature[], input: RankerInput, into?: Float32Array): Float32Array {
  const { n } = input;
  if (!Number.isInteger(n) || n < 0) throw new FeatureSpecError(`ranker input: n must be a non-negative integer, got ${n}`);
  const width = spec.length;
  if (into !== undefined && into.length !== n * width) throw new RangeError(`ranker input: a buffer of ${into.length} values for ${n} × ${width}`);
  const out = into ?? new Float32Array(n * width);

  const userValue = (f: RankerFeature, name: string): number => {
    const v = input.user.get(name);
    if (v === undefined) throw new FeatureSpecError(`ranker feature "${f.name}": user feature "${name}" is missing from the input`, f.name);
    return v;
  };
  const itemColumn = (f: RankerFeature, name: string): ArrayLike<number> => {
    const col = input.item.get(name);
    if (col === undefined) throw new FeatureSpecError(`ranker feature "${f.name}": item feature "${name}" is missing from the input`, f.name);
    if (col.length !== n) {
      throw new FeatureSpecError(`ranker feature "${f.name}": item feature "${name}" has ${col.length} values for ${n} candidates`, f.name);
    }
    return col;
  };

  // The user features are the same in every row: one row holding them, copied into every
  // row (memcpy-sized copies instead of a strided write per value); the other columns are
  // written over it below.
  let row: Float32Array | undefined;
  for (let c = 0; c < width; c++) {
    const f = spec[c]!;
    if (f.kind === 'user') (row ??= new Float32Array(width))[c] = userValue(f, f.feature);
  }
  if (row !== undefined && n > 0) fillRows(out, row);

  for (let c = 0; c < width; c++) {
    const f = spec[c]!;
    switch (f.kind) {
      case 'user':
        break;
      case 'item':
        copyColumn(out, width, c, n, itemColumn(f, f.feature));
        break;
      case 'retrieval_score': {
        const col = input.candidateScores;
        if (col.length !== n) {
          throw new FeatureSpecError(`ranker feature "${f.name}": candidateScores has ${col.length} values for ${n} candidates`, f.name);
        }
        copyColumn(out, width, c, n, col);
        break;
      }
      case 'retrieval_rank':
        for (let j = 0; j < n; j++) out[j * width + c] = j + 1;
        break;
      case 'source_score': {
        const col = input.sourceScores[f.source];
        if (col !== undefined && col.length !== n) {
          throw new FeatureSpecError(`ranker feature "${f.name}": source "${f.source}" has ${col.length} scores for ${n} candidates`, f.name);
        }
        for (let j = 0; j < n; j++) {
          const v = col === undefined ? NaN : col[j]!;
          out[j * width + c] = Number.isNaN(v) ? f.default : v;
        }
        break;
      }
      case 'candidate': {
        const col = input.candidateFeatures?.get(f.feature);
        if (col !== undefined && col.length !== n) {
          throw new FeatureSpecError(`ranker feature "${f.name}": candidate feature "${f.feature}" has ${col.length} values for ${n} candidates`, f.name);
        }
        for (let j = 0; j < n; j++) {
          const v = col === undefined ? NaN : col[j]!;
          out[j * width + c] = Number.isNaN(v) ? f.default : v;
        }
        break;
      }
      case 'dot': {
        const us = f.user.map((u) => userValue(f, u));
        const cols = f.item.map((i) => itemColumn(f, i));
        if (us.length !== cols.length) {
          throw new FeatureSpecError(`ranker feature "${f.name}": dot needs equally long user and item lists`, f.name);
        }
        // Column by column into a float64 accumulator: the same sums in the same order as
        // row by row (so the same float32 values), without reading cols[k][j] across columns.
        const acc = new Float64Array(n);
        let k = 0;
        // Four columns per pass, each row's terms still added one by one in column order.
        for (; k + 4 <= us.length; k += 4) {
          const u0 = us[k]!, u1 = us[k + 1]!, u2 = us[k + 2]!, u3 = us[k + 3]!;
          const c0 = cols[k]!, c1 = cols[k + 1]!, c2 = cols[k + 2]!, c3 = cols[k + 3]!;
          for (let j = 0; j < n; j++) {
            let a = acc[j]!;
            a += u0 * c0[j]!;
            a += u1 * c1[j]!;
            a += u2 * c2[j]!;
            a += u3 * c3[j]!;
            acc[j] = a;
          }
        }
        for (; k < us.length; k++) {
          const u = us[k]!;
          const col = cols[k]!;
          for (let j = 0; j < n; j++) acc[j]! += u * col[j]!;
        }
        copyColumn(out, width, c, n, acc);
        break;
      }
      case 'diff': {
        const u = userValue(f, f.user);
        const col = itemColumn(f, f.item);
        for (let j = 0; j < n; j++) out[j * width + c] = (u - col[j]!) * f.scale;
        break;
      }
      default: {
        const unknown = f as { name?: unknown; kind?: unknown };
        throw new FeatureSpecError(`ranker feature "${String(unknown.name)}" has unknown kind ${JSON.stringify(unknown.kind)}`);
      }
    }
  }
  return out;
}

/** Copies `row` into every row of the row-major `out` (doubling: log2(rows) copies). */
function fillRows(out: Float32Array, row: Float32Array): void {
  out.set(row, 0);
  let filled = row.length;
  while (filled < out.length) {
    const len = Math.min(filled, out.length - filled);
    out.copyWithin(filled, 0, len);
    filled += len;
  }
}

/** Writes `col` into column `c` of the row-major n × width `out` (one small loop that V8 optimizes once for every column). */
function copyColumn(out: Float32Array, width: number, c: number, n: number, col: ArrayLike<number>): void {
  for (let j = 0, o = c; j < n; j++, o += width) out[o] = col[j]!;
}
