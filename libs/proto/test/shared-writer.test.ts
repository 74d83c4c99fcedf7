import {
  CandidateGeneratorService,
  CandidateGeneratorServiceService,
  FeatureStoreService,
  FeatureStoreServiceService,
  GatewayService,
  GatewayServiceService,
  GenerateCandidatesResponse,
  GetOnlineFeaturesResponse,
  RETAINED_WRITER_BYTES,
  RankRequest,
  RankerService,
  RankerServiceService,
  RecommendResponse,
  sharedWriterFramedSerializer,
  sharedWriterSerializer,
} from '@recsys/proto';
import * as messages from '@recsys/proto';

// A request the size of the standard workload's: 300 candidates, 16 item features each.
const ids = Array.from({ length: 300 }, (_, i) => String(1000 + i * 37));
const block = Buffer.from(Float32Array.from({ length: 300 * 16 }, (_, i) => i / 7).buffer);
const batch = (entityCount: number, packed: Buffer) => ({
  featureView: 'item',
  entityCount,
  columns: Array.from({ length: 16 }, (_, i) => ({ name: `f${i}`, values: [], missingIndices: i === 3 ? [7, 9] : [] })),
  unknownEntityIndices: [5],
  packedValues: packed,
});
const rankRequest = RankRequest.fromPartial({
  userId: 'ünïcode-user-😀',
  candidates: { itemIds: ids, scores: ids.map((_, i) => 1 - i / 300), sources: ids.map((_, i) => i % 3), packedFeatures: Buffer.alloc(0) },
  userFeatures: batch(1, block.subarray(0, 64)),
  itemFeatures: batch(300, block),
  topK: 20,
});

const pairs = [
  ['CandidateGeneratorService', CandidateGeneratorService, CandidateGeneratorServiceService],
  ['FeatureStoreService', FeatureStoreService, FeatureStoreServiceService],
  ['RankerService', RankerService, RankerServiceService],
  ['GatewayService', GatewayService, GatewayServiceService],
] as const;

type Definition = Record<string, { path: string; requestSerialize(v: unknown): Buffer; responseSerialize(v: unknown): Buffer; requestDeserialize(b: Buffer): unknown; responseDeserialize(b: Buffer): unknown }>;
type Encoder = { encode: (...args: unknown[]) => unknown; fromPartial: (o: object) => unknown };
const encoders = (Object.entries(messages) as [string, unknown][])
  .filter(([, v]) => typeof v === 'object' && v !== null && typeof (v as Partial<Encoder>).encode === 'function' && typeof (v as Partial<Encoder>).fromPartial === 'function')
  .map(([name, v]) => [name, v as Encoder] as const)
  // Hand-written encoders of generated types, under the type they encode (forwarding.ts).
  .concat([['RankRequest', messages.ForwardingRankRequest as unknown as Encoder]]);

/** The message types whose `encode` the generated serializer `serialize` calls first. */
function typeEncodedBy(serialize: (v: unknown) => Buffer, probe: unknown): string[] {
  const spies = encoders.map(([name, type]) => [name, jest.spyOn(type, 'encode')] as const);
  try {
    try {
      serialize(probe);
    } catch {
      // {} lacks the defaults an encoder reads; the spy has recorded the call either way.
    }
    return spies.filter(([, s]) => s.mock.calls.length > 0 && s.mock.calls[0]![0] === probe).map(([name]) => name);
  } finally {
    for (const [, s] of spies) s.mockRestore();
  }
}

describe('the shared-writer service definitions', () => {
  it.each(pairs)('%s has every generated method, with the same paths and deserializers', (_name, shared, generated) => {
    const s = shared as unknown as Definition;
    const g = generated as unknown as Definition;
    expect(Object.keys(s).sort()).toEqual(Object.keys(g).sort());
    for (const key of Object.keys(g)) {
      expect(s[key]!.path).toBe(g[key]!.path);
      expect(s[key]!.requestDeserialize).toBe(g[key]!.requestDeserialize);
      expect(s[key]!.responseDeserialize).toBe(g[key]!.responseDeserialize);
    }
  });

  it.each(pairs)('%s encodes each method with the message types its generated serializers encode', (_name, shared, generated) => {
    const s = shared as unknown as Definition;
    const g = generated as unknown as Definition;
    for (const key of Object.keys(g)) {
      for (const side of ['requestSerialize', 'responseSerialize'] as const) {
        // The probe is a bare object: the spies tell which type each side hands it to first.
        const probe = {};
        const byGenerated = typeEncodedBy(g[key]![side], probe);
        expect(typeEncodedBy(s[key]![side], probe)).toEqual(byGenerated);
        expect(byGenerated).toHaveLength(1);
      }
    }
  });
});

describe('shared-writer serializers', () => {
  it('write the generated serializer’s bytes for full-size messages of the mesh', () => {
    const rank = RankerServiceService.rank.requestSerialize(rankRequest);
    expect(RankerService.rank.requestSerialize(rankRequest).equals(rank)).toBe(true);
    const features = GetOnlineFeaturesResponse.fromPartial({ features: batch(300, block), snapshotVersion: 'v-1', expiredEntityIndices: [4, 250] });
    expect(FeatureStoreService.getOnlineFeatures.responseSerialize(features).equals(FeatureStoreServiceService.getOnlineFeatures.responseSerialize(features))).toBe(true);
    const candidates = GenerateCandidatesResponse.fromPartial({ candidates: rankRequest.candidates, artifactVersion: 'v-1' });
    expect(CandidateGeneratorService.generateCandidates.responseSerialize(candidates).equals(CandidateGeneratorServiceService.generateCandidates.responseSerialize(candidates))).toBe(true);
    const rec = RecommendResponse.fromPartial({ items: ids.slice(0, 20).map((itemId, i) => ({ itemId, score: i / 3, source: 1 })), modelVersion: 'm', degradedStages: [{ stage: 2, reason: 'ranker unavailable' }] });
    expect(GatewayService.recommend.responseSerialize(rec).equals(GatewayServiceService.recommend.responseSerialize(rec))).toBe(true);
  });

  it('never hand out the writer’s own buffer: an earlier result survives later encodes', () => {
    const first = RankerService.rank.requestSerialize(rankRequest);
    const copy = Buffer.from(first);
    RankerService.rank.requestSerialize(RankRequest.fromPartial({ userId: 'x'.repeat(first.length), topK: 3 }));
    RankerService.rank.requestSerialize(RankRequest.fromPartial({ userId: 'short' }));
    expect(first.equals(copy)).toBe(true);
    expect(first.buffer.byteLength).toBe(first.length);
  });

  it('frame a request behind gRPC’s prefix: flag 0 and the big-endian length', () => {
    const plain = RankerServiceService.rank.requestSerialize(rankRequest);
    const framed = RankerService.rank.requestSerializeFramed(rankRequest);
    expect(framed.length).toBe(plain.length + 5);
    expect(framed[0]).toBe(0);
    expect(framed.readUInt32BE(1)).toBe(plain.length);
    expect(framed.subarray(5).equals(plain)).toBe(true);
    // An empty message is the prefix alone.
    expect([...sharedWriterFramedSerializer(RankRequest)(RankRequest.fromPartial({}))]).toEqual([0, 0, 0, 0, 0]);
  });

  it('start clean after a message that fails half-way through encoding', () => {
    const bad = { ...rankRequest, topK: 'twenty' as unknown as number };
    expect(() => RankerService.rank.requestSerialize(bad)).toThrow(/int32/);
    expect(() => RankerService.rank.requestSerializeFramed(bad)).toThrow(/int32/);
    const ok = RankRequest.fromPartial({ userId: 'u', topK: 2 });
    expect(sharedWriterSerializer(RankRequest)(ok).equals(RankerServiceService.rank.requestSerialize(ok))).toBe(true);
    expect(RankerService.rank.requestSerializeFramed(ok).subarray(5).equals(RankerServiceService.rank.requestSerialize(ok))).toBe(true);
  });

  it('encode a message above the retained size, and the small ones after it, correctly', () => {
    const huge = RankRequest.fromPartial({ userId: 'u', candidates: { itemIds: Array.from({ length: 120_000 }, (_, i) => `item-${i}`) } });
    const bytes = RankerService.rank.requestSerialize(huge);
    expect(bytes.length).toBeGreaterThan(RETAINED_WRITER_BYTES);
    expect(bytes.equals(RankerServiceService.rank.requestSerialize(huge))).toBe(true);
    const small = RankRequest.fromPartial({ userId: 'v' });
    expect(RankerService.rank.requestSerialize(small).equals(RankerServiceService.rank.requestSerialize(small))).toBe(true);
  });
});
