import * as grpc from '@grpc/grpc-js';
import { columnsFromVectors } from '@recsys/feature-store/backend';
import { FeatureRegistry } from '@recsys/feature-store/registry';
import { decodeVector, encodeVector } from '@recsys/feature-store/redis-keys';

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
    expect(() => reg.resolve('shop', [])).toThrow(expect.objectContaining({ code: grpc.status.INVALID_ARGUMENT, message: expect.stringMatching(/^feature_view: unknown view "shop"/) }));
    expect(() => reg.resolve('item', ['pop', 'colour'])).toThrow(/^feature_names\[1\]: unknown feature "colour"/);
  });
});

describe('columnsFromVectors', () => {
  it('builds columns, defaults unknown entities and NaN values, and lists them', () => {
    const reg = new FeatureRegistry(views);
    const read = columnsFromVectors('item', [[1, 2000], undefined, [NaN, 2010]], reg.resolve('item', []).features);
    expect(read.unknown).toEqual([1]);
    expect(read.columns.map((c) => [c.name, Array.from(c.values), c.missing])).toEqual([
      ['pop', [1, -1, -1], [1, 2]],
      ['year', [2000, 1990, 2010], [1]],
    ]);
  });
});

describe('vector encoding', () => {
  it('round-trips float32 and rejects a value of the wrong width', () => {
    const buf = encodeVector([1.5, -2, 3.25]);
    expect(Array.from(decodeVector(buf, 3, 'k'))).toEqual([1.5, -2, 3.25]);
    expect(() => decodeVector(buf, 4, 'recsys:v:item:9')).toThrow(/recsys:v:item:9 has 12 bytes, expected 16/);
  });
});
