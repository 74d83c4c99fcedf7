/**
 * Reads `metadata_props` out of a serialized ONNX model without an ONNX runtime or a
 * protobuf library: a few lines of protobuf wire-format walking over `ModelProto`.
 * The ranker uses it to compare the model's feature spec with the manifest's.
 */
import type { RankerFeature } from './artifact-types';
import { FEATURE_SPEC_METADATA_KEY, parseRankerSpec } from './feature-spec';

/** `ModelProto.metadata_props` field number (repeated StringStringEntryProto). */
const MODEL_METADATA_PROPS = 14;

class Reader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }

  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw new Error('length-delimited field runs past the end');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.bytes();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.buf.length) throw new Error('fixed-width field runs past the end');
  }
}

/**
 * The `metadata_props` of a serialized ONNX `ModelProto`, key → value.
 *
 * @throws Error when the bytes are not a parseable protobuf message
 */
export function readOnnxMetadata(model: Uint8Array): Map<string, string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const out = new Map<string, string>();
  const r = new Reader(model);
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === MODEL_METADATA_PROPS && wireType === 2) {
      const entry = new Reader(r.bytes());
      let key = '';
      let value = '';
      while (!entry.done) {
        const t = entry.varint();
        const f = Math.floor(t / 8);
        if (f === 1 && t % 8 === 2) key = decoder.decode(entry.bytes());
        else if (f === 2 && t % 8 === 2) value = decoder.decode(entry.bytes());
        else entry.skip(t % 8);
      }
      out.set(key, value);
    } else {
      r.skip(wireType);
    }
  }
  return out;
}

/**
 * The ranker feature spec stored in an ONNX model's metadata
 * (`recsys.feature_spec`), or `undefined` when the model carries none.
 *
 * @throws Error when the model cannot be parsed; FeatureSpecError when the stored spec is malformed
 */
export function readOnnxFeatureSpec(model: Uint8Array): RankerFeature[] | undefined {
  const json = readOnnxMetadata(model).get(FEATURE_SPEC_METADATA_KEY);
  return json === undefined ? undefined : parseRankerSpec(json);
}
