#!/usr/bin/env node
// The cost of serializing one RankRequest of the standard workload's size (300 candidates,
// 16 packed item features), ts-proto's generated serializer against the shared-writer one of
// @recsys/proto (README "Where the time goes", 2026-12-04). Run from the repository root
// after `npm run build`:
//
//   node bench/scripts/encode-writer.cjs
//
// Wall time per call, best of five runs of 5,000 calls after 2,000 to warm up.
'use strict';
const { RankRequest, RankerService, RankerServiceService } = require('@recsys/proto');

const ids = Array.from({ length: 300 }, (_, i) => String(1000 + i * 37));
const batch = (entityCount, bytes) => ({
  featureView: 'item',
  entityCount,
  columns: Array.from({ length: 16 }, (_, i) => ({ name: `f${i}`, values: [], missingIndices: [] })),
  unknownEntityIndices: [],
  packedValues: Buffer.alloc(bytes, 7),
});
const req = RankRequest.fromPartial({
  userId: '42',
  candidates: { itemIds: ids, scores: ids.map((_, i) => i / 7), sources: ids.map(() => 1) },
  userFeatures: batch(1, 64),
  itemFeatures: batch(300, 300 * 16 * 4),
  topK: 20,
});
const generated = RankerServiceService.rank.requestSerialize;
const shared = RankerService.rank.requestSerialize;
if (!generated(req).equals(shared(req))) throw new Error('the two serializers disagree');

function time(label, serialize) {
  for (let i = 0; i < 2000; i++) serialize(req);
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 5000; i++) serialize(req);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 5000 / 1000);
  }
  console.log(`${label}: ${best.toFixed(2)} µs per RankRequest (${generated(req).length} bytes)`);
}
time('generated serializer', generated);
time('shared writer', shared);
