import { BinaryWriter } from '@bufbuild/protobuf/wire';
import {
  CandidateSet,
  FeatureBatch,
  ForwardedCandidateSet,
  ForwardingRankRequest,
  GENERATE_CANDIDATES_RESPONSE_FIELDS,
  GatewayStageMethods,
  GenerateCandidatesResponse,
  GetOnlineFeaturesResponse,
  GetUserContextResponse,
  RankRequest,
  RankerServiceService,
  RetrievalSource,
  decodeGenerateCandidatesResponseForwarding,
  decodeGetOnlineFeaturesResponseForwarding,
  decodeGetUserContextResponseForwarding,
  forwardedBytes,
  sharedWriterSerializer,
} from '@recsys/proto';

// The standard workload's sizes: 300 candidates from two sources, 16 item features each.
const n = 300;
const ids = Array.from({ length: n }, (_, i) => (i === 7 ? 'ünïcode-😀' : String(1000 + i * 37)));
const candidateSet = CandidateSet.fromPartial({
  itemIds: ids,
  scores: ids.map((_, i) => Math.fround(1 - i / 300)),
  sources: ids.map((_, i) => (i % 2 === 0 ? RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING : RetrievalSource.RETRIEVAL_SOURCE_COVISITATION)),
  sourceScores: [
    { source: RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING, scores: ids.map((_, i) => (i % 2 === 0 ? Math.fround(i / 7) : NaN)) },
    { source: RetrievalSource.RETRIEVAL_SOURCE_COVISITATION, scores: ids.map((_, i) => (i % 2 === 1 ? Math.fround(i / 9) : NaN)) },
  ],
  features: [{ name: 'als_rank' }, { name: 'i2i_last3' }],
  packedFeatures: Buffer.from(Float32Array.from({ length: 2 * n }, (_, i) => i / 3).buffer),
});
const block = Buffer.from(Float32Array.from({ length: n * 16 }, (_, i) => i / 7).buffer);
const itemBatch = FeatureBatch.fromPartial({
  featureView: 'item',
  entityCount: n,
  columns: Array.from({ length: 16 }, (_, i) => ({ name: `f${i}`, missingIndices: i === 3 ? [7, 9] : [] })),
  unknownEntityIndices: [5, 17],
  packedValues: block,
});
const userBatch = FeatureBatch.fromPartial({ featureView: 'user', entityCount: 1, columns: [{ name: 'age', values: [31] }] });

const cgBytes = GenerateCandidatesResponse.encode({ candidates: candidateSet, userKnown: true, artifactVersion: 'v-1' }).finish();
const fsBytes = GetOnlineFeaturesResponse.encode({ features: itemBatch, snapshotVersion: 'v-1', expiredEntityIndices: [3] }).finish();
const ctxBytes = GetUserContextResponse.encode(
  GetUserContextResponse.fromPartial({ seenItemIds: ['1', '2'], recentItemIds: ['2'], userFeatures: userBatch, userKnown: true, snapshotVersion: 'v-1' }),
).finish();

/** Every field of a CandidateSet (lazy ones read), as a plain object. */
function plain(c: CandidateSet): CandidateSet {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(CandidateSet.create())) out[key] = (c as unknown as Record<string, unknown>)[key];
  return out as unknown as CandidateSet;
}

describe('forwarding deserializers', () => {
  it('decode a candidates response as the generated decoder does, every field of the candidate set included', () => {
    const generated = GenerateCandidatesResponse.decode(cgBytes);
    const forwarded = decodeGenerateCandidatesResponseForwarding(cgBytes);
    expect(forwarded.candidates).toBeInstanceOf(ForwardedCandidateSet);
    expect({ ...forwarded, candidates: plain(forwarded.candidates!) }).toEqual(generated);
    // The hand-written top-level decoder knows every field the generated type has.
    expect([...GENERATE_CANDIDATES_RESPONSE_FIELDS].sort()).toEqual(Object.keys(GenerateCandidatesResponse.create()).sort());
    expect(Object.keys(forwarded).sort()).toEqual(Object.keys(GenerateCandidatesResponse.create()).sort());
  });

  it('read unpacked repeated fields and a repeated candidate set as the generated decoder does (the last set wins)', () => {
    const w = new BinaryWriter();
    const first = CandidateSet.encode(CandidateSet.fromPartial({ itemIds: ['x'], scores: [9] })).finish();
    w.uint32(10).bytes(first);
    // Second set: scores and sources unpacked (one tag per value), as older encoders write them.
    const set = new BinaryWriter();
    for (const id of ['a', 'b']) set.uint32(10).string(id);
    for (const s of [0.5, 0.25]) set.uint32(21).float(s);
    for (const s of [1, 2]) set.uint32(24).int32(s);
    set.uint32((99 << 3) | 2).string('an unknown field');
    w.uint32(10).bytes(set.finish());
    w.uint32(26).string('v-2');
    const bytes = w.finish();
    const forwarded = decodeGenerateCandidatesResponseForwarding(bytes);
    expect({ ...forwarded, candidates: plain(forwarded.candidates!) }).toEqual(GenerateCandidatesResponse.decode(bytes));
    expect(forwarded.candidates!.itemIds).toEqual(['a', 'b']);
  });

  it('decode feature store responses as the generated decoder does', () => {
    expect(decodeGetOnlineFeaturesResponseForwarding(fsBytes)).toEqual(GetOnlineFeaturesResponse.decode(fsBytes));
    expect(decodeGetUserContextResponseForwarding(ctxBytes)).toEqual(GetUserContextResponse.decode(ctxBytes));
  });

  it('keep each forwarded sub-message’s own bytes', () => {
    const fromCg = decodeGenerateCandidatesResponseForwarding(cgBytes).candidates!;
    expect(Buffer.from(forwardedBytes(fromCg)!).equals(Buffer.from(CandidateSet.encode(candidateSet).finish()))).toBe(true);
    const fromFs = decodeGetOnlineFeaturesResponseForwarding(fsBytes).features!;
    expect(Buffer.from(forwardedBytes(fromFs)!).equals(Buffer.from(FeatureBatch.encode(itemBatch).finish()))).toBe(true);
    const fromCtx = decodeGetUserContextResponseForwarding(ctxBytes).userFeatures!;
    expect(Buffer.from(forwardedBytes(fromCtx)!).equals(Buffer.from(FeatureBatch.encode(userBatch).finish()))).toBe(true);
    // Built, not received: nothing to forward.
    expect(forwardedBytes(candidateSet)).toBeUndefined();
  });

  it('freeze what they forward, so that a change throws instead of sending stale bytes', () => {
    const c = decodeGenerateCandidatesResponseForwarding(cgBytes).candidates!;
    expect(() => (c.itemIds as string[]).push('x')).toThrow(TypeError);
    expect(() => ((c as { itemIds: string[] }).itemIds = [])).toThrow(TypeError);
    expect(() => ((c as { scores: number[] }).scores = [])).toThrow(TypeError);
    expect(() => (c.scores[0] = 2)).toThrow(TypeError);
    expect(() => (c.sources[0] = 0)).toThrow(TypeError);
    expect(() => (c.sourceScores[0]!.scores[0] = 2)).toThrow(TypeError);
    expect(() => (c.features[0]!.name = 'y')).toThrow(TypeError);
    const f = decodeGetOnlineFeaturesResponseForwarding(fsBytes).features!;
    expect(() => f.columns.pop()).toThrow(TypeError);
    expect(() => (f.entityCount = 1)).toThrow(TypeError);
    expect(() => (f.columns[3]!.missingIndices[0] = 1)).toThrow(TypeError);
  });

  it('are the gateway’s stage deserializers', () => {
    expect(GatewayStageMethods.generateCandidates.responseDeserialize).toBe(decodeGenerateCandidatesResponseForwarding);
    expect(GatewayStageMethods.getOnlineFeatures.responseDeserialize).toBe(decodeGetOnlineFeaturesResponseForwarding);
    expect(GatewayStageMethods.getUserContext.responseDeserialize).toBe(decodeGetUserContextResponseForwarding);
  });
});

describe('a malformed candidate set', () => {
  const setBytes = CandidateSet.encode(candidateSet).finish();
  /** Decodes `bytes` both ways: whether each threw, and the forwarded set with every field read. */
  function both(bytes: Uint8Array): { generated: boolean; forwarded: boolean } {
    let generated = false;
    try {
      CandidateSet.decode(bytes);
    } catch {
      generated = true;
    }
    let set: ForwardedCandidateSet | undefined;
    try {
      set = ForwardedCandidateSet.decode(bytes);
    } catch {
      return { generated, forwarded: true };
    }
    // Accepted at once: reading the rest later must not fail, and must equal the generated decode.
    expect(plain(set)).toEqual(CandidateSet.decode(bytes));
    return { generated, forwarded: false };
  }

  it('fails in the forwarding decoder wherever the generated decoder fails (every truncation)', () => {
    let rejected = 0;
    for (let len = 0; len < setBytes.length; len += len < 64 ? 1 : 97) {
      const r = both(setBytes.subarray(0, len));
      if (r.generated) expect(r.forwarded).toBe(true);
      if (r.forwarded) rejected++;
    }
    expect(rejected).toBeGreaterThan(10);
  });

  it('fails in the forwarding decoder wherever the generated decoder fails (random corruptions), and only then reads later', () => {
    let seed = 12345;
    const rand = (m: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % m;
    };
    let rejected = 0;
    for (let t = 0; t < 150; t++) {
      const bytes = Uint8Array.from(setBytes);
      for (let k = 0; k < 3; k++) bytes[rand(bytes.length)] = rand(256);
      const r = both(bytes);
      if (r.generated) expect(r.forwarded).toBe(true);
      if (r.forwarded) rejected++;
    }
    expect(rejected).toBeGreaterThan(0);
  });

  it('with a packed float run of a length not a multiple of 4 is refused', () => {
    const w = new BinaryWriter();
    w.uint32(10).string('a');
    w.uint32(18).bytes(Uint8Array.of(0, 0, 128, 63, 0, 0));
    expect(() => ForwardedCandidateSet.decode(w.finish())).toThrow(/packed float field of 6 bytes/);
  });

  it('whose per-source scores run past their own end is refused', () => {
    // A SourceScores of 2 bytes whose one field takes 6: the rest of the set would be read out of step.
    const bytes = Uint8Array.of(10, 1, 97, 34, 2, 18, 4, 0, 0, 128, 63);
    expect(() => ForwardedCandidateSet.decode(bytes)).toThrow(/run past its end/);
  });
});

describe('ForwardingRankRequest', () => {
  const serialize = sharedWriterSerializer(ForwardingRankRequest);
  it('writes the generated encoder’s bytes, forwarded sub-messages as they came', () => {
    const cg = decodeGenerateCandidatesResponseForwarding(cgBytes);
    const fs = decodeGetOnlineFeaturesResponseForwarding(fsBytes);
    const ctx = decodeGetUserContextResponseForwarding(ctxBytes);
    const forwarded: RankRequest = { userId: 'u-1', candidates: cg.candidates, userFeatures: ctx.userFeatures, itemFeatures: fs.features, topK: 20, variant: 'b' };
    const generated: RankRequest = {
      ...forwarded,
      candidates: GenerateCandidatesResponse.decode(cgBytes).candidates,
      userFeatures: GetUserContextResponse.decode(ctxBytes).userFeatures,
      itemFeatures: GetOnlineFeaturesResponse.decode(fsBytes).features,
    };
    const expected = RankerServiceService.rank.requestSerialize(generated);
    expect(serialize(forwarded).equals(expected)).toBe(true);
    expect(RankRequest.decode(serialize(forwarded))).toEqual(RankRequest.decode(expected));
  });

  it('encodes sub-messages built in the process as the generated encoder does', () => {
    const built: RankRequest = { userId: '', candidates: candidateSet, userFeatures: undefined, itemFeatures: itemBatch, topK: 0, variant: '' };
    expect(serialize(built).equals(RankerServiceService.rank.requestSerialize(built))).toBe(true);
  });
});
