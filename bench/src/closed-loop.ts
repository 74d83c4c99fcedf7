/**
 * Closed-loop load: `concurrency` loops, each sending its next request as soon as the
 * previous one answered, users drawn uniformly. Requests completing inside the
 * measurement window (after the warm-up) count.
 */
import { performance } from 'node:perf_hooks';
import type { RecommendResponse } from '@recsys/proto';
import { Stage } from '@recsys/proto';
import { createRng } from '@recsys/offline';

/** Sends one Recommend for `userId` (with per-stage timings when `debug`). */
export type RecommendCall = (userId: string, debug: boolean) => Promise<RecommendResponse>;

/** Settings of one load level. */
export interface LoadLevel {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Users are "0" … users-1. */
  users: number;
  /** The window stays open until at least this many requests completed in it. */
  minRequests: number;
  /** Every n-th request asks for per-stage timings (0 = never). */
  debugEvery: number;
  /** Seed of the user sequence (reruns draw the same users). */
  seed: number;
}

/** What one level measured. */
export interface LoadResult {
  concurrency: number;
  /** Latency of every request completed in the window, in completion order. */
  latenciesMs: number[];
  /** Length of the measurement window (≥ durationMs). */
  wallMs: number;
  errors: number;
  /** First few error messages, for the report. */
  errorSamples: string[];
  /** Answers that listed a degraded stage (a fallback, not the full pipeline). */
  degraded: number;
  /** Server-side per-stage durations (ms) of the debug-sampled requests, by stage name. */
  stageMs: Record<string, number[]>;
}

/** Uniform user ids from the project's seeded generator, so that runs draw the same users. */
export function userSequence(seed: number, users: number): () => string {
  const rng = createRng(seed);
  return () => String(rng.int(users));
}

/**
 * Runs one level. The window opens when the warm-up ends (`onMeasuring`) and closes at
 * the first completion after `durationMs` once at least `minRequests` requests have
 * completed in it (`onWindowEnd`), so that a slow machine still yields a measurement.
 * The caller snapshots CPU counters at both; requests still in flight at the close
 * finish but are not counted.
 */
export async function runClosedLoop(call: RecommendCall, level: LoadLevel, onMeasuring: () => void = () => {}, onWindowEnd: () => void = () => {}): Promise<LoadResult> {
  const nextUser = userSequence(level.seed, level.users);
  const result: LoadResult = { concurrency: level.concurrency, latenciesMs: [], wallMs: 0, errors: 0, errorSamples: [], degraded: 0, stageMs: {} };
  const start = performance.now();
  const measureFrom = start + level.warmupMs;
  const measureTo = measureFrom + level.durationMs;
  let opened = false;
  const open = (): void => {
    if (opened) return;
    opened = true;
    onMeasuring();
  };
  const openTimer = setTimeout(open, level.warmupMs);
  let closedAt = Infinity;
  let counted = 0;
  let sent = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < closedAt) {
      const debug = level.debugEvery > 0 && ++sent % level.debugEvery === 0;
      const t0 = performance.now();
      let res: RecommendResponse | undefined;
      let failure: unknown;
      try {
        res = await call(nextUser(), debug);
      } catch (err) {
        failure = err;
      }
      const t1 = performance.now();
      if (t1 >= closedAt) return;
      if (t1 < measureFrom) continue;
      open();
      counted++;
      if (failure !== undefined || !res) {
        result.errors++;
        if (result.errorSamples.length < 5) result.errorSamples.push((failure as Error)?.message ?? String(failure));
      } else {
        result.latenciesMs.push(t1 - t0);
        if (res.degradedStages.length > 0) result.degraded++;
        for (const t of res.timings) {
          const name = (Stage[t.stage] ?? String(t.stage)).replace(/^STAGE_/, '').toLowerCase();
          const ms = (t.duration?.seconds ?? 0) * 1000 + (t.duration?.nanos ?? 0) / 1e6;
          (result.stageMs[name] ??= []).push(ms);
        }
      }
      if (t1 >= measureTo && counted >= level.minRequests) {
        closedAt = t1;
        onWindowEnd();
      }
    }
  };
  await Promise.all(Array.from({ length: level.concurrency }, loop));
  clearTimeout(openTimer);
  result.wallMs = closedAt - measureFrom;
  return result;
}
