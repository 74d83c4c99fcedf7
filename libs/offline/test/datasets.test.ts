import { createHash } from 'node:crypto';
import { compareIds, indexDataset, PART_CODE, partItemSets, selectHistory, splitByUser, splitFingerprint, type Dataset, type Interaction } from '@recsys/offline';

function dataset(interactions: Interaction[]): Dataset {
  return {
    name: 'test',
    source: 'unit test',
    genres: ['A', 'B'],
    interactions,
    items: new Map([
      ['10', { genres: ['B'], year: 1999 }],
      ['9', { genres: ['A', 'B'] }],
    ]),
  };
}

/** n interactions of one user with items "1".."n" at increasing times. */
function userRows(user: string, n: number): Interaction[] {
  return Array.from({ length: n }, (_, k) => ({ user, item: String(k + 1), rating: 4, ts: 1000 + k }));
}

describe('compareIds', () => {
  it('orders integer ids numerically and others as strings, numbers first', () => {
    expect(['10', '9', '100', 'b', 'a', '0'].sort(compareIds)).toEqual(['0', '9', '10', '100', 'a', 'b']);
  });
});

describe('indexDataset', () => {
  it('indexes users and items by raw id and sorts each history by (ts, raw item id)', () => {
    const ix = indexDataset(
      dataset([
        { user: '2', item: '10', rating: 5, ts: 50 },
        { user: '10', item: '9', rating: 1, ts: 7 },
        { user: '2', item: '9', rating: 3, ts: 50 },
        { user: '2', item: '100', rating: 2, ts: 10 },
      ]),
    );
    expect(ix.userIds).toEqual(['2', '10']);
    expect(ix.itemIds).toEqual(['9', '10', '100']);
    expect(Array.from(ix.userPtr)).toEqual([0, 3, 4]);
    // user 2: ts 10 (item 100), then ts 50 ties broken by raw item id: 9 before 10.
    expect(Array.from(ix.items.subarray(0, 3)).map((i) => ix.itemIds[i])).toEqual(['100', '9', '10']);
    expect(Array.from(ix.ratings.subarray(0, 3))).toEqual([2, 3, 5]);
    expect(Array.from(ix.itemGenres)).toEqual([1, 1, 0, 1, 0, 0]);
    expect(ix.itemYear[1]).toBe(1999);
    expect(ix.itemYear[0]).toBeNaN();
  });

  it('rejects genres outside the vocabulary', () => {
    const ds = dataset([{ user: '1', item: '10', rating: 1, ts: 1 }]);
    ds.items.set('10', { genres: ['C'] });
    expect(() => indexDataset(ds)).toThrow(/item 10 has genre "C"/);
  });
});

describe('splitByUser', () => {
  const parts = (n: number): { fit: number; val: number; test: number } => {
    const ix = indexDataset(dataset(userRows('1', n)));
    const part = splitByUser(ix);
    const count = (code: number): number => part.filter((p) => p === code).length;
    return { fit: count(PART_CODE.fit), val: count(PART_CODE.val), test: count(PART_CODE.test) };
  };

  it('follows the integer rules of docs/EVALUATION.md', () => {
    expect(parts(4)).toEqual({ fit: 4, val: 0, test: 0 });
    // n = 5: test 1, n_tr = 4 < 5 → no val.
    expect(parts(5)).toEqual({ fit: 4, val: 0, test: 1 });
    // n = 6: test 2, n_tr = 4.
    expect(parts(6)).toEqual({ fit: 4, val: 0, test: 2 });
    // n = 7: test 2, n_tr = 5 → val 1.
    expect(parts(7)).toEqual({ fit: 4, val: 1, test: 2 });
    // n = 15: test (15+4)//5 = 3, n_tr 12 → val 2.
    expect(parts(15)).toEqual({ fit: 10, val: 2, test: 3 });
    expect(parts(20)).toEqual({ fit: 14, val: 2, test: 4 });
    // n = 38: test (38+4)//5 = 8, n_tr 30 → val (30+9)//10 = 3.
    expect(parts(38)).toEqual({ fit: 27, val: 3, test: 8 });
    expect(parts(21)).toEqual({ fit: 14, val: 2, test: 5 });
  });

  it('takes test from the end of the timeline and val just before it', () => {
    const ix = indexDataset(dataset(userRows('1', 15)));
    const part = splitByUser(ix);
    expect(Array.from(part)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2]);
    const fit = selectHistory(ix, part, ['fit']);
    const train = selectHistory(ix, part, ['fit', 'val']);
    expect(fit.items).toHaveLength(10);
    expect(train.items).toHaveLength(12);
    expect(Array.from(train.ts)).toEqual(Array.from({ length: 12 }, (_, k) => 1000 + k));
    const test = partItemSets(ix, part, 'test')[0]!;
    expect([...test].map((i) => ix.itemIds[i])).toEqual(['13', '14', '15']);
  });

  it('computes the md5 split fingerprint over raw_user·10^7 + raw_item', () => {
    const ix = indexDataset(dataset(userRows('1', 5)));
    const part = splitByUser(ix);
    const fp = splitFingerprint(ix, part, 'test');
    expect(fp.count).toBe(1);
    // md5 of int64 LE 1·10^7 + 5 = 10000005.
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(10000005n);
    expect(fp.md5).toBe(createHash('md5').update(buf).digest('hex').slice(0, 12));
  });
});
