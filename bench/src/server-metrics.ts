/**
 * Server-side handler time per method from the services' Prometheus histograms
 * (`grpc_server_handling_seconds`): the mean over a window is Δsum / Δcount. Set beside
 * the gateway's per-stage wall times, the difference is what the RPC itself costs.
 */

/** Cumulative sum (s) and count per method of one scrape. */
export type HandlingTotals = Record<string, { sum: number; count: number }>;

/** Key prefix of the garbage collections in {@link HandlingTotals}: `gc minor`, `gc major`, … (prom-client's `kind`). */
export const GC_PREFIX = 'gc ';

/**
 * Parses `grpc_server_handling_seconds_{sum,count}{method="…"}` lines of a /metrics text,
 * and prom-client's `nodejs_gc_duration_seconds_{sum,count}{kind="…"}` as `gc <kind>`.
 */
export function parseHandlingTotals(text: string): HandlingTotals {
  const out: HandlingTotals = {};
  for (const line of text.split('\n')) {
    const m = /^grpc_server_handling_seconds_(sum|count)\{[^}]*method="([^"]+)"[^}]*\}\s+([0-9.eE+-]+)$/.exec(line);
    const g = m ? null : /^nodejs_gc_duration_seconds_(sum|count)\{[^}]*kind="([^"]+)"[^}]*\}\s+([0-9.eE+-]+)$/.exec(line);
    const hit = m ?? g;
    if (!hit) continue;
    const t = (out[g ? `${GC_PREFIX}${hit[2]!}` : hit[2]!] ??= { sum: 0, count: 0 });
    t[hit[1] as 'sum' | 'count'] += Number(hit[3]);
  }
  return out;
}

/**
 * Garbage collections of one service between two scrapes, all kinds together: how many,
 * and their pause time in ms, per request served in the window.
 */
export function gcBetween(before: HandlingTotals, after: HandlingTotals, requests: number): { collections: number; per_request: number; ms_per_request: number } | undefined {
  let collections = 0;
  let seconds = 0;
  let seen = false;
  for (const [key, a] of Object.entries(after)) {
    if (!key.startsWith(GC_PREFIX)) continue;
    seen = true;
    const b = before[key] ?? { sum: 0, count: 0 };
    collections += a.count - b.count;
    seconds += a.sum - b.sum;
  }
  if (!seen || requests <= 0) return undefined;
  return { collections, per_request: Math.round((collections / requests) * 1000) / 1000, ms_per_request: Math.round(((seconds * 1000) / requests) * 1000) / 1000 };
}

/** Scrapes one service's /metrics; an unreachable endpoint gives no totals (never fails the run). */
export async function scrapeHandlingTotals(metricsPort: number): Promise<HandlingTotals> {
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    return parseHandlingTotals(await res.text());
  } catch {
    return {};
  }
}

/** Mean handler time (ms) and calls per method between two scrapes. */
export function handlingBetween(before: HandlingTotals, after: HandlingTotals): Record<string, { calls: number; mean_ms: number }> {
  const out: Record<string, { calls: number; mean_ms: number }> = {};
  for (const [method, a] of Object.entries(after)) {
    if (method.startsWith(GC_PREFIX)) continue;
    const b = before[method] ?? { sum: 0, count: 0 };
    const calls = a.count - b.count;
    if (calls <= 0) continue;
    out[method] = { calls, mean_ms: Math.round(((a.sum - b.sum) / calls) * 1e6) / 1000 };
  }
  return out;
}
