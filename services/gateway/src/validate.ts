import { InvalidArgumentError, checkId, checkIdList } from '@recsys/core';
import type { RecommendRequest } from '@recsys/proto';

export interface RequestLimits {
  defaultK: number;
  maxK: number;
  maxExcludeItems: number;
}

/**
 * Checks a Recommend request before any downstream call and returns the effective k.
 * @throws InvalidArgumentError naming the first bad field
 */
export function validateRecommend(req: RecommendRequest, limits: RequestLimits): number {
  checkId('user_id', req.userId);
  if (!Number.isInteger(req.k) || req.k < 0 || req.k > limits.maxK) {
    throw new InvalidArgumentError('k', `must be between 0 and ${limits.maxK} (0 means ${limits.defaultK}), got ${req.k}`);
  }
  checkIdList('exclude_item_ids', req.excludeItemIds, limits.maxExcludeItems);
  return req.k === 0 ? limits.defaultK : req.k;
}
