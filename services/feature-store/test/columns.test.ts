import { columnsFromVectors } from '@recsys/feature-store/backend';
import { toFeatureBatch } from '@recsys/feature-store/server';
import { FeatureRegistry } from '@recsys/feature-store/registry';
import { RedisKeys, bucketOf, decodeEntity, encodeEntity } from '@recsys/feature-store/redis-keys';

const views = {
  user: { name: 'user' as const, entity: 'user' as const, features: [{ name: 'activity', default: 0, description: '' }] },
  item: {
    name: 'item' as const,
    entity: 'item' as const,
    features: [
      { name: 'pop', default: -1, description: '' },
      { name: 'year', default: 1990, description: '' },
    ],
  },
};

describe('FeatureRegistry', () => {
  const reg = new FeatureRegistry(views);
  it('resolves all features of a view, or the named ones in order', () => {
    expect(reg.resolve('item', []).features.map((f) => f.name)).toEqual(['pop', 'year']);
    expect(reg.resolve('item', ['year']).features).toEqual([{ name: 'year', offset: 1, default: 1990 }]);
  });
  it('names the unknown view or feature', () => {
    expect(() => reg.resolve('shop', [])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^feature_view: unknown view "shop"/) }));
    expect(() => reg.resolve('item', ['pop', 'colour'])).toThrow(/^feature_names\[1\]: unknown feature "colour"/);
  });
});

describe('columnsFromVectors', () => {
  it('builds columns, defaults unknown entities and NaN values, and lists them', () => {
    const reg = new FeatureRegistry(views);
    const read = columnsFromVectors('item', [[1, 2000], undefined, [NaN, 2010], 'expired'], reg.resolve('item', []).features);
    expect(read.unknown).toEqual([1]);
    expect(read.expired).toEqual([3]);
    expect(read.columns.map((c) => [c.name, Array.from(c.values), c.missing])).toEqual([
      ['pop', [1, -1, -1, -1], [1, 2, 3]],
      ['year', [2000, 1990, 2010, 1990], [1, 3]],
    ]);
  });
});

describe('entity encoding', () => {
  it('round-trips the write time and float32 values, and rejects a value of the wrong width', () => {
    const buf = encodeEntity([1.5, -2, 3.25], 1_700_000_000);
    const e = decodeEntity(buf, 3, 'k');
    expect(Array.from(e.values)).toEqual([1.5, -2, 3.25]);
    expect(e.writtenAtSec).toBe(1_700_000_000);
    expect(() => decodeEntity(buf, 4, 'recsys:v:item:9')).toThrow(/recsys:v:item:9 has 16 bytes, expected 20/);
  });
});

describe('key layout', () => {
  const keys = new RedisKeys('p');
  /** The hash tag Redis Cluster hashes: the text between the first { and the next }. */
  const tag = (k: string) => /\{([^}]*)\}/.exec(k)?.[1];
  it('puts every real-time key of a user under the user\'s hash tag (one slot per ingest script)', () => {
    const rt = Object.values(keys.realtime('u42'));
    expect(new Set(rt.map(tag))).toEqual(new Set(['u42']));
  });
  it('spreads entity keys over buckets, one tag per version, view and bucket', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => String(i));
    const tags = new Set(ids.map((id) => tag(keys.entity('v1', 'item', id, 16))));
    expect(tags.size).toBe(16);
    for (const id of ids) expect(tag(keys.entity('v1', 'item', id, 16))).toBe(`v1:item:${bucketOf(id, 16)}`);
    expect(tag(keys.meta('v1'))).toBe('v1');
    expect(keys.entities('v1', 'item', ids, 16)).toEqual(ids.map((id) => keys.entity('v1', 'item', id, 16)));
    expect(keys.entities('v2', 'user', ids.slice(0, 5), 3)).toEqual(ids.slice(0, 5).map((id) => keys.entity('v2', 'user', id, 3)));
    expect(keys.entities('v1', 'item', ['7'], 1)).toEqual([keys.entity('v1', 'item', '7', 1)]);
  });
});

describe('toFeatureBatch', () => {
  it('packs every column into one float32 little-endian block, column-major, keeping names and missing indices', () => {
    const reg = new FeatureRegistry(views);
    const read = columnsFromVectors('item', [[1, 2000], undefined, [NaN, 2010]], reg.resolve('item', []).features);
    const plain = toFeatureBatch(read);
    const packed = toFeatureBatch(read, true);
    expect(packed.columns.map((c) => [c.name, c.values, c.missingIndices])).toEqual(plain.columns.map((c) => [c.name, [], c.missingIndices]));
    const block = Buffer.from(packed.packedValues);
    const decoded = Array.from({ length: block.length / 4 }, (_, i) => block.readFloatLE(i * 4));
    expect(decoded).toEqual(plain.columns.flatMap((c) => c.values));
    expect(plain.packedValues.length).toBe(0);
  });
});
