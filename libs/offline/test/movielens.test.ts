import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DatasetFormatError, detectMovieLensLayout, indexDataset, loadMovieLens, splitByUser, splitCsvLine, yearFromTitle } from '@recsys/offline';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ml-fixture-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(files: Record<string, string | Buffer>): string {
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  return dir;
}

const RATINGS_CSV = [
  'userId,movieId,rating,timestamp',
  '1,10,4.0,100',
  '1,2,3.5,200',
  '2,10,5.0,150',
  '',
].join('\n');
const MOVIES_CSV = [
  'movieId,title,genres',
  '2,Jumanji (1995),Adventure|Children|Fantasy',
  '10,"American President, The (1995)",Comedy|Drama|Romance',
  '11,Untitled,(no genres listed)',
  '',
].join('\n');

function uItemLine(id: number, title: string, date: string, flags: number[]): string {
  const f = Array.from({ length: 19 }, (_, g) => (flags.includes(g) ? '1' : '0'));
  return [String(id), title, date, '', 'http://x', ...f].join('|');
}

describe('MovieLens csv layout (ratings.csv + movies.csv)', () => {
  it('loads ratings, quoted titles, genres and years', () => {
    const ds = loadMovieLens(write({ 'ratings.csv': RATINGS_CSV, 'movies.csv': MOVIES_CSV }));
    expect(ds.layout).toBe('csv');
    expect(ds.interactions).toEqual([
      { user: '1', item: '10', rating: 4, ts: 100 },
      { user: '1', item: '2', rating: 3.5, ts: 200 },
      { user: '2', item: '10', rating: 5, ts: 150 },
    ]);
    expect(ds.genres).toEqual(['Adventure', 'Children', 'Comedy', 'Drama', 'Fantasy', 'Romance']);
    expect(ds.items.get('10')).toEqual({ title: 'American President, The (1995)', year: 1995, genres: ['Comedy', 'Drama', 'Romance'] });
    expect(ds.items.get('11')).toEqual({ title: 'Untitled', genres: [] });
    const ix = indexDataset(ds);
    expect(ix.itemIds).toEqual(['2', '10']);
    expect(ix.userIds).toEqual(['1', '2']);
  });

  it('names the file and line of a malformed rating', () => {
    write({ 'ratings.csv': 'userId,movieId,rating,timestamp\n1,10,4.0,100\n1,x,4.0,100\n', 'movies.csv': MOVIES_CSV });
    expect(() => loadMovieLens(dir)).toThrow(`${path.join(dir, 'ratings.csv')}:3: item id must be a non-negative integer, got "x"`);
    write({ 'ratings.csv': 'userId,movieId,rating,timestamp\n1,10,4.0\n' });
    expect(() => loadMovieLens(dir)).toThrow(`${path.join(dir, 'ratings.csv')}:2: expected 4 fields, got 3`);
    write({ 'ratings.csv': 'userId,movieId,rating,timestamp\n1,10,four,100\n' });
    expect(() => loadMovieLens(dir)).toThrow(/ratings\.csv:2: rating must be a number, got "four"/);
    write({ 'ratings.csv': 'user,movieId,rating,timestamp\n' });
    expect(() => loadMovieLens(dir)).toThrow(/ratings\.csv:1: header lacks column "userId"/);
  });

  it('names the file and line of a malformed movie row', () => {
    write({ 'ratings.csv': RATINGS_CSV, 'movies.csv': 'movieId,title,genres\n2,"Open quote,Drama\n' });
    expect(() => loadMovieLens(dir)).toThrow(`${path.join(dir, 'movies.csv')}:2: unterminated quoted field`);
  });
});

describe('streaming', () => {
  it('reads files larger than one read piece, with a character split across pieces and CRLF endings', () => {
    const n = 120_000; // about 2 MiB of ratings: several 1 MiB pieces
    const ratings = ['userId,movieId,rating,timestamp', ...Array.from({ length: n }, (_, k) => `${(k % 997) + 1},${(k % 3) + 1},4,${1000 + k}`)].join('\r\n');
    // A two-byte character exactly across the first 1 MiB boundary of movies.csv.
    const head = 'movieId,title,genres\n1,"';
    const pad = 'x'.repeat((1 << 20) - Buffer.byteLength(head) - 1);
    const movies = `${head}${pad}\u00e9 (1999)",Drama\n2,B,Comedy\n3,C,Drama\n`;
    const ds = loadMovieLens(write({ 'ratings.csv': ratings, 'movies.csv': movies }));
    expect(ds.interactions).toHaveLength(n);
    expect(ds.interactions[n - 1]).toEqual({ user: String(((n - 1) % 997) + 1), item: String(((n - 1) % 3) + 1), rating: 4, ts: 1000 + n - 1 });
    expect(ds.items.get('1')!.title).toBe(`${pad}\u00e9 (1999)`);
    expect(ds.items.get('1')!.year).toBe(1999);
    expect(ds.items.get('3')).toEqual({ title: 'C', genres: ['Drama'] });
  });

  it('numbers lines after blank ones and names the line of a bad row past the first piece', () => {
    const rows = ['userId,movieId,rating,timestamp', '', ...Array.from({ length: 80_000 }, (_, k) => `1,${k + 1},4,${k}`), '1,2,x,3'];
    write({ 'ratings.csv': rows.join('\n'), 'movies.csv': MOVIES_CSV });
    expect(() => loadMovieLens(dir)).toThrow(`${path.join(dir, 'ratings.csv')}:${rows.length}: rating must be a number, got "x"`);
  });
});

describe('MovieLens u.data layout (u.data + u.item)', () => {
  it('loads tab-separated ratings and Latin-1 items with genre flags', () => {
    const item = [uItemLine(1, 'Toy Story (1995)', '01-Jan-1995', [3, 4, 5]), uItemLine(7, 'Caf\u00e9 Noir', '01-Jan-1960', [10])].join('\n');
    write({ 'u.data': '196\t7\t3\t881250949\n186\t1\t3\t891717742\n', 'u.item': Buffer.from(`${item}\n`, 'latin1') });
    const ds = loadMovieLens(dir);
    expect(ds.layout).toBe('u-data');
    expect(ds.interactions[0]).toEqual({ user: '196', item: '7', rating: 3, ts: 881250949 });
    expect(ds.items.get('1')).toEqual({ title: 'Toy Story (1995)', year: 1995, genres: ['Animation', "Children's", 'Comedy'] });
    expect(ds.items.get('7')).toEqual({ title: 'Caf\u00e9 Noir', year: 1960, genres: ['Film-Noir'] });
    expect(ds.genres).toHaveLength(19);
  });

  it('names the file and line of malformed rows', () => {
    write({ 'u.data': '196\t7\t3\t881250949\n186 1 3 891717742\n', 'u.item': `${uItemLine(1, 'A', '', [])}\n` });
    expect(() => loadMovieLens(dir)).toThrow(`${path.join(dir, 'u.data')}:2: expected 4 tab-separated fields (user item rating timestamp), got 1`);
    write({ 'u.data': '196\t1\t3\t881250949\n', 'u.item': `${uItemLine(1, 'A', '', [])}\n2|B\n` });
    expect(() => loadMovieLens(dir)).toThrow(`${path.join(dir, 'u.item')}:2: expected 24 |-separated fields, got 2`);
  });
});

describe('layout detection', () => {
  it('refuses an unknown layout, naming the directory and the expected files', () => {
    write({ 'ratings.dat': '1::2::3::4\n' });
    expect(() => detectMovieLensLayout(dir)).toThrow(DatasetFormatError);
    expect(() => loadMovieLens(dir)).toThrow(`${dir}: unknown MovieLens layout: expected ratings.csv + movies.csv (ml-latest, ml-25m) or u.data + u.item (ml-100k)`);
    expect(() => loadMovieLens(path.join(dir, 'nope'))).toThrow('dataset directory does not exist');
  });

  it('splits a loaded fixture with the protocol (last ceil(n/5) as test)', () => {
    const rows = ['userId,movieId,rating,timestamp', ...Array.from({ length: 15 }, (_, k) => `1,${k + 1},4,${1000 + k}`)].join('\n');
    const ix = indexDataset(loadMovieLens(write({ 'ratings.csv': rows, 'movies.csv': 'movieId,title,genres\n' })));
    const part = splitByUser(ix);
    expect(Array.from(part).filter((p) => p === 2)).toHaveLength(3);
    expect(Array.from(part).filter((p) => p === 1)).toHaveLength(2);
  });
});

describe('helpers', () => {
  it('splits CSV with doubled quotes and finds years at the end of titles', () => {
    expect(splitCsvLine('1,"a ""b"", c",x', 'f', 1)).toEqual(['1', 'a "b", c', 'x']);
    expect(yearFromTitle('Babylon 5 (1994\u20131998)')).toBe(1994);
    expect(yearFromTitle('Heat (1995) ')).toBe(1995);
    expect(yearFromTitle('No year')).toBeUndefined();
  });
});
