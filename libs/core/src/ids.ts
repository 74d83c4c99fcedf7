import { InvalidArgumentError } from './errors';

/** Longest id (in UTF-8 bytes) the mesh accepts for users and items. */
export const MAX_ID_BYTES = 128;

/** Longest prefix of a caller's value an error message quotes. */
export const QUOTE_PREFIX_CHARS = 40;

/**
 * A caller's value for an error message: JSON-quoted, at most {@link QUOTE_PREFIX_CHARS}
 * characters of it, with its full size when cut (`"xxxx…" (100000 bytes)`), so a hostile
 * value is never echoed back whole (as `grpc-message` or in a log line).
 */
export function quotePrefix(value: string, max = QUOTE_PREFIX_CHARS): string {
  if (value.length <= max) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, max))}… (${Buffer.byteLength(value, 'utf8')} bytes)`;
}

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
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as string;
    // The common case without building the field name (`entity_ids[17]`) for every entry:
    // an id of at most MAX_ID_BYTES / 3 UTF-16 units cannot exceed MAX_ID_BYTES in UTF-8.
    if (id.length === 0 || (id.length > MAX_ID_BYTES / 3 && (id.length > MAX_ID_BYTES || Buffer.byteLength(id, 'utf8') > MAX_ID_BYTES))) {
      checkId(`${field}[${i}]`, id);
    }
  }
}

/** Throws InvalidArgumentError naming the first repeated entry of `values` (`feature_names[3]`). */
export function checkNoDuplicates(field: string, values: readonly string[]): void {
  const seen = new Map<string, number>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as string;
    const first = seen.get(v);
    if (first !== undefined) throw new InvalidArgumentError(`${field}[${i}]`, `repeats ${field}[${first}] (${quotePrefix(v)}); each entry may appear once`);
    seen.set(v, i);
  }
}

/**
 * Throws InvalidArgumentError naming the first NaN or infinite entry of `values` (with
 * `allowNaN`, only an infinite one). `field` may be a function: the name is then built only
 * for a bad value.
 */
export function checkFinite(field: string | (() => string), values: ArrayLike<number>, allowNaN = false): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v) && !(allowNaN && Number.isNaN(v))) {
      throw new InvalidArgumentError(`${typeof field === 'function' ? field() : field}[${i}]`, `must be a finite number${allowNaN ? ' (or NaN for "not retrieved by this source")' : ''}, got ${v}`);
    }
  }
}
