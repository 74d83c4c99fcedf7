import { IngestEventsRequest, RecommendRequest, GatewayServiceService, FeatureStoreServiceService } from '@recsys/proto';
import { decodeStrict } from '@recsys/grpc-kit';

const bytesWith = (encoded: Uint8Array, marker: string, replacement: number[]): Buffer => {
  const buf = Buffer.from(encoded);
  const at = buf.indexOf(Buffer.from(marker));
  return Buffer.concat([buf.subarray(0, at), Buffer.from(replacement), buf.subarray(at + replacement.length)]);
};

describe('decodeStrict', () => {
  it('decodes valid messages like the generated decoder, U+FFFD included', () => {
    const req = RecommendRequest.fromPartial({ userId: 'f\uFFFDa', k: 3, excludeItemIds: ['é', '🙂'] });
    const bytes = Buffer.from(RecommendRequest.encode(req).finish());
    expect(decodeStrict(GatewayServiceService.recommend.requestDeserialize, bytes)).toEqual(RecommendRequest.decode(bytes));
  });
  it('names the field of an invalid UTF-8 string, nested and repeated ones too', () => {
    const top = bytesWith(RecommendRequest.encode(RecommendRequest.fromPartial({ userId: 'ab', excludeItemIds: ['x', 'QQ'] })).finish(), 'QQ', [0xc3, 0x28]);
    expect(() => decodeStrict(GatewayServiceService.recommend.requestDeserialize, top)).toThrow('exclude_item_ids[1]: is not valid UTF-8 (protobuf strings must be UTF-8)');
    const nested = bytesWith(
      IngestEventsRequest.encode(IngestEventsRequest.fromPartial({ events: [{ eventId: 'a', userId: 'u' }, { eventId: 'b', userId: 'u', itemId: 'QQQQ' }] })).finish(),
      'QQQQ',
      [0x66, 0xff, 0xfe, 0x61],
    );
    expect(() => decodeStrict(FeatureStoreServiceService.ingestEvents.requestDeserialize, nested)).toThrow(/^events\[1\]\.item_id: is not valid UTF-8/);
  });
  it('a later valid decode is not affected by an earlier invalid one', () => {
    const bad = bytesWith(RecommendRequest.encode(RecommendRequest.fromPartial({ userId: 'QQ' })).finish(), 'QQ', [0xff, 0xff]);
    expect(() => decodeStrict(GatewayServiceService.recommend.requestDeserialize, bad)).toThrow();
    const ok = Buffer.from(RecommendRequest.encode(RecommendRequest.fromPartial({ userId: 'u' })).finish());
    expect(decodeStrict(GatewayServiceService.recommend.requestDeserialize, ok).userId).toBe('u');
  });
});
