import * as os from 'node:os';
import { AsyncHandlers, InvalidArgumentError, UnavailableError, checkId } from '@recsys/grpc-kit';
import { FeatureBatch, RankRequest, RankerServiceService, RetrievalSource } from '@recsys/proto';
import type { RankerInput } from '@recsys/core';
import { RankerModel, rankOrder } from './model';

const SOURCE_NAMES: Partial<Record<RetrievalSource, 'embedding' | 'popularity' | 'covisitation'>> = {
  [RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING]: 'embedding',
  [RetrievalSource.RETRIEVAL_SOURCE_POPULARITY]: 'popularity',
  [RetrievalSource.RETRIEVAL_SOURCE_COVISITATION]: 'covisitation',
};

/** Turns a Rank request into the model's input; throws INVALID_ARGUMENT naming bad fields. */
export function toRankerInput(req: RankRequest, maxCandidates: number): RankerInput {
  const c = req.candidates;
  const n = c?.itemIds.length ?? 0;
  if (n > maxCandidates) throw new InvalidArgumentError('candidates.item_ids', `at most ${maxCandidates} candidates, got ${n}`);
  if (c && c.scores.length !== n) {
    throw new InvalidArgumentError('candidates.scores', `has ${c.scores.length} entries for ${n} item_ids`);
  }
  if (req.topK < 0) throw new InvalidArgumentError('top_k', `must not be negative, got ${req.topK}`);
  const sourceScores: RankerInput['sourceScores'] = {};
  (c?.sourceScores ?? []).forEach((s, i) => {
    const name = SOURCE_NAMES[s.source];
    if (!name) throw new InvalidArgumentError(`candidates.source_scores[${i}].source`, 'unknown retrieval source');
    if (s.scores.length !== n) throw new InvalidArgumentError(`candidates.source_scores[${i}].scores`, `has ${s.scores.length} entries for ${n} candidates`);
    sourceScores[name] = s.scores;
  });
  const user = new Map<string, number>();
  for (const col of columnsOf(req.userFeatures, 'user_features', 1)) user.set(col.name, col.values[0] as number);
  const item = new Map<string, ArrayLike<number>>();
  for (const col of columnsOf(req.itemFeatures, 'item_features', n)) item.set(col.name, col.values);
  return { n, candidateScores: c?.scores ?? [], sourceScores, user, item };
}

const LITTLE_ENDIAN = os.endianness() === 'LE';

/**
 * The columns of a feature batch as (name, values) pairs, from per-column repeated floats
 * or from the one float32 block of `packed_values`; throws INVALID_ARGUMENT naming the
 * field when a size does not add up.
 */
function columnsOf(batch: FeatureBatch | undefined, field: string, expected: number): { name: string; values: ArrayLike<number> }[] {
  if (!batch || batch.columns.length === 0) return [];
  if (batch.entityCount !== expected) {
    throw new InvalidArgumentError(`${field}.entity_count`, `must be ${expected}, got ${batch.entityCount}`);
  }
  const packed = batch.packedValues;
  if (packed.length > 0) {
    const want = 4 * expected * batch.columns.length;
    if (packed.length !== want) {
      throw new InvalidArgumentError(`${field}.packed_values`, `has ${packed.length} bytes, expected ${want} (${batch.columns.length} columns × ${expected} float32)`);
    }
    // One copy into an aligned array; each column is then a view on it.
    const block = new Float32Array(expected * batch.columns.length);
    if (LITTLE_ENDIAN) new Uint8Array(block.buffer).set(packed);
    else for (let i = 0; i < block.length; i++) block[i] = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength).readFloatLE(i * 4);
    return batch.columns.map((col, i) => ({ name: col.name, values: block.subarray(i * expected, (i + 1) * expected) }));
  }
  batch.columns.forEach((col, i) => {
    if (col.values.length !== expected) {
      throw new InvalidArgumentError(`${field}.columns[${i}].values`, `has ${col.values.length} values, expected ${expected}`);
    }
  });
  return batch.columns;
}

/** The gRPC handlers over the live model. */
export function rankerHandlers(current: () => RankerModel | undefined, limits: { maxCandidates: number }): AsyncHandlers<typeof RankerServiceService> {
  return {
    async rank(req, ctx) {
      if (req.userId !== '') checkId('user_id', req.userId);
      const input = toRankerInput(req, limits.maxCandidates);
      const model = current();
      if (!model) throw new UnavailableError('no model loaded');
      if (input.n === 0) return { itemIds: [], scores: [], candidateIndices: [], modelVersion: model.version };
      const scores = await model.score(input);
      ctx.signal.throwIfAborted();
      const order = rankOrder(scores, req.topK);
      const ids = req.candidates?.itemIds ?? [];
      return {
        itemIds: order.map((i) => ids[i] as string),
        scores: order.map((i) => scores[i] as number),
        candidateIndices: order,
        modelVersion: model.version,
      };
    },
  };
}
