import { float32LEBytes, readFloat32LE, readInt32LE, writeFloat32LE, writeInt32LE } from '@recsys/core';

describe('float32/int32 little-endian helpers', () => {
  const values = [1.5, -2, NaN, Infinity, 3.4028234663852886e38, 1.401298464324817e-45];

  it('write the same bytes as Buffer.writeFloatLE, from a Float32Array (a view) or any array (a copy)', () => {
    const expected = Buffer.alloc(4 * values.length);
    values.forEach((v, i) => expected.writeFloatLE(v, 4 * i));
    const f32 = Float32Array.from(values);
    const view = float32LEBytes(f32);
    expect(view.equals(expected)).toBe(true);
    expect(view.buffer).toBe(f32.buffer); // no copy on this (little-endian) host
    expect(float32LEBytes(values).equals(expected)).toBe(true);
    const target = Buffer.alloc(4 + expected.length);
    expect(writeFloat32LE(target, values, 4)).toBe(target.length);
    expect(target.subarray(4).equals(expected)).toBe(true);
  });

  it('read into a new aligned array from any byte offset, without aliasing the source', () => {
    const bytes = Buffer.concat([Buffer.from([1, 2, 3]), float32LEBytes(values)]);
    const out = readFloat32LE(bytes, 3, values.length);
    expect(Array.from(out)).toEqual(Array.from(Float32Array.from(values)));
    expect(out.byteOffset).toBe(0);
    bytes.fill(0);
    expect(out[0]).toBe(1.5);
    // Default count: everything after the offset.
    expect(readFloat32LE(float32LEBytes(values)).length).toBe(values.length);
  });

  it('round-trip int32 values, negative ones included', () => {
    const ints = [0, -1, 2147483647, -2147483648, 42];
    const buf = Buffer.alloc(4 * ints.length);
    writeInt32LE(buf, ints);
    expect(Array.from({ length: ints.length }, (_, i) => buf.readInt32LE(4 * i))).toEqual(ints);
    expect(Array.from(readInt32LE(buf))).toEqual(ints);
  });

  it('refuse to read or write past the end instead of truncating', () => {
    expect(() => readFloat32LE(Buffer.alloc(8), 4, 2)).toThrow(/cannot read 2 4-byte values at offset 4 of 8 bytes/);
    expect(() => readInt32LE(Buffer.alloc(8), -4, 1)).toThrow(RangeError);
    expect(() => writeFloat32LE(Buffer.alloc(7), [1, 2])).toThrow(/cannot write 2 float32 values at offset 0 of 7 bytes/);
    expect(() => writeInt32LE(Buffer.alloc(4), [1], 2)).toThrow(RangeError);
  });
});
