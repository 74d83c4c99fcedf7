import { Stage } from '@recsys/proto';

/** Share of the request's time budget each stage may use, before carry-over. */
const STAGE_SHARES: Readonly<Record<'context' | 'candidates' | 'features' | 'ranking', number>> = {
  context: 0.15,
  candidates: 0.3,
  features: 0.2,
  ranking: 0.35,
};

type StageKey = keyof typeof STAGE_SHARES;
const ORDER: StageKey[] = ['context', 'candidates', 'features', 'ranking'];

export const STAGE_OF: Readonly<Record<StageKey, Stage>> = {
  context: Stage.STAGE_USER_CONTEXT,
  candidates: Stage.STAGE_CANDIDATES,
  features: Stage.STAGE_ITEM_FEATURES,
  ranking: Stage.STAGE_RANKING,
};

/**
 * Splits a request's deadline over the chain. A stage's deadline is its share of the
 * time left, among the stages not run yet: time a fast stage leaves unused carries over
 * to the ones after it, and no stage can eat the whole budget.
 */
export class DeadlineBudget {
  constructor(
    readonly deadline: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Absolute deadline for `stage`, computed when the stage starts. */
  stageDeadline(stage: StageKey): number {
    const start = this.now();
    const left = this.deadline - start;
    if (left <= 0) return start;
    const rest = ORDER.slice(ORDER.indexOf(stage));
    const total = rest.reduce((s, k) => s + STAGE_SHARES[k], 0);
    return Math.min(this.deadline, start + (left * STAGE_SHARES[stage]) / total);
  }
}
