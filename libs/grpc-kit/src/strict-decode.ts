/**
 * Request decoding that refuses invalid UTF-8 in string fields.
 *
 * protobuf's `string` must be valid UTF-8, but the decoders in grpc-js's world (protobufjs,
 * @bufbuild/protobuf's default reader) replace bad sequences with U+FFFD, so two distinct
 * ids (`f\xFFa`, `f\xFEa`) arrive as the same string and collide (two events with one id,
 * two users merged). The check has to be made on the raw bytes: U+FFFD itself is a valid
 * character a caller may send on purpose, so refusing it would refuse valid text while
 * still not telling the caller what was wrong. The reader below decodes every string with
 * a fatal decoder; a bad one becomes a sentinel, and the request is refused naming the
 * field that held it (`events[3].user_id: not valid UTF-8`).
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { InvalidArgumentError } from '@recsys/core';

const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Stands for an invalid string while decoding; never a valid decoded value (a lone surrogate). */
const INVALID = '\ud800invalid-utf8\ud800';

function strictUtf8(bytes: Uint8Array): string {
  try {
    return fatal.decode(bytes);
  } catch {
    return INVALID;
  }
}

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Path of the first field holding the sentinel, in the proto's snake_case (`events[3].user_id`). */
function findInvalid(value: unknown, path: string, depth = 0): string | undefined {
  if (value === INVALID) return path;
  if (depth > 64 || value === null || typeof value !== 'object' || value instanceof Uint8Array) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = findInvalid(value[i], `${path}[${i}]`, depth + 1);
      if (p) return p;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(value)) {
    const p = findInvalid(v, path ? `${path}.${snake(k)}` : snake(k), depth + 1);
    if (p) return p;
  }
  return undefined;
}

let sawInvalid = false;
function trackingUtf8(bytes: Uint8Array): string {
  const s = strictUtf8(bytes);
  if (s === INVALID) sawInvalid = true;
  return s;
}

/**
 * Decodes `bytes` with a ts-proto `requestDeserialize` (which hands a BinaryReader given to
 * it straight to `X.decode`), with every string checked as strict UTF-8.
 *
 * @throws InvalidArgumentError naming the field whose bytes are not valid UTF-8
 * @throws whatever the decoder throws for bytes that are not the message at all
 */
export function decodeStrict<T>(decode: (b: Buffer) => T, bytes: Buffer): T {
  sawInvalid = false;
  const msg = decode(new BinaryReader(bytes, trackingUtf8) as unknown as Buffer);
  if (sawInvalid) {
    sawInvalid = false;
    const field = findInvalid(msg, '') ?? 'request';
    throw new InvalidArgumentError(field, 'is not valid UTF-8 (protobuf strings must be UTF-8)');
  }
  return msg;
}
