import { InvalidArgumentError } from './errors';

/** Longest id (in UTF-8 bytes) the mesh accepts for users and items. */
const MAX_ID_BYTES = 128;

/** Throws InvalidArgumentError naming `field` unless `id` is 1..MAX_ID_BYTES bytes. */
export function checkId(field: string, id: string): void {
  if (id.length === 0) throw new InvalidArgumentError(field, 'must not be empty');
  if (id.length > MAX_ID_BYTES || Buffer.byteLength(id, 'utf8') > MAX_ID_BYTES) {
    throw new InvalidArgumentError(field, `must be at most ${MAX_ID_BYTES} bytes, got ${Buffer.byteLength(id, 'utf8')}`);
  }
}

/** Checks a list of ids: at most `max` entries, each a valid id; names the bad index. */
export function checkIdList(field: string, ids: readonly string[], max: number): void {
  if (ids.length > max) throw new InvalidArgumentError(field, `at most ${max} entries allowed, got ${ids.length}`);
  for (let i = 0; i < ids.length; i++) checkId(`${field}[${i}]`, ids[i] as string);
}
