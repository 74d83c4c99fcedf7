/**
 * Checks answers against the workload's `reference.json` before anything is measured: a
 * fast wrong answer is not a measurement.
 */
import type { ReferenceAnswer } from './workload';

/** What the system under test answered for one user. */
export interface ObservedAnswer {
  /** Retrieval candidates, best first (at least the first five). */
  candidates: string[];
  /** Final items, best first. */
  items: { itemId: string; score: number }[];
  /** The gateway's degraded stages of that answer (a stage out of time on a busy machine), if any. */
  degraded?: string[];
}

/** Scores are compared after rounding to 6 decimals; one unit of the last place is allowed. */
export const SCORE_TOLERANCE = 1e-6 + 1e-9;

/**
 * Differences between `observed` and `reference`, one readable line each, naming the user
 * and position (empty when everything matches).
 */
export function compareWithReference(reference: Record<string, ReferenceAnswer>, observed: Record<string, ObservedAnswer | undefined>): string[] {
  const out: string[] = [];
  for (const [user, ref] of Object.entries(reference)) {
    const got = observed[user];
    if (!got) {
      out.push(`user ${user}: no answer`);
      continue;
    }
    if (got.degraded && got.degraded.length > 0) {
      // A degraded answer is the fallback's, not the model's: not comparable, never measured.
      out.push(`user ${user}: answer degraded (${got.degraded.join('; ')}), so not comparable with the reference`);
      continue;
    }
    ref.candidates_top5.forEach((want, i) => {
      const have = got.candidates[i];
      if (have !== String(want)) out.push(`user ${user}: retrieval candidate #${i + 1} is ${have ?? '(missing)'}, reference ${want}`);
    });
    ref.items.forEach((want, i) => {
      const have = got.items[i];
      const wantScore = ref.scores[i] as number;
      if (!have) out.push(`user ${user}: final item #${i + 1} missing, reference ${want} (score ${wantScore})`);
      else if (have.itemId !== String(want)) out.push(`user ${user}: final item #${i + 1} is ${have.itemId} (score ${have.score.toFixed(6)}), reference ${want} (score ${wantScore})`);
      else if (!(Math.abs(Math.round(have.score * 1e6) / 1e6 - wantScore) <= SCORE_TOLERANCE)) {
        out.push(`user ${user}: final item #${i + 1} (${want}) has score ${have.score.toFixed(6)}, reference ${wantScore}`);
      }
    });
    if (got.items.length > ref.items.length) out.push(`user ${user}: ${got.items.length} final items, reference ${ref.items.length}`);
  }
  return out;
}
