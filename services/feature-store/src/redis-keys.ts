import type { ViewName } from './registry';

/**
 * Redis key layout. A snapshot version lives under its own namespace; the live version
 * is named by one pointer key, switched atomically after a full load:
 *
 * | key                               | value                                                 |
 * |-----------------------------------|-------------------------------------------------------|
 * | `<prefix>:current`                | live snapshot version                                 |
 * | `<prefix>:<version>:meta`         | JSON `{version, feature_views, complete}`             |
 * | `<prefix>:<version>:user:<id>`    | user feature vector, float32 little-endian            |
 * | `<prefix>:<version>:item:<id>`    | item feature vector, float32 little-endian            |
 * | `<prefix>:<version>:hist:<id>`    | the user's seen item ids, newest first, `\n`-joined   |
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  current(): string {
    return `${this.prefix}:current`;
  }

  meta(version: string): string {
    return `${this.prefix}:${version}:meta`;
  }

  entity(version: string, view: ViewName, id: string): string {
    return `${this.prefix}:${version}:${view}:${id}`;
  }

  history(version: string, userId: string): string {
    return `${this.prefix}:${version}:hist:${userId}`;
  }
}

/** Encodes a vector as float32 little-endian bytes. */
export function encodeVector(values: ArrayLike<number>): Buffer {
  const buf = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) buf.writeFloatLE(values[i] as number, i * 4);
  return buf;
}

/** Decodes float32 little-endian bytes; `width` guards against a foreign value. */
export function decodeVector(buf: Buffer, width: number, key: string): Float32Array {
  if (buf.length !== width * 4) throw new Error(`Redis value of ${key} has ${buf.length} bytes, expected ${width * 4}`);
  const out = new Float32Array(width);
  for (let i = 0; i < width; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}
