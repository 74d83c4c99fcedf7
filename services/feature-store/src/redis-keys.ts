import { readFloat32LE, writeFloat32LE } from '@recsys/core';
import type { ViewName } from './registry';

/**
 * Redis key layout, the same for a single node and Redis Cluster. A snapshot version lives
 * under its own namespace; the live version is named by one pointer key, switched
 * atomically after a full load. Keys carry a hash tag (`{…}`) so that every multi-key
 * command touches one slot: entity keys are spread over `buckets` tags per view (one MGET
 * per bucket), and every real-time key of a user shares the user's tag (one script per user).
 *
 * | key                                       | value                                                   |
 * |-------------------------------------------|---------------------------------------------------------|
 * | `<prefix>:current`                        | live snapshot version                                   |
 * | `<prefix>:versions`                       | hash version → JSON `{state, since}` (loading/live/retired) |
 * | `<prefix>:{<version>}:meta`               | JSON {@link SnapshotMeta}                               |
 * | `<prefix>:{<version>:user:<b>}:<id>`      | user entity: written-at (uint32 s) + float32 LE values  |
 * | `<prefix>:{<version>:item:<b>}:<id>`      | item entity, same encoding                              |
 * | `<prefix>:{<version>:hist:<b>}:<id>`      | batch history, seen item ids newest first, `\n`-joined  |
 * | `<prefix>:{<version>:<view>:<b>}#marker`  | the version: read in the same MGET as every batch, so a snapshot gone (Redis restarted empty, keys evicted) is noticed, never served as unknown entities |
 * | `<prefix>:materialize:lease`              | `<fence>:<run id>` of the materialize run holding the lease (PX expiry, renewed) |
 * | `<prefix>:materialize:fence`              | fencing counter, INCR per lease taken                   |
 * | `<prefix>:rt:{<user>}:recent`             | list of recent event items, newest first, bounded       |
 * | `<prefix>:rt:{<user>}:seen`               | sorted set item → expiry (unix ms)                      |
 * | `<prefix>:rt:{<user>}:last`               | latest event time (unix ms)                             |
 * | `<prefix>:rt:{<user>}:events`             | sorted set `<type>\n<event id>` → event time (unix ms)  |
 * | `<prefix>:rt:{<user>}:dedup`              | sorted set event id → time applied (unix ms)            |
 *
 * `<b>` is {@link bucketOf}(id) modulo the snapshot's bucket count.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  current(): string {
    return `${this.prefix}:current`;
  }

  versions(): string {
    return `${this.prefix}:versions`;
  }

  meta(version: string): string {
    return `${this.prefix}:{${version}}:meta`;
  }

  /** SCAN pattern matching every key of one snapshot version. */
  versionPattern(version: string): string {
    return `${globEscape(`${this.prefix}:{${version}`)}*`;
  }

  /** Marker of one bucket of a view: cannot collide with an entity key (those have `}:` after the tag). */
  marker(version: string, view: ViewName, bucket: number): string {
    return `${this.prefix}:{${version}:${view}:${bucket}}#marker`;
  }

  lease(): string {
    return `${this.prefix}:materialize:lease`;
  }

  fence(): string {
    return `${this.prefix}:materialize:fence`;
  }

  entity(version: string, view: ViewName, id: string, buckets: number): string {
    return `${this.prefix}:{${version}:${view}:${bucketOf(id, buckets)}}:${id}`;
  }

  /** The {@link entity} key prefixes of one version and view, one per bucket, as strings and UTF-8 bytes (cached: the last one asked for). */
  private prefixes: { version: string; view: ViewName; buckets: number; list: string[]; bytes: Buffer[] } | undefined;

  private entityPrefixes(version: string, view: ViewName, buckets: number): { list: string[]; bytes: Buffer[] } {
    let p = this.prefixes;
    if (!p || p.version !== version || p.view !== view || p.buckets !== buckets) {
      const list = Array.from({ length: buckets }, (_, b) => `${this.prefix}:{${version}:${view}:${b}}:`);
      p = { version, view, buckets, list, bytes: list.map((s) => Buffer.from(s)) };
      this.prefixes = p;
    }
    return p;
  }

  /** The {@link entity} key prefix of each bucket as UTF-8 bytes (for {@link EntityMget}). */
  entityPrefixBytes(version: string, view: ViewName, buckets: number): readonly Buffer[] {
    return this.entityPrefixes(version, view, buckets).bytes;
  }

  /** {@link entity} keys of many ids, sharing one prefix string per bucket; each id's bucket also into `bucketsOut` when given. */
  entities(version: string, view: ViewName, ids: readonly string[], buckets: number, bucketsOut?: Int32Array): string[] {
    const p = this.entityPrefixes(version, view, buckets);
    const out = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as string;
      const b = bucketOf(id, buckets);
      if (bucketsOut !== undefined) bucketsOut[i] = b;
      out[i] = p.list[b] + id;
    }
    return out;
  }

  history(version: string, userId: string, buckets: number): string {
    return `${this.prefix}:{${version}:hist:${bucketOf(userId, buckets)}}:${userId}`;
  }

  /** The real-time keys of one user, all in the user's slot (KEYS order of the ingest script). */
  realtime(userId: string): { recent: string; seen: string; last: string; events: string; dedup: string } {
    const base = `${this.prefix}:rt:{${userId}}`;
    return { recent: `${base}:recent`, seen: `${base}:seen`, last: `${base}:last`, events: `${base}:events`, dedup: `${base}:dedup` };
  }
}

/** FNV-1a over the id's UTF-16 code units, modulo `buckets`: which hash tag an entity key gets. */
export function bucketOf(id: string, buckets: number): number {
  if (buckets === 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h % buckets;
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Bytes before the values in an encoded entity: the write time, uint32 seconds. */
export const ENTITY_HEADER_BYTES = 4;
const HEADER_BYTES = ENTITY_HEADER_BYTES;

/** Encodes an entity: write time (unix seconds, uint32 LE) then float32 LE values. */
export function encodeEntity(values: ArrayLike<number>, writtenAtSec: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + values.length * 4);
  buf.writeUInt32LE(writtenAtSec >>> 0, 0);
  writeFloat32LE(buf, values, HEADER_BYTES);
  return buf;
}

/** Decodes {@link encodeEntity}'s bytes; `width` guards against a foreign value. */
export function decodeEntity(buf: Buffer, width: number, key: string): { values: Float32Array; writtenAtSec: number } {
  if (buf.length !== HEADER_BYTES + width * 4) {
    throw new Error(`Redis value of ${key} has ${buf.length} bytes, expected ${HEADER_BYTES + width * 4}`);
  }
  return { values: readFloat32LE(buf, HEADER_BYTES, width), writtenAtSec: buf.readUInt32LE(0) };
}
