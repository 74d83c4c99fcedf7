import { CandidateSet, GenerateCandidatesResponse, RetrievalSource } from '@recsys/proto';
import type { StageCall, Stages } from './stages';

/**
 * A user id no artifact contains: asking the candidate generator for it returns the
 * cold-start answer, i.e. the most popular items. Control characters keep it out of any
 * real id space.
 */
export const POPULAR_PROBE_USER = '\u0001recsys-gateway-popular';

/** The popular list the gateway keeps for when the candidate generator is down. */
export interface PopularSnapshot {
  candidates: CandidateSet;
  artifactVersion: string;
  /** When it was fetched (ms since epoch). */
  fetchedAt: number;
}

/**
 * The most recent popular list seen by the gateway. It is refreshed from every successful
 * candidate answer that is purely popularity (cold-start users, the periodic probe), so it
 * follows new artifacts without extra traffic while users are cold, and by {@link refresh}.
 */
export class PopularCache {
  private snapshot: PopularSnapshot | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** The cached list, or undefined when no popular answer was ever seen. */
  get(): PopularSnapshot | undefined {
    return this.snapshot;
  }

  /** Keeps `res` when every candidate in it comes from popularity; returns whether it did. */
  offer(res: GenerateCandidatesResponse): boolean {
    const c = res.candidates;
    if (!c || c.itemIds.length === 0) return false;
    if (!c.sources.every((s) => s === RetrievalSource.RETRIEVAL_SOURCE_POPULARITY)) return false;
    if (c.sources.length !== c.itemIds.length) return false;
    this.snapshot = { candidates: c, artifactVersion: res.artifactVersion, fetchedAt: this.now() };
    return true;
  }

  /** Asks the candidate generator for the cold-start list once. */
  async refresh(stages: Pick<Stages, 'candidates'>, numCandidates: number, call: StageCall): Promise<boolean> {
    const res = await stages.candidates({ userId: POPULAR_PROBE_USER, numCandidates, excludeItemIds: [], recentItemIds: [], packedFeatures: true }, call);
    return this.offer(res);
  }
}

/**
 * Refreshes `cache` now and then every `intervalMs` (each attempt bounded by
 * `timeoutMs`); failures are reported to `onError` and retried at the next tick.
 * Returns a function that stops the refresh.
 */
export function startPopularRefresh(
  cache: PopularCache,
  stages: Pick<Stages, 'candidates'>,
  opts: { intervalMs: number; timeoutMs: number; numCandidates: number },
  onError: (err: unknown) => void,
): () => void {
  let stopped = false;
  const tick = (): void => {
    cache.refresh(stages, opts.numCandidates, { deadline: Date.now() + opts.timeoutMs }).catch((err: unknown) => {
      if (!stopped) onError(err);
    });
  };
  tick();
  const timer = setInterval(tick, opts.intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
