/**
 * Sub-messages the gateway passes on unchanged keep their wire bytes.
 *
 * The gateway receives the candidate set from the candidate generator and the user's and
 * the candidates' feature batches from the feature store, and sends all three on to the
 * ranker inside one RankRequest. Decoded and encoded again, that is 300 item ids, 300
 * scores, sources and per-source scores, and the features, turned into JavaScript values
 * and back into bytes on every request (the gateway's largest allocation, see README
 * "Where the time goes"). The forwarding deserializers here keep, with each decoded
 * sub-message, the bytes it was decoded from, and {@link ForwardingRankRequest} writes
 * those bytes instead of encoding the sub-message again. A sub-message that did not come
 * off the wire (built in the gateway, the in-process pipeline) is encoded as usual.
 *
 * - A feature batch is decoded as the generated decoder does.
 * - A candidate set decodes what the gateway reads on every request (item ids, sources) at
 *   once; its scores, per-source scores and features only when first read (the gateway
 *   reads them only when ranking fails). Every byte of it is checked at once all the same:
 *   a set the generated decoder would fail on fails here, in the candidates stage, with
 *   the same consequences (see {@link ForwardedCandidateSet}).
 * - The bytes are right only while the decoded message is unchanged: forwarded messages,
 *   their arrays and their sub-messages are frozen (a candidate set's fields have no
 *   setters), so a change throws instead of forwarding stale bytes. Only `Uint8Array`
 *   fields (`packed_values`, `packed_features`) cannot be frozen.
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { type CandidateFeature, CandidateSet, FeatureBatch, type RetrievalSource, type SourceScores } from './gen/recsys/v1/common';
import { GenerateCandidatesResponse } from './gen/recsys/v1/candidate_generator';
import { GetOnlineFeaturesResponse, GetUserContextResponse } from './gen/recsys/v1/feature_store';
import type { RankRequest } from './gen/recsys/v1/ranker';

/** The wire bytes a forwarded sub-message was decoded from (non-enumerable, read-only). */
const WIRE = Symbol('recsys.wireBytes');

type Forwarded = { readonly [WIRE]?: Uint8Array };

/** The wire bytes `message` was decoded from by a forwarding deserializer, if it was. */
export function forwardedBytes(message: object): Uint8Array | undefined {
  return (message as Forwarded)[WIRE];
}

/** Where ts-proto's generated decoders stop reading a message: a zero tag or an end-group tag. */
function endsMessage(tag: number): boolean {
  return tag === 0 || (tag & 7) === WireType.EndGroup;
}

/** Byte range of the last occurrence of length-delimited field `field` in `bytes` (the occurrence ts-proto's decoder keeps). */
function lastFieldRange(bytes: Uint8Array, field: number): [number, number] | undefined {
  const reader = new BinaryReader(bytes);
  let range: [number, number] | undefined;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    // Where the generated decoder stops reading, so does this scan.
    if (endsMessage(tag)) break;
    if (tag >>> 3 === field && wireType === WireType.LengthDelimited) {
      const length = reader.uint32();
      range = [reader.pos, reader.pos + length];
      reader.pos += length;
    } else {
      reader.skip(wireType);
    }
  }
  return range;
}

/** Freezes a decoded message, its arrays and its sub-messages (typed arrays cannot be frozen). */
function freezeDeep(value: unknown): void {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return;
  if (Array.isArray(value)) {
    // Decoded repeated fields hold one kind: scalars (nothing inside to freeze) or messages.
    if (typeof value[0] === 'object') for (const v of value) freezeDeep(v);
  } else {
    for (const v of Object.values(value)) freezeDeep(v);
  }
  Object.freeze(value);
}

/** Gives `sub`, decoded from field `field` of `bytes`, that field's bytes, then freezes it. */
function remember(sub: object | undefined, bytes: Uint8Array, field: number): void {
  if (sub === undefined) return;
  const range = lastFieldRange(bytes, field);
  // The property goes on first: a frozen object takes none.
  if (range !== undefined) Object.defineProperty(sub, WIRE, { value: bytes.subarray(range[0], range[1]) });
  freezeDeep(sub);
}

/**
 * What a message's bytes must look like, checked without decoding them: for a field
 * number, `fixed32` (a float: wire type 5, or a packed run whose length is a multiple of
 * 4) or the shape of a sub-message; other fields may hold any well-formed value.
 */
interface Shape {
  readonly [field: number]: 'fixed32' | Shape;
}

const SOURCE_SCORES_SHAPE: Shape = { 2: 'fixed32' };
const CANDIDATE_FEATURE_SHAPE: Shape = { 2: 'fixed32' };

function malformed(what: string): Error {
  return new Error(`malformed candidate set: ${what}`);
}

/**
 * Checks the next field's value (after its tag) against `kind`; throws where the generated
 * decoder would (truncation, a wire type it cannot skip) and where its reading would run
 * past the value (a packed float run of a length not a multiple of 4, a sub-message whose
 * fields do not end at its end), so that a later generated decode of the same bytes
 * cannot fail.
 */
function checkField(reader: BinaryReader, wireType: number, kind: 'fixed32' | Shape | undefined): void {
  if (wireType === WireType.LengthDelimited && kind !== undefined) {
    const length = reader.uint32();
    const end = reader.pos + length;
    if (end > reader.len) throw malformed('a field runs past the end');
    if (kind === 'fixed32') {
      if (length % 4 !== 0) throw malformed(`a packed float field of ${length} bytes`);
      reader.pos = end;
      return;
    }
    while (reader.pos < end) {
      const tag = reader.uint32();
      if (endsMessage(tag)) throw malformed(`tag ${tag} in a sub-message`);
      checkField(reader, tag & 7, kind[tag >>> 3]);
    }
    if (reader.pos !== end) throw malformed('a sub-message whose fields run past its end');
    return;
  }
  reader.skip(wireType);
}

/**
 * A CandidateSet decoded from the wire for forwarding: `itemIds` and `sources` decoded at
 * once, the other fields on first read (by the generated decoder, then kept); frozen, with
 * no setters. {@link ForwardedCandidateSet.decode} checks every byte first.
 */
export class ForwardedCandidateSet implements CandidateSet {
  readonly itemIds: string[];
  readonly sources: RetrievalSource[];
  declare readonly [WIRE]: Uint8Array;
  #full: CandidateSet | undefined;

  private constructor(wire: Uint8Array, itemIds: string[], sources: RetrievalSource[]) {
    this.itemIds = Object.freeze(itemIds) as string[];
    this.sources = Object.freeze(sources) as RetrievalSource[];
    Object.defineProperty(this, WIRE, { value: wire });
    Object.freeze(this);
  }

  /**
   * Decodes a CandidateSet's bytes (viewed, not copied: they must not change): its item ids
   * and sources as the generated decoder reads them, every other field checked.
   *
   * @throws Error where the generated decoder would, and on a packed float field whose
   *   length is not a multiple of 4 or a sub-message whose fields run past its end
   */
  static decode(wire: Uint8Array): ForwardedCandidateSet {
    const reader = new BinaryReader(wire);
    const itemIds: string[] = [];
    const sources: RetrievalSource[] = [];
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (endsMessage(tag)) throw malformed(`tag ${tag}`);
      if (tag === 10) {
        itemIds.push(reader.string());
      } else if (field === 3 && wireType === WireType.Varint) {
        sources.push(reader.int32() as RetrievalSource);
      } else if (field === 3 && wireType === WireType.LengthDelimited) {
        const end = reader.uint32() + reader.pos;
        while (reader.pos < end) sources.push(reader.int32() as RetrievalSource);
      } else {
        checkField(reader, wireType, field === 2 ? 'fixed32' : field === 4 ? SOURCE_SCORES_SHAPE : field === 5 ? CANDIDATE_FEATURE_SHAPE : undefined);
      }
    }
    if (reader.pos !== reader.len) throw malformed('the last field runs past the end');
    return new ForwardedCandidateSet(wire, itemIds, sources);
  }

  get scores(): number[] {
    return this.full().scores;
  }

  get sourceScores(): SourceScores[] {
    return this.full().sourceScores;
  }

  get features(): CandidateFeature[] {
    return this.full().features;
  }

  get packedFeatures(): Buffer {
    return this.full().packedFeatures;
  }

  /** Every field as the generated decoder reads it, frozen; decoded once. */
  private full(): CandidateSet {
    if (this.#full === undefined) {
      const full = CandidateSet.decode(this[WIRE]);
      freezeDeep(full);
      this.#full = full;
    }
    return this.#full;
  }
}

/**
 * GenerateCandidatesResponse as the generated decoder reads it, its candidate set a
 * {@link ForwardedCandidateSet} (item ids and sources decoded, the rest on first read).
 */
export function decodeGenerateCandidatesResponseForwarding(bytes: Uint8Array): GenerateCandidatesResponse {
  const reader = new BinaryReader(bytes);
  const res: GenerateCandidatesResponse = { candidates: undefined, userKnown: false, artifactVersion: '' };
  // The generated decoder's fields and rules (GENERATE_CANDIDATES_RESPONSE_FIELDS; a test compares the two).
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === 10) res.candidates = ForwardedCandidateSet.decode(reader.bytes());
    else if (tag === 16) res.userKnown = reader.bool();
    else if (tag === 26) res.artifactVersion = reader.string();
    else if (endsMessage(tag)) break;
    else reader.skip(tag & 7);
  }
  return res;
}

/** The fields {@link decodeGenerateCandidatesResponseForwarding} reads (a test checks they are all the generated type has). */
export const GENERATE_CANDIDATES_RESPONSE_FIELDS = ['candidates', 'userKnown', 'artifactVersion'] as const;

/** GetOnlineFeaturesResponse as the generated decoder reads it; its feature batch keeps its bytes (field 1). */
export function decodeGetOnlineFeaturesResponseForwarding(bytes: Uint8Array): GetOnlineFeaturesResponse {
  const res = GetOnlineFeaturesResponse.decode(bytes);
  remember(res.features, bytes, 1);
  return res;
}

/** GetUserContextResponse as the generated decoder reads it; its user feature batch keeps its bytes (field 3). */
export function decodeGetUserContextResponseForwarding(bytes: Uint8Array): GetUserContextResponse {
  const res = GetUserContextResponse.decode(bytes);
  remember(res.userFeatures, bytes, 3);
  return res;
}

/** Writes `sub` as field `tag`: its remembered bytes when it has them, else `encode`d. */
function writeSub<T extends object>(writer: BinaryWriter, tag: number, sub: T, type: { encode(m: T, w: BinaryWriter): BinaryWriter }): void {
  const wire = (sub as Forwarded)[WIRE];
  if (wire !== undefined) writer.uint32(tag).bytes(wire);
  else type.encode(sub, writer.uint32(tag).fork()).join();
}

/**
 * RankRequest's encoder (the generated one's fields, tags and order) that writes forwarded
 * sub-messages as their remembered bytes: the same bytes the generated encoder writes for
 * a message the generated encoder produced (a test checks both).
 */
export const ForwardingRankRequest = {
  encode(message: RankRequest, writer: BinaryWriter = new BinaryWriter()): BinaryWriter {
    if (message.userId !== '') writer.uint32(10).string(message.userId);
    if (message.candidates !== undefined) writeSub(writer, 18, message.candidates, CandidateSet);
    if (message.userFeatures !== undefined) writeSub(writer, 26, message.userFeatures, FeatureBatch);
    if (message.itemFeatures !== undefined) writeSub(writer, 34, message.itemFeatures, FeatureBatch);
    if (message.topK !== 0) writer.uint32(40).int32(message.topK);
    if (message.variant !== '') writer.uint32(50).string(message.variant);
    return writer;
  },
};
