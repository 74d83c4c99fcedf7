/**
 * MovieLens loaders for the two common layouts, detected from the files present:
 *
 * - `ratings.csv` + `movies.csv` (ml-latest-small, ml-25m): CSV with a header line,
 *   `userId,movieId,rating,timestamp` and `movieId,title,genres` (genres `|`-separated,
 *   titles quoted when they contain commas, year in parentheses at the end of the title);
 * - `u.data` + `u.item` (ml-100k): tab-separated `user item rating timestamp` and
 *   `|`-separated `id|title|release date|video date|url|19 genre flags` in Latin-1.
 *
 * Every malformed row is an error naming the file and the 1-based line; nothing is
 * skipped silently.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Dataset, Interaction, ItemMetadata } from './datasets';

/** The layouts {@link loadMovieLens} understands. */
export type MovieLensLayout = 'csv' | 'u-data';

/** A data file has a row that cannot be read; the message names the file and line. */
export class DatasetFormatError extends Error {
  override readonly name = 'DatasetFormatError';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    problem: string,
  ) {
    super(line === undefined ? `${file}: ${problem}` : `${file}:${line}: ${problem}`);
  }
}

/** The 19 genres of ml-100k's `u.genre`, in flag order. */
const ML100K_GENRES: readonly string[] = [
  'unknown',
  'Action',
  'Adventure',
  'Animation',
  "Children's",
  'Comedy',
  'Crime',
  'Documentary',
  'Drama',
  'Fantasy',
  'Film-Noir',
  'Horror',
  'Musical',
  'Mystery',
  'Romance',
  'Sci-Fi',
  'Thriller',
  'War',
  'Western',
];

/** What ml-latest writes for a movie without genres. */
const NO_GENRES = '(no genres listed)';
const INTEGER_ID = /^[0-9]+$/;

/**
 * Which layout a directory holds: `csv` when it has `ratings.csv` and `movies.csv`,
 * `u-data` when it has `u.data` and `u.item`.
 *
 * @throws DatasetFormatError naming the directory and the files that were looked for
 */
export function detectMovieLensLayout(dir: string): MovieLensLayout {
  const has = (f: string): boolean => existsSync(path.join(dir, f));
  if (!existsSync(dir)) throw new DatasetFormatError(path.resolve(dir), undefined, 'dataset directory does not exist');
  if (has('ratings.csv') && has('movies.csv')) return 'csv';
  if (has('u.data') && has('u.item')) return 'u-data';
  throw new DatasetFormatError(
    path.resolve(dir),
    undefined,
    'unknown MovieLens layout: expected ratings.csv + movies.csv (ml-latest, ml-25m) or u.data + u.item (ml-100k)',
  );
}

/** Splits one CSV line (RFC 4180 quoting, no embedded newlines). */
export function splitCsvLine(line: string, file: string, lineNo: number): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new DatasetFormatError(file, lineNo, 'unterminated quoted field');
        value += line.slice(i, q);
        if (line[q + 1] === '"') {
          value += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      out.push(value);
      if (i === line.length) return out;
      if (line[i] !== ',') throw new DatasetFormatError(file, lineNo, `unexpected character after a quoted field at column ${i + 1}`);
      i++;
    } else {
      const c = line.indexOf(',', i);
      if (c < 0) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, c));
      i = c + 1;
    }
  }
}

/** Bytes read from a data file at a time: files are streamed, never held whole in memory. */
const READ_CHUNK = 1 << 20;

/**
 * Non-empty lines of a text file with their 1-based numbers, read in {@link READ_CHUNK}
 * pieces (a StringDecoder keeps characters split across pieces whole).
 */
function* readLines(file: string, encoding: BufferEncoding): Generator<[number, string]> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new DatasetFormatError(file, undefined, `cannot read: ${(err as Error).message}`);
  }
  try {
    const decoder = new StringDecoder(encoding);
    const chunk = Buffer.alloc(READ_CHUNK);
    let rest = '';
    let lineNo = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, READ_CHUNK, null);
      const text = rest + (n > 0 ? decoder.write(chunk.subarray(0, n)) : decoder.end());
      const lines = text.split(/\r?\n/);
      // The last piece may be a partial line, unless the file has ended.
      rest = n > 0 ? lines.pop()! : '';
      for (const l of lines) {
        lineNo++;
        if (l.trim() !== '') yield [lineNo, l];
      }
      if (n === 0) return;
    }
  } finally {
    closeSync(fd);
  }
}

/** One shared string per distinct id, so millions of rows hold a few thousand id strings. */
function idInterner(): (id: string) => string {
  const seen = new Map<string, string>();
  return (id) => {
    const known = seen.get(id);
    if (known !== undefined) return known;
    seen.set(id, id);
    return id;
  };
}

function parseRating(
  fields: string[],
  file: string,
  lineNo: number,
  cols: { user: number; item: number; rating: number; ts: number },
  intern: (id: string) => string,
): Interaction {
  const user = fields[cols.user]!.trim();
  const item = fields[cols.item]!.trim();
  const ratingText = fields[cols.rating]!.trim();
  const tsText = fields[cols.ts]!.trim();
  if (!INTEGER_ID.test(user)) throw new DatasetFormatError(file, lineNo, `user id must be a non-negative integer, got "${user}"`);
  if (!INTEGER_ID.test(item)) throw new DatasetFormatError(file, lineNo, `item id must be a non-negative integer, got "${item}"`);
  const rating = ratingText === '' ? NaN : Number(ratingText);
  if (!Number.isFinite(rating)) throw new DatasetFormatError(file, lineNo, `rating must be a number, got "${ratingText}"`);
  const ts = /^-?[0-9]+$/.test(tsText) ? Number(tsText) : NaN;
  if (!Number.isSafeInteger(ts)) throw new DatasetFormatError(file, lineNo, `timestamp must be integer seconds, got "${tsText}"`);
  // Strip leading zeros so "007" and "7" are one id, as the fingerprint's integer arithmetic sees them.
  return { user: intern(String(Number(user))), item: intern(String(Number(item))), rating, ts };
}

/** Release year at the end of a MovieLens title, e.g. `Heat (1995)` → 1995. */
export function yearFromTitle(title: string): number | undefined {
  const m = /\((\d{4})(?:[–-]\d{0,4})?\)\s*$/.exec(title.trim());
  return m ? Number(m[1]) : undefined;
}

/** Index of column `name` in a header. */
function col(name: string, file: string, names: string[], lineNo: number): number {
  const c = names.indexOf(name);
  if (c < 0) throw new DatasetFormatError(file, lineNo, `header lacks column "${name}" (found: ${names.join(', ')})`);
  return c;
}

function loadCsvLayout(dir: string): Dataset {
  const ratingsFile = path.resolve(dir, 'ratings.csv');
  const moviesFile = path.resolve(dir, 'movies.csv');
  const interactions: Interaction[] = [];
  const intern = idInterner();
  let cols: string[] | undefined;
  let rc: { user: number; item: number; rating: number; ts: number } | undefined;
  for (const [lineNo, line] of readLines(ratingsFile, 'utf8')) {
    if (cols === undefined || rc === undefined) {
      cols = splitCsvLine(line, ratingsFile, lineNo).map((c) => c.trim());
      rc = {
        user: col('userId', ratingsFile, cols, lineNo),
        item: col('movieId', ratingsFile, cols, lineNo),
        rating: col('rating', ratingsFile, cols, lineNo),
        ts: col('timestamp', ratingsFile, cols, lineNo),
      };
      continue;
    }
    const fields = line.split(',');
    if (fields.length !== cols.length) throw new DatasetFormatError(ratingsFile, lineNo, `expected ${cols.length} fields, got ${fields.length}`);
    interactions.push(parseRating(fields, ratingsFile, lineNo, rc, intern));
  }
  if (cols === undefined) throw new DatasetFormatError(ratingsFile, undefined, 'file is empty');

  let mCols: string[] | undefined;
  let mc: { item: number; title: number; genres: number } | undefined;
  const items = new Map<string, ItemMetadata>();
  const genreSet = new Set<string>();
  for (const [lineNo, line] of readLines(moviesFile, 'utf8')) {
    if (mCols === undefined || mc === undefined) {
      mCols = splitCsvLine(line, moviesFile, lineNo).map((c) => c.trim());
      mc = { item: col('movieId', moviesFile, mCols, lineNo), title: col('title', moviesFile, mCols, lineNo), genres: col('genres', moviesFile, mCols, lineNo) };
      continue;
    }
    const fields = splitCsvLine(line, moviesFile, lineNo);
    if (fields.length !== mCols.length) throw new DatasetFormatError(moviesFile, lineNo, `expected ${mCols.length} fields, got ${fields.length}`);
    const id = fields[mc.item]!.trim();
    if (!INTEGER_ID.test(id)) throw new DatasetFormatError(moviesFile, lineNo, `movieId must be a non-negative integer, got "${id}"`);
    const key = String(Number(id));
    if (items.has(key)) throw new DatasetFormatError(moviesFile, lineNo, `movieId ${id} appears twice`);
    const raw = fields[mc.genres]!.trim();
    const genres = raw === '' || raw === NO_GENRES ? [] : raw.split('|').map((g) => g.trim());
    genres.forEach((g) => genreSet.add(g));
    const title = fields[mc.title]!;
    const year = yearFromTitle(title);
    items.set(key, { genres, title, ...(year === undefined ? {} : { year }) });
  }
  if (mCols === undefined) throw new DatasetFormatError(moviesFile, undefined, 'file is empty');
  return {
    name: path.basename(path.resolve(dir)).replace(/[^A-Za-z0-9._-]/g, '-') || 'movielens',
    source: `MovieLens csv layout: ${ratingsFile}, ${moviesFile}`,
    genres: [...genreSet].sort(),
    interactions,
    items,
  };
}

/** ml-100k release dates look like `01-Jan-1995`. */
function yearFromDate(date: string): number | undefined {
  const m = /(\d{4})\s*$/.exec(date.trim());
  return m ? Number(m[1]) : undefined;
}

function loadUDataLayout(dir: string): Dataset {
  const dataFile = path.resolve(dir, 'u.data');
  const itemFile = path.resolve(dir, 'u.item');
  const interactions: Interaction[] = [];
  const intern = idInterner();
  for (const [lineNo, line] of readLines(dataFile, 'utf8')) {
    const fields = line.split('\t');
    if (fields.length !== 4) throw new DatasetFormatError(dataFile, lineNo, `expected 4 tab-separated fields (user item rating timestamp), got ${fields.length}`);
    interactions.push(parseRating(fields, dataFile, lineNo, { user: 0, item: 1, rating: 2, ts: 3 }, intern));
  }
  const items = new Map<string, ItemMetadata>();
  const nFlags = ML100K_GENRES.length;
  // u.item is Latin-1 (accented titles); reading it as UTF-8 would mangle them.
  for (const [lineNo, line] of readLines(itemFile, 'latin1')) {
    const fields = line.split('|');
    if (fields.length !== 5 + nFlags) throw new DatasetFormatError(itemFile, lineNo, `expected ${5 + nFlags} |-separated fields, got ${fields.length}`);
    const id = fields[0]!.trim();
    if (!INTEGER_ID.test(id)) throw new DatasetFormatError(itemFile, lineNo, `item id must be a non-negative integer, got "${id}"`);
    const key = String(Number(id));
    if (items.has(key)) throw new DatasetFormatError(itemFile, lineNo, `item id ${id} appears twice`);
    const genres: string[] = [];
    for (let g = 0; g < nFlags; g++) {
      const flag = fields[5 + g]!.trim();
      if (flag !== '0' && flag !== '1') throw new DatasetFormatError(itemFile, lineNo, `genre flag ${g + 1} (${ML100K_GENRES[g]}) must be 0 or 1, got "${flag}"`);
      if (flag === '1') genres.push(ML100K_GENRES[g]!);
    }
    const title = fields[1]!;
    const year = yearFromTitle(title) ?? yearFromDate(fields[2]!);
    items.set(key, { genres, title, ...(year === undefined ? {} : { year }) });
  }
  return {
    name: path.basename(path.resolve(dir)).replace(/[^A-Za-z0-9._-]/g, '-') || 'movielens',
    source: `MovieLens u.data layout: ${dataFile}, ${itemFile}`,
    genres: [...ML100K_GENRES],
    interactions,
    items,
  };
}

/**
 * Loads a MovieLens directory in either layout ({@link detectMovieLensLayout}).
 * Items rated but missing from the movie file get no genres and no year.
 *
 * @throws DatasetFormatError naming the file and line of the first problem
 */
export function loadMovieLens(dir: string): Dataset & { layout: MovieLensLayout } {
  const layout = detectMovieLensLayout(dir);
  const ds = layout === 'csv' ? loadCsvLayout(dir) : loadUDataLayout(dir);
  if (ds.interactions.length === 0) {
    throw new DatasetFormatError(path.resolve(dir, layout === 'csv' ? 'ratings.csv' : 'u.data'), undefined, 'has no ratings');
  }
  return { ...ds, layout };
}
