/**
 * float32 (and int32) little-endian bytes, the one layout every binary format of the mesh
 * uses: artifact matrices and neighbour lists, Redis entity values, the packed feature
 * batch on the wire. On little-endian hosts (every supported one) reads are one bulk copy
 * into an aligned array and writes of a Float32Array are a view; big-endian hosts take the
 * per-value path, so the bytes are the same everywhere.
 */
import { endianness } from 'node:os';

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

function checkRange(bytes: Uint8Array, byteOffset: number, count: number): void {
  if (!Number.isInteger(byteOffset) || !Number.isInteger(count) || byteOffset < 0 || count < 0 || byteOffset + 4 * count > bytes.byteLength) {
    throw new RangeError(`cannot read ${count} 4-byte values at offset ${byteOffset} of ${bytes.byteLength} bytes`);
  }
}

function read<T extends Float32Array | Int32Array>(make: (n: number) => T, get: (v: DataView, at: number) => number, bytes: Uint8Array, byteOffset: number, count: number): T {
  checkRange(bytes, byteOffset, count);
  const out = make(count);
  if (LITTLE_ENDIAN_HOST) {
    // One copy: a Buffer's offset in its pool need not be a multiple of 4, so no view.
    new Uint8Array(out.buffer).set(bytes.subarray(byteOffset, byteOffset + 4 * count));
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) out[i] = get(view, byteOffset + 4 * i);
  }
  return out;
}

/**
 * Reads `count` float32 little-endian values starting at `byteOffset` (default: all the
 * rest) into a new, aligned Float32Array.
 *
 * @throws RangeError when the bytes do not hold that many values
 */
export function readFloat32LE(bytes: Uint8Array, byteOffset = 0, count = Math.floor((bytes.byteLength - byteOffset) / 4)): Float32Array {
  return read((n) => new Float32Array(n), (v, at) => v.getFloat32(at, true), bytes, byteOffset, count);
}

/** As {@link readFloat32LE}, for int32 little-endian values. */
export function readInt32LE(bytes: Uint8Array, byteOffset = 0, count = Math.floor((bytes.byteLength - byteOffset) / 4)): Int32Array {
  return read((n) => new Int32Array(n), (v, at) => v.getInt32(at, true), bytes, byteOffset, count);
}

/**
 * Writes `values` as float32 little-endian into `target` at `byteOffset`; returns the
 * offset after the last value.
 *
 * @throws RangeError when `target` is too short
 */
export function writeFloat32LE(target: Uint8Array, values: ArrayLike<number>, byteOffset = 0): number {
  const end = byteOffset + 4 * values.length;
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || end > target.byteLength) {
    throw new RangeError(`cannot write ${values.length} float32 values at offset ${byteOffset} of ${target.byteLength} bytes`);
  }
  if (LITTLE_ENDIAN_HOST && values instanceof Float32Array) {
    target.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), byteOffset);
  } else {
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
    for (let i = 0; i < values.length; i++) view.setFloat32(byteOffset + 4 * i, values[i] as number, true);
  }
  return end;
}

/** Writes int32 values little-endian into `target` at `byteOffset`; returns the offset after them. */
export function writeInt32LE(target: Uint8Array, values: ArrayLike<number>, byteOffset = 0): number {
  const end = byteOffset + 4 * values.length;
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || end > target.byteLength) {
    throw new RangeError(`cannot write ${values.length} int32 values at offset ${byteOffset} of ${target.byteLength} bytes`);
  }
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  for (let i = 0; i < values.length; i++) view.setInt32(byteOffset + 4 * i, values[i] as number, true);
  return end;
}

/**
 * The float32 little-endian bytes of `values`: a view without a copy for a Float32Array on
 * a little-endian host (it shares the array's memory), a new buffer otherwise.
 */
export function float32LEBytes(values: Float32Array | ArrayLike<number>): Buffer {
  if (LITTLE_ENDIAN_HOST && values instanceof Float32Array) return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const out = Buffer.allocUnsafe(4 * values.length);
  writeFloat32LE(out, values);
  return out;
}
