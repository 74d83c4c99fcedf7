import { DomainError, InvalidArgumentError } from '@recsys/core';
import { FeatureBatch, RetrievalSource, WIRE_RETRIEVAL_SOURCE, decodeFeatureBatch, encodeFeatureBatch, retrievalSourceName } from '@recsys/proto';

// Values a float32 holds exactly, plus the awkward ones: NaN, ±0, ±Infinity, the smallest
// subnormal and the largest finite float32.
const pop = [3, -1.5, NaN, 0, -0];
const year = [1999, Infinity, -Infinity, 1.401298464324817e-45, 3.4028234663852886e38];
const columns = [
  { name: 'pop', values: Float32Array.from(pop), missing: [2] },
  { name: 'year', values: Float32Array.from(year), missing: [] },
];

function expectSameValues(actual: ArrayLike<number>, expected: readonly number[]): void {
  expect(Array.from(actual).map((v) => Object.is(v, -0) ? '-0' : v)).toEqual(expected.map((v) => Object.is(v, -0) ? '-0' : v));
}

describe('the packed float32 feature batch', () => {
  it('round-trips every column bit for bit, keeping names, missing and unknown indices', () => {
    const batch = encodeFeatureBatch('item', 5, columns, [4], true);
    expect(batch.packedValues.length).toBe(4 * 5 * 2);
    expect(batch.columns.map((c) => [c.name, c.values, c.missingIndices])).toEqual([['pop', [], [2]], ['year', [], []]]);
    expect(batch.unknownEntityIndices).toEqual([4]);
    // Through the real protobuf encoding, as it crosses the wire.
    const wire = FeatureBatch.decode(FeatureBatch.encode(batch).finish());
    const decoded = decodeFeatureBatch(wire, 'item_features', 5);
    expect(decoded.map((c) => c.name)).toEqual(['pop', 'year']);
    expectSameValues(decoded[0]!.values, pop);
    expectSameValues(decoded[1]!.values, year);
  });

  it('lays the block out column-major as float32 little-endian', () => {
    const block = Buffer.from(encodeFeatureBatch('item', 5, columns, [], true).packedValues);
    expectSameValues(Array.from({ length: 10 }, (_, i) => block.readFloatLE(4 * i)), [...pop, ...year]);
  });

  it('decodes a block at an odd byte offset (as a protobuf decoder may hand it over)', () => {
    const batch = encodeFeatureBatch('item', 5, columns, [], true);
    const shifted = Buffer.concat([Buffer.from([7]), batch.packedValues]).subarray(1);
    expectSameValues(decodeFeatureBatch({ ...batch, packedValues: shifted }, 'item_features', 5)[1]!.values, year);
  });

  it('round-trips the unpacked form (repeated floats) to the same values', () => {
    const batch = encodeFeatureBatch('item', 5, columns, [], false);
    expect(batch.packedValues.length).toBe(0);
    const decoded = decodeFeatureBatch(FeatureBatch.decode(FeatureBatch.encode(batch).finish()), 'item_features', 5);
    expectSameValues(decoded[0]!.values, pop);
    expectSameValues(decoded[1]!.values, year);
  });

  it('refuses a block of the wrong length with INVALID_ARGUMENT naming the field and both sizes', () => {
    const batch = encodeFeatureBatch('item', 5, columns, [], true);
    for (const bytes of [batch.packedValues.subarray(0, 39), Buffer.concat([batch.packedValues, Buffer.alloc(4)]), Buffer.alloc(3)]) {
      let err: unknown;
      try {
        decodeFeatureBatch({ ...batch, packedValues: bytes }, 'item_features', 5);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as DomainError).code).toBe('INVALID_ARGUMENT');
      expect((err as Error).message).toBe(`item_features.packed_values: has ${bytes.length} bytes, expected 40 (2 columns × 5 float32)`);
    }
  });

  it('refuses an entity count other than expected, values beside a block, and short repeated columns', () => {
    const packed = encodeFeatureBatch('item', 5, columns, [], true);
    expect(() => decodeFeatureBatch(packed, 'item_features', 4)).toThrow(/^item_features\.entity_count: must be 4, got 5$/);
    const both = { ...packed, columns: [{ name: 'pop', values: [1, 2, 3, 4, 5], missingIndices: [] }, packed.columns[1]!] };
    expect(() => decodeFeatureBatch(both, 'item_features', 5)).toThrow(/^item_features\.columns\[0\]\.values: must be empty when packed_values is set$/);
    const plain = encodeFeatureBatch('item', 5, columns, [], false);
    plain.columns[1]!.values.pop();
    expect(() => decodeFeatureBatch(plain, 'item_features', 5)).toThrow(/^item_features\.columns\[1\]\.values: has 4 values, expected 5$/);
  });

  it('an absent batch or one without columns has no columns', () => {
    expect(decodeFeatureBatch(undefined, 'user_features', 1)).toEqual([]);
    expect(decodeFeatureBatch(encodeFeatureBatch('user', 1, [], [], true), 'user_features', 1)).toEqual([]);
  });

  it('refuses to encode a column whose length is not the entity count', () => {
    expect(() => encodeFeatureBatch('item', 4, columns, [], true)).toThrow(/feature column 0 \(pop\) has 5 values for 4 entities/);
  });
});

describe('retrieval source names', () => {
  it('map both ways, and UNSPECIFIED or an unknown number has no name', () => {
    for (const [name, wire] of Object.entries(WIRE_RETRIEVAL_SOURCE)) expect(retrievalSourceName(wire)).toBe(name);
    expect(Object.keys(WIRE_RETRIEVAL_SOURCE).sort()).toEqual(['covisitation', 'embedding', 'popularity']);
    expect(retrievalSourceName(RetrievalSource.RETRIEVAL_SOURCE_UNSPECIFIED)).toBeUndefined();
    expect(retrievalSourceName(99 as RetrievalSource)).toBeUndefined();
  });
});
