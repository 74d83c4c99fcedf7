import { FEATURE_NAME_PATTERN, InvalidArgumentError, UnavailableError, checkFinite, checkId, checkIdList, quotePrefix, type RankerInput } from '@recsys/core';
import type { AsyncHandlers } from '@recsys/grpc-kit';
import { RankRequest, RankerServiceService, decodeCandidateFeatures, decodeFeatureBatch, retrievalSourceName } from '@recsys/proto';
import { RankerModel, rankOrder } from './model';
import type { Selection } from './router';

/** Turns a Rank request into the model's input; throws INVALID_ARGUMENT naming bad fields. */
export function toRankerInput(req: RankRequest, maxCandidates: number): RankerInput {
  const c = req.candidates;
  const n = c?.itemIds.length ?? 0;
  if (n > maxCandidates) throw new InvalidArgumentError('candidates.item_ids', `at most ${maxCandidates} candidates, got ${n}`);
  if (c) checkIdList('candidates.item_ids', c.itemIds, maxCandidates);
  if (c && c.scores.length !== n) {
    throw new InvalidArgumentError('candidates.scores', `has ${c.scores.length} entries for ${n} item_ids`);
  }
  // A NaN or infinite input would come out as a NaN score, silently sorted anywhere.
  if (c) checkFinite('candidates.scores', c.scores);
  if (req.topK < 0) throw new InvalidArgumentError('top_k', `must not be negative, got ${req.topK}`);
  const sourceScores: RankerInput['sourceScores'] = {};
  (c?.sourceScores ?? []).forEach((s, i) => {
    const name = retrievalSourceName(s.source);
    if (!name) throw new InvalidArgumentError(`candidates.source_scores[${i}].source`, 'unknown retrieval source');
    if (s.scores.length !== n) throw new InvalidArgumentError(`candidates.source_scores[${i}].scores`, `has ${s.scores.length} entries for ${n} candidates`);
    checkFinite(`candidates.source_scores[${i}].scores`, s.scores, true);
    sourceScores[name] = s.scores;
  });
  const candidateFeatures = new Map<string, ArrayLike<number>>();
  (c ? decodeCandidateFeatures(c, 'candidates', n) : []).forEach((f, i) => {
    if (!FEATURE_NAME_PATTERN.test(f.name)) throw new InvalidArgumentError(`candidates.features[${i}].name`, `must match [a-z][a-z0-9_]*, got ${JSON.stringify(f.name.slice(0, 64))}`);
    if (candidateFeatures.has(f.name)) throw new InvalidArgumentError(`candidates.features[${i}].name`, `"${f.name}" appears twice`);
    checkFinite(`candidates.features[${i}].values`, f.values);
    candidateFeatures.set(f.name, f.values);
  });
  const user = new Map<string, number>();
  for (const col of decodeFeatureBatch(req.userFeatures, 'user_features', 1)) {
    checkFinite(() => `user_features.columns[${JSON.stringify(col.name).slice(0, 64)}].values`, col.values);
    user.set(col.name, col.values[0] as number);
  }
  const item = new Map<string, ArrayLike<number>>();
  for (const col of decodeFeatureBatch(req.itemFeatures, 'item_features', n)) {
    checkFinite(() => `item_features.columns[${JSON.stringify(col.name).slice(0, 64)}].values`, col.values);
    item.set(col.name, col.values);
  }
  return { n, candidateScores: c?.scores ?? [], sourceScores, user, item, candidateFeatures };
}

/** Picks the model of one request (an experiment's router); see router.ts. */
export type Route = (userId: string, forcedVariant: string) => Selection<RankerModel> | undefined;

/**
 * The gRPC handlers over the live model, or, with `route`, over the model of the request's
 * experiment variant (`onServed` counts it, and whether the caller forced it: shadow scoring).
 */
export function rankerHandlers(
  current: () => RankerModel | undefined,
  limits: { maxCandidates: number },
  route?: Route,
  onServed?: (variant: string, forced: boolean) => void,
): AsyncHandlers<typeof RankerServiceService> {
  return {
    async rank(req, ctx) {
      if (req.userId !== '') checkId('user_id', req.userId);
      const input = toRankerInput(req, limits.maxCandidates);
      let model: RankerModel | undefined;
      let variant = '';
      let shadowVariant = '';
      if (route) {
        const sel = route(req.userId, req.variant);
        if (sel) ({ model, variant, shadowVariant } = sel);
      } else {
        if (req.variant !== '') throw new InvalidArgumentError('variant', `no experiment is configured, so there is no variant ${quotePrefix(req.variant)}`);
        model = current();
      }
      if (!model) throw new UnavailableError(variant ? `no model loaded for variant ${variant}` : 'no model loaded');
      if (variant) onServed?.(variant, req.variant !== '');
      ctx.span?.setAttributes({ 'recsys.model_version': model.version, 'recsys.variant': variant, 'recsys.candidates': input.n, 'recsys.top_k': req.topK });
      if (input.n === 0) return { itemIds: [], scores: [], candidateIndices: [], modelVersion: model.version, variant, shadowVariant };
      const scores = await model.score(input);
      ctx.signal.throwIfAborted();
      const order = rankOrder(scores, req.topK);
      const ids = req.candidates?.itemIds ?? [];
      return {
        itemIds: order.map((i) => ids[i] as string),
        scores: order.map((i) => scores[i] as number),
        candidateIndices: order,
        modelVersion: model.version,
        variant,
        shadowVariant,
      };
    },
  };
}
