#!/usr/bin/env node
// The gateway's share of a request's message work, generated codecs against forwarding
// (libs/proto/src/forwarding.ts): decode the candidate generator's response (300 candidates,
// one source, scores per source) and the feature store's (300 × 16 packed floats), then
// encode the RankRequest that carries both. Run from the repository root after `npm run build`:
//
//   node bench/scripts/forwarding.cjs
//
// Prints µs per request for each way, twice, alternating (this machine's noise is ±10%).
'use strict';
const P = require('@recsys/proto');

const n = 300;
const ids = Array.from({ length: n }, (_, i) => String(1000 + i * 7));
const scores = ids.map((_, i) => Math.fround(1 - i / 1000));
const candidates = { itemIds: ids, scores, sources: ids.map(() => 1), sourceScores: [{ source: 1, scores }], features: [], packedFeatures: Buffer.alloc(0) };
const cgBytes = Buffer.from(P.GenerateCandidatesResponse.encode({ candidates, userKnown: true, artifactVersion: 'bench-12eb96c9b6c3' }).finish());
const block = new Float32Array(16 * n).map((_, i) => i / 7);
const features = P.FeatureBatch.fromPartial({ featureView: 'item', entityCount: n, columns: Array.from({ length: 16 }, (_, i) => ({ name: `f${i}` })), packedValues: Buffer.from(block.buffer) });
const fsBytes = Buffer.from(P.GetOnlineFeaturesResponse.encode({ features, snapshotVersion: 'v', expiredEntityIndices: [] }).finish());

const generatedRank = P.sharedWriterFramedSerializer(P.RankRequest);
const forwardingRank = P.sharedWriterFramedSerializer(P.ForwardingRankRequest);
const rankRequest = (c, f) => ({ userId: '42', candidates: c.candidates, itemFeatures: f.features, userFeatures: undefined, topK: 20, variant: '' });

const ways = {
  generated: () => generatedRank(rankRequest(P.GenerateCandidatesResponse.decode(cgBytes), P.GetOnlineFeaturesResponse.decode(fsBytes))),
  forwarding: () => forwardingRank(rankRequest(P.decodeGenerateCandidatesResponseForwarding(cgBytes), P.decodeGetOnlineFeaturesResponseForwarding(fsBytes))),
};
if (!ways.generated().equals(ways.forwarding())) throw new Error('the two ways wrote different RankRequest bytes');
console.log(`candidates response ${cgBytes.length} bytes, features response ${fsBytes.length} bytes; RankRequest ${ways.generated().length} bytes, the same both ways`);
for (let round = 0; round < 2; round++) {
  for (const [name, run] of Object.entries(ways)) {
    for (let i = 0; i < 3000; i++) run();
    const calls = 20000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) run();
    console.log(`${name.padEnd(10)} ${(Number(process.hrtime.bigint() - t0) / 1e3 / calls).toFixed(1)} µs per request`);
  }
}
