/**
 * Shadow scoring: the ranker says which variant shadows a request (RankResponse.shadow_variant);
 * after the reply has gone out, the gateway asks the ranker to score the same candidates with
 * that variant and compares its answer with what was served. It never touches the reply and
 * is skipped (and counted) while too many shadow calls run or the gateway is busy.
 */
import type { RankRequest, RankResponse, RecommendedItem } from '@recsys/proto';
import type { ShadowRecord } from './request-log';
import type { Stages } from './stages';

/** The served list as the shadow model would have served it: its order, the same business rules. */
export function shadowServed(shadow: RankResponse, candidateIds: readonly string[], exclude: ReadonlySet<string>, k: number): string[] {
  const out: string[] = [];
  const taken = new Set<string>();
  for (const index of shadow.candidateIndices) {
    if (out.length >= k) break;
    const id = candidateIds[index];
    if (id === undefined || exclude.has(id) || taken.has(id)) continue;
    taken.add(id);
    out.push(id);
  }
  return out;
}

/**
 * Top-k overlap (|served ∩ shadow| / |served|) and Spearman's ρ of the served items' order
 * under the shadow's full ranking (ranks among the served items; undefined for fewer than
 * two items, or when the shadow did not rank a served item).
 */
export function compareRankings(
  served: readonly string[],
  shadowTop: readonly string[],
  shadowFullOrder: readonly string[],
): { overlap: number; correlation: number | undefined } {
  const n = served.length;
  if (n === 0) return { overlap: 1, correlation: undefined };
  const top = new Set(shadowTop);
  let common = 0;
  for (const id of served) if (top.has(id)) common++;
  const pos = new Map<string, number>();
  shadowFullOrder.forEach((id, i) => {
    if (!pos.has(id)) pos.set(id, i);
  });
  if (n < 2 || served.some((id) => !pos.has(id))) return { overlap: common / n, correlation: undefined };
  // Ranks of the served items under the shadow, 0..n-1.
  const byShadow = served.map((id, i) => ({ i, p: pos.get(id) as number })).sort((a, b) => a.p - b.p);
  let d2 = 0;
  byShadow.forEach(({ i }, shadowRank) => {
    d2 += (i - shadowRank) ** 2;
  });
  return { overlap: common / n, correlation: 1 - (6 * d2) / (n * (n * n - 1)) };
}

export interface ShadowOptions {
  maxInFlight: number;
  /** Skip while the gateway handles more calls than this. */
  skipAboveCalls: number;
  timeoutMs: number;
  /** The gateway's calls in flight now. */
  callsInFlight: () => number;
  onOutcome: (outcome: ShadowRecord['outcome'], variant: string) => void;
  onCompared: (overlap: number, correlation: number | undefined, variant: string) => void;
}

/** Runs shadow scorings, at most `maxInFlight` at once. */
export class ShadowScorer {
  private inFlight = 0;

  constructor(
    private readonly stages: Stages,
    private readonly opts: ShadowOptions,
  ) {}

  get running(): number {
    return this.inFlight;
  }

  /**
   * Scores `rankRequest` with `variant` and compares with `served`; resolves with the outcome
   * (never rejects). Returns at once with `skipped_load` when over the limits.
   */
  score(variant: string, rankRequest: RankRequest, served: readonly RecommendedItem[], exclude: ReadonlySet<string>): Promise<ShadowRecord> {
    if (this.inFlight >= this.opts.maxInFlight || this.opts.callsInFlight() > this.opts.skipAboveCalls) {
      this.opts.onOutcome('skipped_load', variant);
      return Promise.resolve({ variant, outcome: 'skipped_load' });
    }
    this.inFlight++;
    const ids = rankRequest.candidates?.itemIds ?? [];
    return this.stages
      .rank({ ...rankRequest, variant, topK: 0 }, { deadline: Date.now() + this.opts.timeoutMs })
      .then(
        (res): ShadowRecord => {
          const servedIds = served.map((i) => i.itemId);
          const top = shadowServed(res, ids, exclude, servedIds.length);
          const full = res.candidateIndices.map((i) => ids[i] as string);
          const { overlap, correlation } = compareRankings(servedIds, top, full);
          this.opts.onOutcome('scored', variant);
          this.opts.onCompared(overlap, correlation, variant);
          return {
            variant,
            outcome: 'scored',
            model_version: res.modelVersion,
            topk_overlap: overlap,
            ...(correlation === undefined ? {} : { rank_correlation: correlation }),
            items: top,
          };
        },
        (err: unknown): ShadowRecord => {
          this.opts.onOutcome('failed', variant);
          return { variant, outcome: 'failed', error: (err as { details?: string })?.details || (err as Error)?.message || String(err) };
        },
      )
      .finally(() => {
        this.inFlight--;
      });
  }
}
