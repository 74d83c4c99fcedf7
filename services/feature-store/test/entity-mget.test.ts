/** The feature store's entity MGET writes exactly the bytes ioredis would write for the same keys. */
import { Command } from 'ioredis';
import { EntityMget, encodeEntityMget } from '@recsys/feature-store/entity-mget';
import { RedisKeys, bucketOf } from '@recsys/feature-store/redis-keys';

/** What ioredis itself writes for `mget <keys…>` (its string form, as the socket encodes it). */
function ioredisBytes(keys: string[]): Buffer {
  const w = new Command('mget', keys, { replyEncoding: null }).toWritable({});
  return typeof w === 'string' ? Buffer.from(w, 'utf8') : w;
}

const cases: { name: string; ids: string[]; buckets: number; marker: boolean }[] = [
  { name: 'ASCII ids, one bucket, with the marker', ids: Array.from({ length: 300 }, (_, i) => String(i * 37)), buckets: 1, marker: true },
  { name: 'ASCII ids over 8 buckets, no marker', ids: Array.from({ length: 50 }, (_, i) => `item-${i}`), buckets: 8, marker: false },
  // Two- and three-byte characters, a surrogate pair (4 bytes) and lengths crossing a digit (9 → 10 bytes).
  { name: 'non-ASCII ids', ids: ['é', 'ß-straße', '電影-7', '🎬x', 'plain', 'a'.repeat(9), 'ü'.repeat(64)], buckets: 4, marker: true },
  { name: 'one id', ids: ['42'], buckets: 1, marker: false },
  // A non-ASCII character after ASCII ones in the same id, and ASCII ids after it: the rewrite of one key.
  { name: 'non-ASCII late in an id', ids: ['abc', 'abcdefghé', 'x', 'plainé-tail-and-more', 'y'], buckets: 2, marker: true },
];

describe('EntityMget', () => {
  for (const c of cases) {
    it(`writes ioredis's bytes: ${c.name}`, () => {
      const keys = new RedisKeys('recsys');
      const version = 'snap-ü-01';
      const idBuckets = new Int32Array(c.ids.length);
      const entityKeys = keys.entities(version, 'item', c.ids, c.buckets, idBuckets);
      expect(Array.from(idBuckets)).toEqual(c.ids.map((id) => bucketOf(id, c.buckets)));
      const marker = c.marker ? keys.marker(version, 'item', 0) : undefined;
      const all = marker === undefined ? entityKeys : [marker, ...entityKeys];
      const prefixes = keys.entityPrefixBytes(version, 'item', c.buckets);
      const ours = encodeEntityMget(marker, c.ids, prefixes, idBuckets);
      expect(ours.toString('latin1')).toBe(ioredisBytes(all).toString('latin1'));
      // The command object carries the same keys for ioredis (slot routing, errors) and writes our bytes.
      const command = new EntityMget(marker, c.ids, prefixes, [...entityKeys], idBuckets);
      expect(command.args).toEqual(all);
      expect(command.getSlot()).toBe(new Command('mget', all).getSlot());
      expect(command.toWritable().equals(ours)).toBe(true);
    });
  }

  it('writes each key with the prefix its bucket names', () => {
    const prefixes = [Buffer.from('A:'), Buffer.from('B:'), Buffer.from('C:')];
    const ids = ['x', 'y', 'z', 'w'];
    const text = encodeEntityMget(undefined, ids, prefixes, ids.map((id) => bucketOf(id, 3))).toString('utf8');
    for (const id of ids) expect(text).toContain(`\r\n${'ABC'[bucketOf(id, 3)]}:${id}\r\n`);
  });
});
