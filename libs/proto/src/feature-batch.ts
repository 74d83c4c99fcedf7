/**
 * The wire rule of `FeatureBatch`, written once: the feature store encodes with
 * {@link encodeFeatureBatch}, the ranker decodes with {@link decodeFeatureBatch}.
 *
 * A batch carries one column per feature over `entity_count` entities, either as a
 * repeated float per column or, with `packed_values`, all values in one float32
 * little-endian block, column-major: column c holds bytes [4·n·c, 4·n·(c+1)) and the
 * columns carry only their names and missing indices.
 */
import { InvalidArgumentError, float32LEBytes, readFloat32LE } from '@recsys/core';
import type { CandidateSet, FeatureBatch } from './gen/recsys/v1/common';

/** One column to encode: a value per entity (defaults already filled in) and the indices that were missing. */
export interface FeatureColumnValues {
  name: string;
  values: ArrayLike<number>;
  missing: number[];
}

/** A decoded column: its name and a value per entity. */
export interface DecodedFeatureColumn {
  name: string;
  values: ArrayLike<number>;
}

const EMPTY = Buffer.alloc(0);

/**
 * The columns as one float32 block without a copy, when they already are consecutive views
 * of one buffer (as the feature store's reads build them); undefined otherwise.
 */
function contiguousBlock(entityCount: number, columns: readonly FeatureColumnValues[]): Float32Array | undefined {
  const first = columns[0]?.values;
  if (!(first instanceof Float32Array)) return undefined;
  for (let i = 0; i < columns.length; i++) {
    const v = columns[i]!.values;
    if (!(v instanceof Float32Array) || v.buffer !== first.buffer || v.byteOffset !== first.byteOffset + 4 * i * entityCount) return undefined;
  }
  return new Float32Array(first.buffer, first.byteOffset, entityCount * columns.length);
}

/**
 * Builds the batch of `columns` (each `entityCount` values long) of view `featureView`:
 * repeated floats, or with `packed` one float32 little-endian block.
 *
 * @throws RangeError when a column does not have `entityCount` values
 */
export function encodeFeatureBatch(
  featureView: string,
  entityCount: number,
  columns: readonly FeatureColumnValues[],
  unknownEntityIndices: number[],
  packed: boolean,
): FeatureBatch {
  columns.forEach((c, i) => {
    if (c.values.length !== entityCount) throw new RangeError(`feature column ${i} (${c.name}) has ${c.values.length} values for ${entityCount} entities`);
  });
  if (!packed) {
    return {
      featureView,
      entityCount,
      columns: columns.map((c) => ({ name: c.name, values: Array.from(c.values), missingIndices: c.missing })),
      unknownEntityIndices,
      packedValues: EMPTY,
    };
  }
  let block = contiguousBlock(entityCount, columns);
  if (!block) {
    block = new Float32Array(entityCount * columns.length);
    columns.forEach((c, i) => block!.set(c.values, i * entityCount));
  }
  return {
    featureView,
    entityCount,
    columns: columns.map((c) => ({ name: c.name, values: [], missingIndices: c.missing })),
    unknownEntityIndices,
    packedValues: float32LEBytes(block),
  };
}

/**
 * The columns of a received batch as (name, values) pairs, from the packed block (one
 * aligned copy, each column a view on it) or from the repeated floats. `field` is the
 * request field the batch came in (`item_features`), for the error messages. An absent
 * batch or one without columns has no columns.
 *
 * @throws InvalidArgumentError naming the field when `entity_count` is not `expected` or a
 *   size does not add up (`item_features.packed_values: has 10 bytes, expected 16 …`)
 */
export function decodeFeatureBatch(batch: FeatureBatch | undefined, field: string, expected: number): DecodedFeatureColumn[] {
  if (!batch || batch.columns.length === 0) return [];
  if (batch.entityCount !== expected) {
    throw new InvalidArgumentError(`${field}.entity_count`, `must be ${expected}, got ${batch.entityCount}`);
  }
  const packed = batch.packedValues;
  if (packed.length > 0) {
    const want = 4 * expected * batch.columns.length;
    if (packed.length !== want) {
      throw new InvalidArgumentError(`${field}.packed_values`, `has ${packed.length} bytes, expected ${want} (${batch.columns.length} columns × ${expected} float32)`);
    }
    batch.columns.forEach((col, i) => {
      if (col.values.length > 0) throw new InvalidArgumentError(`${field}.columns[${i}].values`, 'must be empty when packed_values is set');
    });
    const block = readFloat32LE(packed, 0, expected * batch.columns.length);
    return batch.columns.map((col, i) => ({ name: col.name, values: block.subarray(i * expected, (i + 1) * expected) }));
  }
  batch.columns.forEach((col, i) => {
    if (col.values.length !== expected) {
      throw new InvalidArgumentError(`${field}.columns[${i}].values`, `has ${col.values.length} values, expected ${expected}`);
    }
  });
  return batch.columns;
}

/**
 * The candidate features of a `CandidateSet` (one column per feature over its n items): a
 * repeated float per feature, or with `packed` one float32 little-endian block,
 * feature-major (`packed_features`), the features then carrying only their names.
 *
 * @throws RangeError when a feature does not have n values
 */
export function encodeCandidateFeatures(n: number, features: readonly { name: string; values: ArrayLike<number> }[], packed: boolean): Pick<CandidateSet, 'features' | 'packedFeatures'> {
  features.forEach((f, i) => {
    if (f.values.length !== n) throw new RangeError(`candidate feature ${i} (${f.name}) has ${f.values.length} values for ${n} candidates`);
  });
  if (!packed || features.length === 0) return { features: features.map((f) => ({ name: f.name, values: Array.from(f.values) })), packedFeatures: EMPTY };
  const block = new Float32Array(n * features.length);
  features.forEach((f, i) => block.set(f.values, i * n));
  return { features: features.map((f) => ({ name: f.name, values: [] })), packedFeatures: float32LEBytes(block) };
}

/**
 * A received set's candidate features as (name, values) pairs for its `n` items, from the
 * packed block (one aligned copy, each feature a view on it) or the repeated floats.
 * `field` names the set in error messages (`candidates`).
 *
 * @throws InvalidArgumentError naming the field when a size does not add up
 *   (`candidates.packed_features: has 10 bytes, expected 2400 …`)
 */
export function decodeCandidateFeatures(set: Pick<CandidateSet, 'features' | 'packedFeatures'>, field: string, n: number): DecodedFeatureColumn[] {
  const packed = set.packedFeatures;
  if (packed.length === 0) {
    set.features.forEach((f, i) => {
      if (f.values.length !== n) throw new InvalidArgumentError(`${field}.features[${i}].values`, `has ${f.values.length} entries for ${n} candidates`);
    });
    return set.features;
  }
  const want = 4 * n * set.features.length;
  if (packed.length !== want) {
    throw new InvalidArgumentError(`${field}.packed_features`, `has ${packed.length} bytes, expected ${want} (${set.features.length} features × ${n} float32)`);
  }
  set.features.forEach((f, i) => {
    if (f.values.length > 0) throw new InvalidArgumentError(`${field}.features[${i}].values`, 'must be empty when packed_features is set');
  });
  const block = readFloat32LE(packed, 0, n * set.features.length);
  return set.features.map((f, i) => ({ name: f.name, values: block.subarray(i * n, (i + 1) * n) }));
}
